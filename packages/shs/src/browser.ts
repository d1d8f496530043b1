import { nobleCrypto } from './crypto/noble.js'
import type { ShsCrypto } from './crypto/types.js'
import { createShs } from './transform.js'

export * from './common.js'
export { nobleCrypto }
/** Never available here: this entry point is pure JavaScript. Exported so both entry points have the same API. */
export const sodiumCrypto: ShsCrypto | undefined = undefined
/** Always `undefined` here: this entry point does not try to load sodium-native. */
export const sodiumLoadError: unknown = undefined
/** The crypto backend of this entry point: the pure-JS @noble libraries. */
export const shsCrypto: ShsCrypto = nobleCrypto
/**
 * The secret-handshake transform: `shs({ keys, appKey, authorize?, timeout? })`.
 * This entry point is pure JavaScript (@noble), for browsers; Node gets libsodium when sodium-native is installed.
 */
export const shs = createShs(nobleCrypto)
