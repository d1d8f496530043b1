import { nobleCrypto } from './crypto/noble.js'
import { loadSodiumCrypto } from './crypto/sodium.js'
import type { ShsCrypto } from './crypto/types.js'
import { createShs } from './transform.js'

export * from './common.js'
export { nobleCrypto }

const sodium = loadSodiumCrypto()

/**
 * libsodium through sodium-native, or `undefined` when sodium-native is not
 * installed or did not load (see `sodiumLoadError`). sodium-native is an
 * optional peer dependency: `npm install sodium-native` for the fast backend.
 */
export const sodiumCrypto: ShsCrypto | undefined = sodium.crypto
/** Why sodium-native did not load, or `undefined` when it did. */
export const sodiumLoadError: unknown = sodium.error
/**
 * The crypto backend of this entry point: libsodium (`name: 'sodium'`) when
 * sodium-native loads, else the pure-JS @noble libraries (`name: 'noble'`),
 * which give identical bytes, more slowly.
 */
export const shsCrypto: ShsCrypto = sodium.crypto ?? nobleCrypto
/**
 * The secret-handshake transform: `shs({ keys, appKey, authorize?, timeout? })`.
 * This entry point uses libsodium (sodium-native) when it loads and @noble
 * otherwise (`shsCrypto.name` says which); browsers get `@ms/shs/noble`.
 */
export const shs = createShs(shsCrypto)
