import { fromBase64, toBase64 } from '@ms/core'
import { constantTimeEqual } from './bytes.js'
import { nobleIdentity, type IdentityCrypto } from './crypto.js'

/** An Ed25519 key pair as libsodium lays it out: 32-byte public key, 64-byte secret key (seed || public key). */
export interface KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

/** The key file format of npm `ssb-keys`: base64 keys with an `.ed25519` suffix. */
export interface SsbKeys {
  public: string
  private: string
  curve?: string
  id?: string
}

/** An `ssb-keys` object as `ssb-keys` writes it (and `ms keygen`): every field present. */
export interface SsbSecretKeys extends SsbKeys {
  curve: 'ed25519'
  /** `@<base64 of the public key>.ed25519`: the identity others see. */
  id: string
}

export type KeysInput = KeyPair | SsbKeys

/**
 * Accepts `{ publicKey, secretKey }` bytes or an ssb-keys object and returns
 * a checked copy. A secret key that does not match its public key is a
 * configuration error, reported at construction rather than as a puzzling
 * handshake failure later. `label` starts every error message: the name of
 * the package the caller called (`shs`, `noise`).
 */
export function normalizeKeys(keys: KeysInput, crypto: Pick<IdentityCrypto, 'signKeypairFromSeed'>, label: string): KeyPair {
  // Written compactly on purpose: this is in every browser bundle with shs or noise.
  const fail = (message: string): never => {
    throw new TypeError(`${label}: ${message}`)
  }
  const bytes = (value: unknown, what: string, length: number) =>
    value instanceof Uint8Array && value.length === length ? Uint8Array.from(value) : fail(`keys.${what} must be ${length} bytes`)
  const decode = (text: unknown, what: string, length: number) => {
    if (typeof text !== 'string') fail(`keys.${what} must be a string`)
    const decoded = fromBase64((text as string).replace(/^@|\.ed25519$/g, ''))
    return decoded?.length === length ? decoded : fail(`keys.${what} must be ${length} bytes of base64 (optionally with .ed25519)`)
  }
  if (keys === null || typeof keys !== 'object') fail('keys must be { publicKey, secretKey } or ssb-keys { public, private }')
  let publicKey: Uint8Array
  let secretKey: Uint8Array
  if ('publicKey' in keys || 'secretKey' in keys) {
    publicKey = bytes((keys as KeyPair).publicKey, 'publicKey', 32)
    secretKey = bytes((keys as KeyPair).secretKey, 'secretKey', 64)
  } else {
    const k = keys as SsbKeys
    if (k.curve !== undefined && k.curve !== 'ed25519') fail(`unsupported key curve ${String(k.curve)}`)
    publicKey = decode(k.public, 'public', 32)
    secretKey = decode(k.private, 'private', 64)
  }
  // Both halves: the seed must derive the public key, and libsodium's copy of it must be that key.
  if (!constantTimeEqual(crypto.signKeypairFromSeed(secretKey.subarray(0, 32)).publicKey, publicKey) || !constantTimeEqual(secretKey.subarray(32), publicKey)) {
    fail('keys.secretKey does not belong to keys.publicKey')
  }
  return { publicKey, secretKey }
}

/**
 * Accepts a 32-byte key (an shs app key, a noise network key) as bytes or
 * base64 and returns a copy; `name` names it in the error (`shs: appKey`).
 */
export function normalizeKey32(key: Uint8Array | string, name: string): Uint8Array {
  const bytes = typeof key === 'string' ? decode32(key) : key instanceof Uint8Array && key.length === 32 ? Uint8Array.from(key) : null
  if (!bytes) throw new TypeError(`${name} must be 32 bytes or their base64`)
  return bytes
}

/** Decodes base64 that must be exactly 32 bytes, else `null`. */
export function decode32(text: string | undefined): Uint8Array | null {
  if (typeof text !== 'string') return null
  const bytes = fromBase64(text)
  return bytes && bytes.length === 32 ? bytes : null
}

/** `@<base64>.ed25519`: how SSB (and `ms`) writes the identity of a 32-byte public key. */
export function feedId(publicKey: Uint8Array): string {
  return `@${toBase64(publicKey)}.ed25519`
}

/** A key pair in the `ssb-keys` secret-file format. */
export function toSsbKeys(keys: KeyPair): SsbSecretKeys {
  const pub = toBase64(keys.publicKey)
  return { curve: 'ed25519', public: `${pub}.ed25519`, private: `${toBase64(keys.secretKey)}.ed25519`, id: `@${pub}.ed25519` }
}

/** A new random Ed25519 key pair from `crypto`'s random bytes (default @noble's), as raw bytes. */
export function generateKeyPair(crypto: Pick<IdentityCrypto, 'randomBytes' | 'signKeypairFromSeed' | 'wipe'> = nobleIdentity): KeyPair {
  const seed = crypto.randomBytes(32)
  const keys = crypto.signKeypairFromSeed(seed)
  crypto.wipe(seed)
  return keys
}

/** A new random Ed25519 identity in the `ssb-keys` format, readable by `ssb-keys`, `shs({ keys })` and `noise({ keys })`. */
export function generateKeys(crypto?: Pick<IdentityCrypto, 'randomBytes' | 'signKeypairFromSeed' | 'wipe'>): SsbSecretKeys {
  return toSsbKeys(generateKeyPair(crypto))
}
