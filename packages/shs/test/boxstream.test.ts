import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { StreamError } from '@ms/core'
import { backends } from './backends.js'

function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let last = 0
  for (const p of points) {
    out.push(bytes.slice(last, p))
    last = p
  }
  out.push(bytes.slice(last))
  return out
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) out.set(p, o), (o += p.length)
  return out
}

describe.each(backends)('box-stream codec ($name)', ({ mod }) => {
  const { BoxEncoder, BoxDecoder, shsCrypto: crypto, MAX_BODY, HEADER_BOX } = mod
  const key = crypto.randomBytes(32)
  const nonce = crypto.randomBytes(24)

  it('frames at 4096 bytes and sends nothing for empty writes', () => {
    const enc = new BoxEncoder(crypto, key, nonce)
    expect(enc.encode(new Uint8Array(0))).toHaveLength(0)
    expect(enc.encode(new Uint8Array(4096))).toHaveLength(4096 + HEADER_BOX)
    expect(enc.encode(new Uint8Array(4097))).toHaveLength(4097 + 2 * HEADER_BOX)
    expect(enc.encode(new Uint8Array(3 * MAX_BODY))).toHaveLength(3 * (MAX_BODY + HEADER_BOX))
  })

  it('round-trips any writes under any chunking, copying and in place', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 9000 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        (writes, cuts, owned) => {
          const enc = new BoxEncoder(crypto, key, nonce)
          const wire = concat([...writes.map((w) => enc.encode(w)), enc.goodbye()])
          const dec = new BoxDecoder(crypto, key, nonce)
          const got: Uint8Array[] = []
          for (const piece of split(wire, cuts)) {
            if (owned) dec.pushOwned(piece, (p) => got.push(p.slice()))
            else got.push(dec.push(piece))
          }
          expect(dec.ended).toBe(true)
          expect(concat(got)).toEqual(concat(writes))
        },
      ),
      { numRuns: crypto.name === 'noble' ? 40 : 150 },
    )
  })

  it('rejects any single flipped bit anywhere in the stream, releasing no unverified plaintext', () => {
    const enc = new BoxEncoder(crypto, key, nonce)
    const plain = crypto.randomBytes(5000)
    const wire = concat([enc.encode(plain), enc.goodbye()])
    fc.assert(
      fc.property(fc.nat({ max: wire.length * 8 - 1 }), fc.boolean(), (bit, owned) => {
        const bad = wire.slice()
        bad[bit >> 3]! ^= 1 << (bit & 7)
        const dec = new BoxDecoder(crypto, key, nonce)
        const got: Uint8Array[] = []
        let error: unknown
        try {
          if (owned) dec.pushOwned(bad, (p) => got.push(p.slice()))
          else got.push(dec.push(bad))
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(StreamError)
        // Whatever was released is a verified prefix of the real plaintext.
        const released = concat(got)
        expect(released).toEqual(plain.subarray(0, released.length))
        expect(released.length === 0 || released.length === 4096).toBe(true)
      }),
      { numRuns: crypto.name === 'noble' ? 60 : 300 },
    )
  })

  it('rejects reordered frames, a header announcing more than 4096 bytes, and a wrong key', () => {
    const enc = new BoxEncoder(crypto, key, nonce)
    const f1 = enc.encode(Uint8Array.of(1, 2, 3))
    const f2 = enc.encode(Uint8Array.of(4, 5, 6))
    expect(() => new BoxDecoder(crypto, key, nonce).push(concat([f2, f1]))).toThrow(StreamError)
    expect(() => new BoxDecoder(crypto, crypto.randomBytes(32), nonce).push(f1)).toThrow(StreamError)

    // A validly boxed header that announces 4097 bytes: only the key holder can make it.
    const header = new Uint8Array(18)
    header[0] = 4097 >> 8
    header[1] = 4097 & 0xff
    const boxed = new Uint8Array(34)
    crypto.secretboxInto(boxed, header, nonce, key)
    expect(() => new BoxDecoder(crypto, key, nonce).push(boxed)).toThrow(/more than 4096/)
  })

  it('ignores bytes after the goodbye and reports the end', () => {
    const enc = new BoxEncoder(crypto, key, nonce)
    const wire = concat([enc.encode(Uint8Array.of(9)), enc.goodbye(), Uint8Array.of(1, 2, 3)])
    const dec = new BoxDecoder(crypto, key, nonce)
    expect(dec.push(wire)).toEqual(Uint8Array.of(9))
    expect(dec.ended).toBe(true)
    expect(() => enc.encode(Uint8Array.of(1))).toThrow(StreamError)
  })

  it('does not keep references to (or wipe) the caller key and nonce, even as Node Buffers', () => {
    const k = Buffer.from(key)
    const n = Buffer.from(nonce)
    const enc = new BoxEncoder(crypto, k, n)
    enc.encode(Uint8Array.of(1))
    enc.goodbye()
    expect(new Uint8Array(k)).toEqual(key)
    expect(new Uint8Array(n)).toEqual(nonce)
  })
})
