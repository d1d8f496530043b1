import { nobleCrypto } from './crypto/noble.js'
import { sodiumCrypto as sodiumBackend, sodiumLoadError } from './crypto/sodium.js'
import type { NoiseCrypto } from './crypto/types.js'
import { createNoise } from './transform.js'

export * from './common.js'
export { nobleCrypto, sodiumLoadError }
/**
 * libsodium through sodium-native, or `undefined` when sodium-native is not
 * installed or did not load (see `sodiumLoadError`). sodium-native is an
 * optional peer dependency: `npm install sodium-native` for the fast backend.
 */
export const sodiumCrypto: NoiseCrypto | undefined = sodiumLoadError === undefined ? sodiumBackend : undefined
/**
 * The crypto backend of this entry point: libsodium (`name: 'sodium'`) when
 * sodium-native loads, else the pure-JS @noble libraries (`name: 'noble'`).
 */
export const noiseCrypto: NoiseCrypto = sodiumCrypto ?? nobleCrypto
/**
 * The Noise IK transform: `noise({ keys, networkKey?, authorize?, timeout? })`.
 * This entry point uses libsodium (sodium-native) when it loads and @noble
 * otherwise (`noiseCrypto.name` says which); browsers get `@ms/noise/noble`.
 */
export const noise = createNoise(noiseCrypto)
