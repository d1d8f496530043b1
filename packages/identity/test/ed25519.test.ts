import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign } from 'node:crypto'
import { ed25519 as nobleEd25519, x25519 as nobleX25519 } from '@noble/curves/ed25519'
import { describe, expect, it } from 'vitest'
import { ed25519, x25519 } from '@ms/identity'

// Our ed25519/x25519 are @noble/curves' curves without its ristretto code: they must agree with Node's
// OpenSSL (an independent implementation) and with @noble/curves/ed25519 itself.
const pkcs8 = (oid: number, seed: Uint8Array) =>
  createPrivateKey({ key: Buffer.concat([Buffer.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, oid, 0x04, 0x22, 0x04, 0x20]), seed]), format: 'der', type: 'pkcs8' })
const rawPublic = (key: ReturnType<typeof createPrivateKey>) => new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32))

describe('ed25519 and x25519', () => {
  it('derive keys, sign and agree like OpenSSL', () => {
    for (let i = 0; i < 8; i++) {
      const seed = new Uint8Array(randomBytes(32))
      const message = new Uint8Array(randomBytes(i * 20))
      const edKey = pkcs8(0x70, seed)
      expect(ed25519.getPublicKey(seed)).toEqual(rawPublic(edKey))
      const signature = ed25519.sign(message, seed)
      expect(signature).toEqual(new Uint8Array(sign(null, message, edKey)))
      expect(ed25519.verify(signature, message, rawPublic(edKey), { zip215: false })).toBe(true)
      signature[i]! ^= 1
      expect(ed25519.verify(signature, message, rawPublic(edKey), { zip215: false })).toBe(false)

      const a = new Uint8Array(randomBytes(32))
      const b = new Uint8Array(randomBytes(32))
      expect(x25519.scalarMultBase(a)).toEqual(rawPublic(pkcs8(0x6e, a)))
      const shared = new Uint8Array(diffieHellman({ privateKey: pkcs8(0x6e, a), publicKey: createPublicKey(pkcs8(0x6e, b)) }))
      expect(x25519.scalarMult(a, x25519.scalarMultBase(b))).toEqual(shared)
    }
  })

  it('match @noble/curves/ed25519 on point checks and the Montgomery conversion', () => {
    // The identity, a low-order point (order 4), a non-canonical encoding, and random keys.
    const lowOrder = new Uint8Array(32)
    lowOrder[31] = 0x80
    const identity = new Uint8Array(32)
    identity[0] = 1
    const nonCanonical = new Uint8Array(32).fill(0xff)
    nonCanonical[31] = 0x7f
    const keys = [identity, lowOrder, nonCanonical, ...Array.from({ length: 6 }, () => ed25519.getPublicKey(new Uint8Array(randomBytes(32))))]
    const describePoint = (curve: typeof ed25519, key: Uint8Array) => {
      try {
        const point = curve.Point.fromBytes(key, false)
        return { small: point.isSmallOrder(), torsionFree: point.isTorsionFree(), montgomery: curve.utils.toMontgomery(key) }
      } catch (error) {
        return { error: (error as Error).message }
      }
    }
    for (const key of keys) expect(describePoint(ed25519, key)).toEqual(describePoint(nobleEd25519 as unknown as typeof ed25519, key))
    expect(describePoint(ed25519, lowOrder)).toMatchObject({ small: true })
    const scalar = new Uint8Array(randomBytes(32))
    expect(x25519.scalarMult(scalar, x25519.scalarMultBase(scalar))).toEqual(nobleX25519.scalarMult(scalar, nobleX25519.scalarMultBase(scalar)))
  })
})
