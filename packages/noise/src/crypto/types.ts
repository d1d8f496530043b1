/**
 * The primitives Noise IK over Ed25519 (as `noise-curve-ed` does it) and
 * libsodium's secretstream need, behind one interface so Node can use
 * libsodium (`sodium-native`) and browsers the pure-JS `@noble` libraries.
 * Both backends must give byte-identical results; every test runs against
 * both.
 *
 * Conventions: functions that can fail on hostile input return `null` (or
 * `-1`) instead of throwing.
 */
export interface NoiseCrypto {
  /** `sodium` or `noble`; for diagnostics and tests. */
  readonly name: string
  randomBytes(length: number): Uint8Array
  /** Ed25519 key pair from a 32-byte seed; `secretKey` is seed || publicKey (64 bytes), as libsodium. */
  signKeypairFromSeed(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array }
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
  /** Overwrites secrets that are no longer needed (best effort in JS). */
  wipe(bytes: Uint8Array): void
  /** Optional: uninitialised memory for output that is completely overwritten. */
  allocUninitialized?(length: number): Uint8Array
}

export const SECRETSTREAM_STATEBYTES = 52
export const SECRETSTREAM_HEADERBYTES = 24
export const SECRETSTREAM_ABYTES = 17
export const TAG_MESSAGE = 0
export const TAG_PUSH = 1
export const TAG_REKEY = 2
export const TAG_FINAL = 3

/** Constant-time equality of two byte arrays of equal length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!
  return acc === 0
}

/** A copy of (part of) some bytes; never a view, so wiping it cannot wipe the caller's. */
export function copyBytes(bytes: Uint8Array, start?: number, end?: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end))
}
