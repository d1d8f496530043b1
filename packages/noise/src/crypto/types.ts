import type { IdentityCrypto } from '@ms/identity'

/**
 * The primitives Noise IK over Ed25519 (as `noise-curve-ed` does it) and
 * libsodium's secretstream need, behind one interface so Node can use
 * libsodium (`sodium-native`) and browsers the pure-JS `@noble` libraries.
 * Both backends must give byte-identical results; every test runs against
 * both.
 *
 * Conventions: functions that can fail on hostile input return `null` (or
 * `-1`) instead of throwing. Returned arrays may be views into memory
 * shared with other results (the sodium backend's slab): copy what you
 * keep beyond the handshake. The identity primitives (name, randomBytes,
 * signKeypairFromSeed, wipe, allocUninitialized) come from `@ms/identity`.
 */
export interface NoiseCrypto extends IdentityCrypto {
  sha512(message: Uint8Array): Uint8Array
  /** BLAKE2b of the concatenation of `parts`, `outLength` bytes (libsodium `crypto_generichash`), keyed when `key` is given. */
  blake2b(parts: readonly Uint8Array[], outLength: number, key?: Uint8Array): Uint8Array
  /** ChaCha20-Poly1305 (IETF, 12-byte nonce), tag appended. */
  aeadEncrypt(plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array
  /** `null` if the tag does not verify. */
  aeadDecrypt(ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null
  /** `scalar`·B on Ed25519, scalar used as is (libsodium `crypto_scalarmult_ed25519_base_noclamp`). */
  edScalarmultBase(scalar: Uint8Array): Uint8Array
  /**
   * `scalar`·P on Ed25519 (libsodium `crypto_scalarmult_ed25519_noclamp`);
   * `null` when P is not a canonical encoding of a point of the prime-order
   * subgroup, has small order, or the result is the identity.
   */
  edScalarmult(scalar: Uint8Array, point: Uint8Array): Uint8Array | null
  /**
   * libsodium secretstream XChaCha20-Poly1305. `state` is 52 bytes laid out
   * as libsodium's (key 32, counter 4, inner nonce 8, padding 8), so it can
   * live in one buffer with the rest of a connection's state.
   */
  secretstreamInitPush(state: Uint8Array, header: Uint8Array, key: Uint8Array): void
  /** Encrypts `message` with `tag` into `out` (`message.length + 17` bytes). */
  secretstreamPush(state: Uint8Array, out: Uint8Array, message: Uint8Array, tag: number): void
  secretstreamInitPull(state: Uint8Array, header: Uint8Array, key: Uint8Array): void
  /**
   * Verifies and decrypts `cipher` into `out` (`cipher.length - 17` bytes;
   * `out` may be `cipher.subarray(1, cipher.length - 16)`, in place).
   * Returns the tag, or -1 if the message does not verify (the state is
   * then unchanged and `out` untouched).
   */
  secretstreamPull(state: Uint8Array, out: Uint8Array, cipher: Uint8Array): number
}

export const SECRETSTREAM_STATEBYTES = 52
export const SECRETSTREAM_HEADERBYTES = 24
export const SECRETSTREAM_ABYTES = 17
export const TAG_MESSAGE = 0
export const TAG_PUSH = 1
export const TAG_REKEY = 2
export const TAG_FINAL = 3

// Shared with @ms/shs; re-exported so this package's modules import them from one place.
export { constantTimeEqual, isAllZero, copyBytes } from '@ms/identity'
