import { loadSodiumNative, sodiumIdentity, type SodiumIdentityNative } from '@ms/identity/sodium'
import type { NoiseCrypto } from './types.js'

type Bytes = Uint8Array
/**
 * The subset of sodium-native 5 this package calls beyond the identity
 * functions. sodium-native ships no types, and an ambient module
 * declaration here would clash with another package's.
 */
export interface SodiumNative extends SodiumIdentityNative {
  crypto_hash_sha512(out: Bytes, message: Bytes): void
  crypto_generichash(out: Bytes, message: Bytes, key?: Bytes): void
  crypto_generichash_batch(out: Bytes, batch: Bytes[], key?: Bytes): void
  crypto_aead_chacha20poly1305_ietf_encrypt(out: Bytes, message: Bytes, ad: Bytes | null, nsec: null, nonce: Bytes, key: Bytes): number
  crypto_aead_chacha20poly1305_ietf_decrypt(out: Bytes, nsec: null, cipher: Bytes, ad: Bytes | null, nonce: Bytes, key: Bytes): number
  crypto_scalarmult_ed25519_base_noclamp(out: Bytes, scalar: Bytes): void
  crypto_scalarmult_ed25519_noclamp(out: Bytes, scalar: Bytes, point: Bytes): void
  crypto_secretstream_xchacha20poly1305_init_push(state: Bytes, header: Bytes, key: Bytes): void
  crypto_secretstream_xchacha20poly1305_push(state: Bytes, out: Bytes, message: Bytes, ad: Bytes | null, tag: number): number
  crypto_secretstream_xchacha20poly1305_init_pull(state: Bytes, header: Bytes, key: Bytes): void
  crypto_secretstream_xchacha20poly1305_pull(state: Bytes, out: Bytes, tag: Bytes, cipher: Bytes, ad: Bytes | null): number
  crypto_core_ed25519_add(out: Bytes, a: Bytes, b: Bytes): void
}

// sodium-native is an optional peer dependency, loaded by @ms/identity's one
// loader: without it (or without a prebuild) this package falls back to @noble.
const loaded = loadSodiumNative<SodiumNative>(['crypto_generichash', 'crypto_aead_chacha20poly1305_ietf_encrypt', 'crypto_scalarmult_ed25519_noclamp', 'crypto_secretstream_xchacha20poly1305_push'])
/** Why sodium-native did not load, or `undefined` when it did; `sodiumCrypto` works only when this is `undefined`. */
export const sodiumLoadError: unknown = loaded.error
const sodium = loaded.sodium as SodiumNative

const TAG = new Uint8Array(1)
const SCRATCH = new Uint8Array(1024)

/**
 * Outputs are views into a shared off-heap slab, not fresh arrays: a small
 * \`new Uint8Array(n)\` lives on V8's heap, and handing it to native code
 * makes V8 move it off the heap first, which costs as much as a BLAKE2b of
 * a few hundred bytes (the handshake makes some forty such calls a side).
 * A slab is never reused, only dropped when full, so views stay valid; a
 * kept view keeps its slab alive, so what outlives the handshake is
 * copied (see handshake.ts).
 */
const SLAB = 16 * 1024
let slab = new Uint8Array(new ArrayBuffer(SLAB))
let slabUsed = 0
function view(length: number): Uint8Array {
  if (slabUsed + length > SLAB) {
    slab = new Uint8Array(new ArrayBuffer(Math.max(SLAB, length)))
    slabUsed = 0
  }
  const out = slab.subarray(slabUsed, slabUsed + length)
  slabUsed += length
  return out
}

/**
 * libsodium through sodium-native (prebuilt binaries, no compiler needed).
 * libsodium signals failures by throwing from sodium-native; every call that
 * can fail on peer-controlled input is wrapped so it returns null or -1.
 */
export const sodiumCrypto: NoiseCrypto = {
  ...sodiumIdentity(sodium),
  sha512(message) {
    const out = view(64)
    sodium.crypto_hash_sha512(out, message)
    return out
  },
  blake2b(parts, outLength, key) {
    const out = view(outLength)
    if (parts.length === 1) {
      sodium.crypto_generichash(out, parts[0]!, key)
      return out
    }
    // The handshake hashes many small inputs: copying them into one buffer
    // and making one call costs less than the batch call's per-part work.
    let length = 0
    for (const part of parts) length += part.length
    if (length > SCRATCH.length) {
      sodium.crypto_generichash_batch(out, parts as Uint8Array[], key)
      return out
    }
    let offset = 0
    for (const part of parts) {
      SCRATCH.set(part, offset)
      offset += part.length
    }
    sodium.crypto_generichash(out, SCRATCH.subarray(0, length), key)
    SCRATCH.fill(0, 0, length)
    return out
  },
  aeadEncrypt(plaintext, ad, nonce, key) {
    const out = view(plaintext.length + 16)
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key)
    return out
  },
  aeadDecrypt(ciphertext, ad, nonce, key) {
    if (ciphertext.length < 16) return null
    const out = view(ciphertext.length - 16)
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key)
    } catch {
      return null
    }
    return out
  },
  edScalarmultBase(scalar) {
    const out = view(32)
    sodium.crypto_scalarmult_ed25519_base_noclamp(out, scalar)
    return out
  },
  edScalarmult(scalar, point) {
    if (point.length !== 32) return null
    const out = view(32)
    try {
      // libsodium refuses non-canonical, small-order and mixed-order points, and an identity result.
      sodium.crypto_scalarmult_ed25519_noclamp(out, scalar, point)
    } catch {
      return null
    }
    return out
  },
  secretstreamInitPush(state, header, key) {
    sodium.crypto_secretstream_xchacha20poly1305_init_push(state, header, key)
  },
  secretstreamPush(state, out, message, tag) {
    sodium.crypto_secretstream_xchacha20poly1305_push(state, out, message, null, tag)
  },
  secretstreamInitPull(state, header, key) {
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
  },
  secretstreamPull(state, out, cipher) {
    if (cipher.length < 17) return -1
    try {
      sodium.crypto_secretstream_xchacha20poly1305_pull(state, out, TAG, cipher, null)
    } catch {
      return -1
    }
    return TAG[0]!
  },
}
