import type { IdentityCrypto } from '@ms/identity'

/**
 * The few primitives secret-handshake and box-stream need, behind one small
 * interface so Node can use libsodium (`sodium-native`) and browsers the
 * audited pure-JS `@noble` libraries. Both backends must give byte-identical
 * results; the test suite runs every test against both.
 *
 * Conventions: functions that can fail on hostile input return `null` or
 * `false` instead of throwing. The `*Into` functions write into caller-owned
 * buffers so the box-stream hot path allocates nothing per frame. The
 * identity primitives (name, randomBytes, signKeypairFromSeed, wipe,
 * allocUninitialized) come from `@ms/identity`.
 */
export interface ShsCrypto extends IdentityCrypto {
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
}

// Shared with @ms/noise; re-exported so this package's modules import them from one place.
export { constantTimeEqual, isAllZero, copyBytes } from '@ms/identity'
