/**
 * The few primitives secret-handshake and box-stream need, behind one small
 * interface so Node can use libsodium (`sodium-native`) and browsers the
 * audited pure-JS `@noble` libraries. Both backends must give byte-identical
 * results; the test suite runs every test against both.
 *
 * Conventions: functions that can fail on hostile input return `null` or
 * `false` instead of throwing. The `*Into` functions write into caller-owned
 * buffers so the box-stream hot path allocates nothing per frame.
 */
export interface ShsCrypto {
  /** `sodium` or `noble`; for diagnostics and tests. */
  readonly name: string
  randomBytes(length: number): Uint8Array
  /** Ed25519 key pair from a 32-byte seed; `secretKey` is seed || publicKey (64 bytes), as libsodium. */
  signKeypairFromSeed(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array }
  /** Detached Ed25519 signature (64 bytes) with a 64-byte libsodium secret key. */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array
  /** Strict (RFC 8032, non-ZIP-215) Ed25519 verification; `false` for any malformed input. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
  /** Ed25519 public key to X25519; `null` for points that are invalid, low-order or outside the prime-order subgroup. */
  edPublicToCurve(publicKey: Uint8Array): Uint8Array | null
  /** Ed25519 64-byte secret key to a clamped X25519 scalar. */
  edSecretToCurve(secretKey: Uint8Array): Uint8Array
  /** X25519 public key for a scalar. */
  scalarmultBase(secretKey: Uint8Array): Uint8Array
  /** X25519; `null` when the result is all zeros (a low-order peer point). */
  scalarmult(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null
  sha256(message: Uint8Array): Uint8Array
  /** libsodium `crypto_auth`: HMAC-SHA-512 truncated to 32 bytes. */
  auth(message: Uint8Array, key: Uint8Array): Uint8Array
  /** Constant-time check of a `crypto_auth` tag. */
  authVerify(tag: Uint8Array, message: Uint8Array, key: Uint8Array): boolean
  /** XSalsa20-Poly1305, libsodium `easy` layout (16-byte MAC then ciphertext); `out.length === message.length + 16`. */
  secretboxInto(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void
  /** Opens an `easy` box into `out` (`box.length - 16` bytes); `false` if the MAC does not verify (then `out` is garbage). */
  secretboxOpenInto(out: Uint8Array, box: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean
  /** Detached box: ciphertext into `out` (same length as `message`), MAC into `mac` (16 bytes). */
  secretboxDetachedInto(out: Uint8Array, mac: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void
  /** Opens a detached box into `out`; `false` if the MAC does not verify (then `out` is garbage). */
  secretboxOpenDetachedInto(out: Uint8Array, cipher: Uint8Array, mac: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean
  /** Overwrites secrets that are no longer needed (best effort in JS). */
  wipe(bytes: Uint8Array): void
  /**
   * Optional: `length` bytes of uninitialised memory, cheaper than a zeroed
   * allocation, for output buffers that are completely overwritten before
   * anyone sees them.
   */
  allocUninitialized?(length: number): Uint8Array
}

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

/**
 * A copy of (part of) some bytes. Never `.slice()` input bytes: on a Node
 * Buffer that is a view, and wiping it would wipe the caller's key.
 */
export function copyBytes(bytes: Uint8Array, start?: number, end?: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end))
}
