import { sodiumCrypto } from './crypto/sodium.js'
import { createShs } from './transform.js'

export * from './common.js'
export { sodiumCrypto }
/** The crypto backend of this entry point: libsodium via sodium-native. */
export const shsCrypto = sodiumCrypto
/**
 * The secret-handshake transform: `shs({ keys, appKey, authorize?, timeout? })`.
 * This entry point uses libsodium (sodium-native); browsers get `@ms/shs/noble`.
 */
export const shs = createShs(sodiumCrypto)
