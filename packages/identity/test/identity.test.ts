import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fromBase64, toBase64 } from '@ms/core'
import {
  constantTimeEqual,
  copyBytes,
  decode32,
  feedId,
  generateKeyPair,
  generateKeys,
  isAllZero,
  nobleIdentity,
  normalizeKey32,
  normalizeKeys,
  toSsbKeys,
  type IdentityCrypto,
} from '@ms/identity'
import { loadSodiumNative, sodiumIdentity } from '@ms/identity/sodium'

const loaded = loadSodiumNative()
if (loaded.error !== undefined) throw new Error(`the workspace has sodium-native; it did not load: ${String(loaded.error)}`)
const backends: IdentityCrypto[] = [sodiumIdentity(loaded.sodium!), nobleIdentity]

/**
 * node:crypto (OpenSSL) as the independent oracle: an Ed25519 private key
 * from a raw 32-byte seed through PKCS#8 DER (the fixed 16-byte RFC 8410
 * prefix), so nothing below checks our bytes against our own output.
 */
function opensslKeyFromSeed(seed: Uint8Array) {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed])
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
}
function opensslPublicKey(seed: Uint8Array): Uint8Array {
  const jwk = createPublicKey(opensslKeyFromSeed(seed)).export({ format: 'jwk' })
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'))
}

describe.each(backends)('$name identity primitives', (crypto) => {
  it('derives the Ed25519 public key of a seed as OpenSSL does, laid out as libsodium', () => {
    for (let i = 0; i < 8; i++) {
      const seed = crypto.randomBytes(32)
      const { publicKey, secretKey } = crypto.signKeypairFromSeed(seed)
      expect(toBase64(publicKey)).toBe(toBase64(opensslPublicKey(seed)))
      expect(toBase64(secretKey)).toBe(toBase64(new Uint8Array([...seed, ...publicKey])))
    }
  })

  it('gives fresh random bytes of any length, also beyond getRandomValues’ 64 KiB', () => {
    const a = crypto.randomBytes(70_000)
    const b = crypto.randomBytes(70_000)
    expect(a.length).toBe(70_000)
    expect(constantTimeEqual(a, b)).toBe(false)
    // Each 64 KiB chunk is filled: the tail is not left zero.
    expect(isAllZero(a.subarray(65_536))).toBe(false)
  })

  it('wipes', () => {
    const secret = crypto.randomBytes(64)
    crypto.wipe(secret)
    expect(isAllZero(secret)).toBe(true)
  })

  it('generates key pairs that sign and verify under OpenSSL', () => {
    const keys = generateKeyPair(crypto)
    const message = new TextEncoder().encode('identity')
    const signature = sign(null, message, opensslKeyFromSeed(keys.secretKey.subarray(0, 32)))
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), keys.publicKey])
    expect(verify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature)).toBe(true)
  })
})

describe('normalizeKeys', () => {
  const keys = generateKeyPair()
  const other = generateKeyPair()

  it('accepts key-pair bytes and returns copies', () => {
    const out = normalizeKeys(keys, nobleIdentity, 'shs')
    expect(toBase64(out.publicKey)).toBe(toBase64(keys.publicKey))
    expect(toBase64(out.secretKey)).toBe(toBase64(keys.secretKey))
    out.secretKey.fill(0)
    expect(isAllZero(keys.secretKey)).toBe(false)
  })

  it('accepts an ssb-keys object, with or without @ and .ed25519', () => {
    const ssb = toSsbKeys(keys)
    const bare = { public: toBase64(keys.publicKey), private: toBase64(keys.secretKey) }
    const at = { public: `@${toBase64(keys.publicKey)}.ed25519`, private: ssb.private }
    for (const input of [ssb, bare, at]) {
      expect(toBase64(normalizeKeys(input, nobleIdentity, 'shs').publicKey)).toBe(toBase64(keys.publicKey))
    }
  })

  it('names the caller’s package in every error', () => {
    const cases: [unknown, RegExp][] = [
      [null, /^noise: keys must be/],
      [{ publicKey: new Uint8Array(31), secretKey: keys.secretKey }, /^noise: keys\.publicKey must be 32 bytes$/],
      [{ publicKey: keys.publicKey, secretKey: new Uint8Array(32) }, /^noise: keys\.secretKey must be 64 bytes$/],
      [{ publicKey: keys.publicKey, secretKey: other.secretKey }, /^noise: keys\.secretKey does not belong to keys\.publicKey$/],
      [{ ...toSsbKeys(keys), curve: 'k256' }, /^noise: unsupported key curve k256$/],
      [{ public: 42, private: toSsbKeys(keys).private }, /^noise: keys\.public must be a string$/],
      [{ public: toSsbKeys(keys).public, private: 'AAAA.ed25519' }, /^noise: keys\.private must be 64 bytes of base64/],
    ]
    for (const [input, message] of cases) {
      expect(() => normalizeKeys(input as never, nobleIdentity, 'noise')).toThrow(message)
      expect(() => normalizeKeys(input as never, nobleIdentity, 'noise')).toThrow(TypeError)
    }
  })

  it('refuses a secret key whose second half is not the public key, even with a matching seed', () => {
    const secretKey = copyBytes(keys.secretKey)
    secretKey.set(other.publicKey, 32)
    expect(() => normalizeKeys({ publicKey: keys.publicKey, secretKey }, nobleIdentity, 'shs')).toThrow(/^shs: keys\.secretKey does not belong/)
  })
})

describe('32-byte keys and ssb-keys output', () => {
  it('normalizeKey32 takes bytes or base64 and names the key in errors', () => {
    const key = nobleIdentity.randomBytes(32)
    expect(toBase64(normalizeKey32(toBase64(key), 'shs: appKey'))).toBe(toBase64(key))
    expect(normalizeKey32(key, 'shs: appKey')).not.toBe(key)
    expect(() => normalizeKey32('abc', 'shs: appKey')).toThrow(/^shs: appKey must be 32 bytes or their base64$/)
    expect(() => normalizeKey32(new Uint8Array(31), 'noise: networkKey')).toThrow(/^noise: networkKey must be/)
    expect(() => normalizeKey32(42 as never, 'noise: networkKey')).toThrow(TypeError)
  })

  it('decode32 gives null for anything but 32 bytes of base64', () => {
    expect(decode32(undefined)).toBeNull()
    expect(decode32('AAAA')).toBeNull()
    expect(decode32('not base64!')).toBeNull()
    expect(decode32(toBase64(new Uint8Array(32).fill(7)))?.[0]).toBe(7)
  })

  it('generateKeys writes the ssb-keys format (ssb-keys’ own field layout)', () => {
    const keys = generateKeys()
    expect(Object.keys(keys).sort()).toEqual(['curve', 'id', 'private', 'public'])
    expect(keys.curve).toBe('ed25519')
    expect(keys.public).toMatch(/^[A-Za-z0-9+/]{43}=\.ed25519$/)
    expect(keys.private).toMatch(/^[A-Za-z0-9+/]{86}==\.ed25519$/)
    expect(keys.id).toBe(`@${keys.public}`)
    const seed = fromBase64(keys.private.slice(0, -'.ed25519'.length))!.subarray(0, 32)
    expect(`${toBase64(opensslPublicKey(seed))}.ed25519`).toBe(keys.public)
    expect(feedId(fromBase64(keys.public.slice(0, -8))!)).toBe(keys.id)
  })
})

describe('loadSodiumNative', () => {
  it('reports why when sodium-native cannot be required', () => {
    const missing = Object.assign(new Error("Cannot find module 'sodium-native'"), { code: 'MODULE_NOT_FOUND' })
    const result = loadSodiumNative([], () => {
      throw missing
    })
    expect(result.sodium).toBeUndefined()
    expect(result.error).toBe(missing)
  })

  it('refuses a module without the functions the caller needs, naming them', () => {
    const partial = { randombytes_buf() {}, crypto_sign_seed_keypair() {}, sodium_memzero() {} }
    expect(loadSodiumNative([], () => partial).sodium).toBe(partial)
    const result = loadSodiumNative(['crypto_secretbox_easy'], () => partial)
    expect(result.sodium).toBeUndefined()
    expect(result.error).toBeInstanceOf(TypeError)
    expect(String(result.error)).toContain('crypto_secretbox_easy')
    expect(loadSodiumNative([], () => null).error).toBeInstanceOf(TypeError)
  })

  it('offers uninitialised memory as plain Uint8Arrays', () => {
    const out = sodiumIdentity(loaded.sodium!).allocUninitialized!(100)
    expect(out.length).toBe(100)
    expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype)
  })
})
