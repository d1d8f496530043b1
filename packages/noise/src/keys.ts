import { fromBase64, toBase64 } from '@ms/core'
import type { NoiseCrypto } from './crypto/types.js'

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

export type KeysInput = KeyPair | SsbKeys

function decodeSsbKey(text: unknown, what: string, length: number): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`noise: keys.${what} must be a string`)
  const body = text.endsWith('.ed25519') ? text.slice(0, -'.ed25519'.length) : text
  const bytes = fromBase64(body.startsWith('@') ? body.slice(1) : body)
  if (!bytes || bytes.length !== length) {
    throw new TypeError(`noise: keys.${what} must be ${length} bytes of base64 (optionally with .ed25519)`)
  }
  return bytes
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array
}

/**
 * Accepts `{ publicKey, secretKey }` bytes or an ssb-keys object and returns
 * a checked key pair. A secret key that does not match its public key is a
 * configuration error, reported at construction rather than as a puzzling
 * handshake failure later.
 */
export function normalizeKeys(keys: KeysInput, crypto: NoiseCrypto): KeyPair {
  if (keys === null || typeof keys !== 'object') throw new TypeError('noise: keys must be { publicKey, secretKey } or ssb-keys { public, private }')
  let publicKey: Uint8Array
  let secretKey: Uint8Array
  if ('publicKey' in keys || 'secretKey' in keys) {
    const k = keys as KeyPair
    if (!isBytes(k.publicKey) || k.publicKey.length !== 32) throw new TypeError('noise: keys.publicKey must be 32 bytes')
    if (!isBytes(k.secretKey) || k.secretKey.length !== 64) throw new TypeError('noise: keys.secretKey must be 64 bytes')
    publicKey = Uint8Array.from(k.publicKey)
    secretKey = Uint8Array.from(k.secretKey)
  } else {
    const k = keys as SsbKeys
    if (k.curve !== undefined && k.curve !== 'ed25519') throw new TypeError(`noise: unsupported key curve ${String(k.curve)}`)
    publicKey = decodeSsbKey(k.public, 'public', 32)
    secretKey = decodeSsbKey(k.private, 'private', 64)
  }
  const derived = crypto.signKeypairFromSeed(secretKey.subarray(0, 32))
  if (toBase64(derived.publicKey) !== toBase64(publicKey) || toBase64(secretKey.subarray(32)) !== toBase64(publicKey)) {
    throw new TypeError('noise: keys.secretKey does not belong to keys.publicKey')
  }
  return { publicKey, secretKey }
}

/** Accepts the network key as 32 bytes or base64. */
export function normalizeNetworkKey(networkKey: Uint8Array | string): Uint8Array {
  const bytes = typeof networkKey === 'string' ? fromBase64(networkKey) : isBytes(networkKey) ? Uint8Array.from(networkKey) : null
  if (!bytes || bytes.length !== 32) throw new TypeError('noise: networkKey must be 32 bytes or their base64')
  return bytes
}

/** Decodes base64 that must be exactly 32 bytes, else `null`. */
export function decode32(text: string | undefined): Uint8Array | null {
  if (typeof text !== 'string') return null
  const bytes = fromBase64(text)
  return bytes && bytes.length === 32 ? bytes : null
}
