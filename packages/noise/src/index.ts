import { sodiumCrypto } from './crypto/sodium.js'
import { createNoise } from './transform.js'

export * from './common.js'
export { sodiumCrypto }
/** The crypto backend of this entry point: libsodium via sodium-native. */
export const noiseCrypto = sodiumCrypto
/**
 * The Noise IK transform: `noise({ keys, networkKey?, authorize?, timeout? })`.
 * This entry point uses libsodium (sodium-native); browsers get `@ms/noise/noble`.
 */
export const noise = createNoise(sodiumCrypto)
