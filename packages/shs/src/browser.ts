import { nobleCrypto } from './crypto/noble.js'
import { createShs } from './transform.js'

export * from './common.js'
export { nobleCrypto }
/** The crypto backend of this entry point: the pure-JS @noble libraries. */
export const shsCrypto = nobleCrypto
/**
 * The secret-handshake transform: `shs({ keys, appKey, authorize?, timeout? })`.
 * This entry point is pure JavaScript (@noble), for browsers; Node gets `@ms/shs/sodium`.
 */
export const shs = createShs(nobleCrypto)
