import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { nobleCrypto } from '../src/crypto/noble.js'
import { sodiumCrypto, type SodiumNative } from '../src/crypto/sodium.js'
import { TAG_FINAL, TAG_MESSAGE, TAG_REKEY } from '../src/crypto/types.js'

// The two backends must agree byte for byte; libsodium (through
// sodium-native directly, not our wrapper) is the reference.
const sodium = createRequire(import.meta.url)('sodium-native') as SodiumNative
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })

describe('noble backend agrees with libsodium', () => {
  it('BLAKE2b, plain and keyed, over split input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), bytes(64), fc.constantFrom(32, 64), (data, cut, key, len) => {
        const at = Math.min(cut, data.length)
        const parts = [data.subarray(0, at), data.subarray(at)]
        const ref = new Uint8Array(len)
        sodium.crypto_generichash(ref, data, key)
        expect(hex(nobleCrypto.blake2b(parts, len, key))).toBe(hex(ref))
        expect(hex(sodiumCrypto.blake2b(parts, len, key))).toBe(hex(ref))
        const plain = new Uint8Array(len)
        sodium.crypto_generichash(plain, data)
        expect(hex(nobleCrypto.blake2b(parts, len))).toBe(hex(plain))
      }),
      { numRuns: 100 },
    )
  })

  it('ChaCha20-Poly1305 IETF both ways, and refuses a flipped bit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 80 }), bytes(12), bytes(32), fc.nat(), (m, ad, n, k, flip) => {
        const a = nobleCrypto.aeadEncrypt(m, ad, n, k)
        const b = sodiumCrypto.aeadEncrypt(m, ad, n, k)
        expect(hex(a)).toBe(hex(b))
        expect(hex(nobleCrypto.aeadDecrypt(b, ad, n, k)!)).toBe(hex(m))
        const bad = Uint8Array.from(a)
        bad[flip % bad.length]! ^= 1 << flip % 8
        expect(nobleCrypto.aeadDecrypt(bad, ad, n, k)).toBeNull()
        expect(sodiumCrypto.aeadDecrypt(bad, ad, n, k)).toBeNull()
      }),
      { numRuns: 100 },
    )
  })

  it('Ed25519 scalar multiplication on valid keys', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (seed, s) => {
        const point = sodiumCrypto.signKeypairFromSeed(seed).publicKey
        s[31]! &= 127
        expect(hex(nobleCrypto.edScalarmultBase(s))).toBe(hex(sodiumCrypto.edScalarmultBase(s)))
        const a = sodiumCrypto.edScalarmult(s, point)
        const b = nobleCrypto.edScalarmult(s, point)
        expect(b && hex(b)).toBe(a && hex(a))
      }),
      { numRuns: 30 },
    )
  })

  it('Ed25519 scalar multiplication refuses what libsodium refuses (random, low-order, non-canonical, mixed-order points)', () => {
    const smallOrder = [
      '0100000000000000000000000000000000000000000000000000000000000000',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      '0000000000000000000000000000000000000000000000000000000000000080',
      '0000000000000000000000000000000000000000000000000000000000000000',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ].map((h) => Uint8Array.from(Buffer.from(h, 'hex')))
    const s = sodiumCrypto.randomBytes(32)
    s[31]! &= 127
    for (const p of smallOrder) {
      expect(sodiumCrypto.edScalarmult(s, p)).toBeNull()
      expect(nobleCrypto.edScalarmult(s, p)).toBeNull()
    }
    // A valid key plus a point of order 8: on the curve, not in the prime-order subgroup.
    const valid = sodiumCrypto.signKeypairFromSeed(sodiumCrypto.randomBytes(32)).publicKey
    const mixed = new Uint8Array(32)
    sodium.crypto_core_ed25519_add(mixed, valid, smallOrder[4]!)
    expect(sodiumCrypto.edScalarmult(s, mixed)).toBeNull()
    expect(nobleCrypto.edScalarmult(s, mixed)).toBeNull()
    fc.assert(
      fc.property(bytes(32), (p) => {
        const a = sodiumCrypto.edScalarmult(s, p)
        const b = nobleCrypto.edScalarmult(s, p)
        expect(b && hex(b)).toBe(a && hex(a))
      }),
      { numRuns: 200 },
    )
  })

  it('secretstream: noble pushes what libsodium pulls and the other way, through rekeys and FINAL', () => {
    fc.assert(
      fc.property(
        bytes(32),
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(TAG_MESSAGE, TAG_REKEY, TAG_FINAL, 1)), { minLength: 1, maxLength: 8 }),
        (k, messages) => {
          for (const [pusher, puller] of [
            [nobleCrypto, sodiumCrypto],
            [sodiumCrypto, nobleCrypto],
          ] as const) {
            const tx = new Uint8Array(52)
            const rx = new Uint8Array(52)
            const header = new Uint8Array(24)
            pusher.secretstreamInitPush(tx, header, k)
            puller.secretstreamInitPull(rx, header, k)
            for (const [m, tag] of messages) {
              const c = new Uint8Array(m.length + 17)
              pusher.secretstreamPush(tx, c, m, tag)
              const bad = Uint8Array.from(c)
              bad[bad.length - 1]! ^= 1
              expect(puller.secretstreamPull(rx, new Uint8Array(m.length), bad)).toBe(-1)
              const out = c.subarray(1, c.length - 16)
              expect(puller.secretstreamPull(rx, out, c)).toBe(tag)
              expect(hex(out)).toBe(hex(m))
            }
          }
        },
      ),
      { numRuns: 60 },
    )
  })
})
