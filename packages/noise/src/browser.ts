import { nobleCrypto } from './crypto/noble.js'
import { createNoise } from './transform.js'

export * from './common.js'
export { nobleCrypto }
/** The crypto backend of this entry point: the pure-JS @noble libraries. */
export const noiseCrypto = nobleCrypto
/**
 * The Noise IK transform: `noise({ keys, networkKey?, authorize?, timeout? })`.
 * This entry point is pure JavaScript (@noble), for browsers; Node gets `@ms/noise/sodium`.
 */
export const noise = createNoise(nobleCrypto)
