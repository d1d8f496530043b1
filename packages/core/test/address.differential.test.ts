import fc from 'fast-check'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { AddressError, parseMultiAddress, stringifyMultiAddress } from '../src/index.js'

// npm `multiserver-address` 1.0.1 is the oracle: the original grammar.
const require = createRequire(import.meta.url)
const reference = require('multiserver-address') as { check(text: string): boolean; decode(text: string): unknown }

function ours(text: string): boolean {
  try {
    parseMultiAddress(text)
    return true
  } catch (error) {
    if (!(error instanceof AddressError)) throw error
    return false
  }
}

// Strings made of the grammar's own pieces, so that many are valid and the
// invalid ones fail near the interesting places.
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(':', '~', ';', '!', '!!', '!:', '!~', '!;') },
  { weight: 4, arbitrary: fc.constantFrom('net', 'shs', 'ws', 'a', 'ab', 'a-', 'z9', '1a', 'A') },
  { weight: 2, arbitrary: fc.constantFrom('"', '9', '<', '}', ' ', '\u007f', '{', '=', '#', '/', '[', ']', '%', '.', '-', '0') },
  { weight: 1, arbitrary: fc.string({ maxLength: 3 }) },
)
const biased = fc.array(piece, { maxLength: 16 }).map((parts) => parts.join(''))

describe('address parser against npm multiserver-address (oracle)', () => {
  it('accepts exactly what the reference accepts, and round-trips it', () => {
    let accepted = 0
    fc.assert(
      fc.property(biased, (text) => {
        const expected = reference.check(text)
        expect(ours(text), JSON.stringify(text)).toBe(expected)
        if (expected) {
          accepted++
          expect(stringifyMultiAddress(parseMultiAddress(text))).toBe(text)
        }
      }),
      { numRuns: 20_000 },
    )
    // The generator must actually reach valid addresses, or the test proves little.
    expect(accepted).toBeGreaterThan(500)
  })

  it('decodes to the same structure as the reference', () => {
    fc.assert(
      fc.property(biased.filter((t) => reference.check(t) && t.length < 40), (text) => {
        expect(parseMultiAddress(text)).toEqual(reference.decode(text))
      }),
      { numRuns: 300 },
    )
  })
})
