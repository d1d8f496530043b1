import { loadSodiumNative, sodiumIdentity } from '@ms/identity/sodium'
import type Sodium from 'sodium-native'
import { isAllZero, type ShsCrypto } from './types.js'

/** What loading sodium-native gave: its backend, or why there is none. */
export type SodiumLoad = { crypto: ShsCrypto; error: undefined } | { crypto: undefined; error: unknown }

/**
 * Loads sodium-native, an optional peer dependency, through `@ms/identity`'s
 * one loader (see there why a failure is returned, not thrown). `load`
 * replaces the require (tests).
 */
export function loadSodiumCrypto(load?: () => unknown): SodiumLoad {
  const loaded = loadSodiumNative<typeof Sodium>(['crypto_secretbox_easy', 'crypto_scalarmult', 'crypto_auth'], load)
  return loaded.sodium ? { crypto: sodiumCryptoOver(loaded.sodium), error: undefined } : { crypto: undefined, error: loaded.error }
}

/**
 * libsodium through sodium-native (prebuilt binaries, no compiler needed).
 * libsodium signals failures by throwing from sodium-native; every call that
 * can fail on peer-controlled input is wrapped so it returns null/false.
 */
function sodiumCryptoOver(sodium: typeof Sodium): ShsCrypto {
  return {
    ...sodiumIdentity(sodium),
    sign(message, secretKey) {
      const sig = new Uint8Array(64)
      sodium.crypto_sign_detached(sig, message, secretKey)
      return sig
    },
    verify(signature, message, publicKey) {
      if (signature.length !== 64 || publicKey.length !== 32) return false
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey)
      } catch {
        return false
      }
    },
    edPublicToCurve(publicKey) {
      if (publicKey.length !== 32) return null
      const out = new Uint8Array(32)
      try {
        // libsodium rejects invalid, small-order and non-prime-order points here.
        sodium.crypto_sign_ed25519_pk_to_curve25519(out, publicKey)
      } catch {
        return null
      }
      return out
    },
    edSecretToCurve(secretKey) {
      const out = new Uint8Array(32)
      sodium.crypto_sign_ed25519_sk_to_curve25519(out, secretKey)
      return out
    },
    scalarmultBase(secretKey) {
      const out = new Uint8Array(32)
      sodium.crypto_scalarmult_base(out, secretKey)
      return out
    },
    scalarmult(secretKey, publicKey) {
      if (publicKey.length !== 32) return null
      const out = new Uint8Array(32)
      try {
        // Throws when the result is all zeros (low-order point).
        sodium.crypto_scalarmult(out, secretKey, publicKey)
      } catch {
        return null
      }
      return isAllZero(out) ? null : out
    },
    sha256(message) {
      const out = new Uint8Array(32)
      sodium.crypto_hash_sha256(out, message)
      return out
    },
    auth(message, key) {
      const out = new Uint8Array(32)
      sodium.crypto_auth(out, message, key)
      return out
    },
    authVerify(tag, message, key) {
      if (tag.length !== 32) return false
      try {
        // crypto_auth_verify compares in constant time.
        return sodium.crypto_auth_verify(tag, message, key)
      } catch {
        return false
      }
    },
    secretboxInto(out, message, nonce, key) {
      sodium.crypto_secretbox_easy(out, message, nonce, key)
    },
    secretboxOpenInto(out, box, nonce, key) {
      if (box.length < 16) return false
      return sodium.crypto_secretbox_open_easy(out, box, nonce, key)
    },
    secretboxDetachedInto(out, mac, message, nonce, key) {
      sodium.crypto_secretbox_detached(out, mac, message, nonce, key)
    },
    secretboxOpenDetachedInto(out, cipher, mac, nonce, key) {
      return sodium.crypto_secretbox_open_detached(out, cipher, mac, nonce, key)
    },
  }
}
