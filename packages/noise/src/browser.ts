import { nobleCrypto } from './crypto/noble.js'
import type { NoiseCrypto } from './crypto/types.js'
import { createNoise } from './transform.js'

export * from './common.js'
export { nobleCrypto }
/** Never available here: this entry point is pure JavaScript. Exported so both entry points have the same API. */
export const sodiumCrypto: NoiseCrypto | undefined = undefined
/** Always `undefined` here: this entry point does not try to load sodium-native. */
export const sodiumLoadError: unknown = undefined
/** The crypto backend of this entry point: the pure-JS @noble libraries. */
export const noiseCrypto: NoiseCrypto = nobleCrypto
/**
 * The Noise IK transform: `noise({ keys, networkKey?, authorize?, timeout? })`.
 * This entry point is pure JavaScript (@noble), for browsers; Node gets `@ms/noise/sodium`.
 */
export const noise = createNoise(nobleCrypto)
