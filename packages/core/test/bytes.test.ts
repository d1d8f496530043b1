import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromBase64, toBase64 } from '../src/index.js'

describe('base64', () => {
  it('toBase64 agrees with Node’s encoder for any bytes (every length mod 3)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(toBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'))
      }),
      { numRuns: 2000 },
    )
  })

  it('fromBase64 inverts toBase64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(fromBase64(toBase64(bytes))).toEqual(bytes)
      }),
    )
  })

  it('encodes a view, not its whole buffer', () => {
    const whole = Uint8Array.from([1, 2, 3, 4, 5, 6])
    expect(toBase64(whole.subarray(2, 4))).toBe(Buffer.from([3, 4]).toString('base64'))
  })

  it('fromBase64 rejects what is not padded standard base64', () => {
    for (const bad of ['A', 'AB', 'ABC', 'AB=', 'A===', '-_8=', 'AB C', 'ABCD====']) expect(fromBase64(bad)).toBeNull()
  })
})
