import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AddressError, parseMultiAddress, stringifyMultiAddress, escapeData, appendSegment, parseAddress } from '../src/index.js'

const valid = [
  'net:host.com:8008',
  'net:host.com:8008~shs:oaercuhroaecuh',
  'net:host.com:8008~shs:oaercuhroaecuh~gzip',
  'ws://host.com:8008~shs:oaercuhroaecuh~gzip',
  'net:host.com:8008~shs:oaercuhroaecuh~gzip;ws://host.com:8008~shs:oaercuhroaecuh~gzip',
  'shs:::',
]
const invalid = [
  '',
  ':host.com:8008',
  '1a:host.com:8008',
  'ABC:host.com:8008',
  'a.b:host.com:8008',
  '~:host.com:8008',
  ';:host.com:8008',
  '!:host.com:8008',
  'net:host.com:8008~',
  'net:host.com:8008~~gzip',
]

describe('address grammar', () => {
  it.each(valid)('accepts %s and writes it back unchanged', (text) => {
    expect(stringifyMultiAddress(parseMultiAddress(text))).toBe(text)
  })

  it.each(invalid)('rejects %j with AddressError', (text) => {
    expect(() => parseMultiAddress(text)).toThrow(AddressError)
  })

  it('splits alternatives, segments and data', () => {
    expect(parseMultiAddress('net:h:1~shs:k;ws://h:2')).toEqual([
      [
        { name: 'net', data: ['h', '1'] },
        { name: 'shs', data: ['k'] },
      ],
      [{ name: 'ws', data: ['//h', '2'] }],
    ])
    expect(parseMultiAddress('shs:::')).toEqual([[{ name: 'shs', data: ['', '', ''] }]])
    expect(parseMultiAddress('gzip')).toEqual([[{ name: 'gzip', data: [] }]])
  })

  it('removes and restores escapes', () => {
    const [[segment]] = parseMultiAddress('x1:a!:b!~c!;d!!e') as [[{ name: string; data: string[] }]]
    expect(segment.data).toEqual(['a:b~c;d!e'])
    expect(escapeData('a:b~c;d!e')).toBe('a!:b!~c!;d!!e')
  })

  it('says where parsing failed', () => {
    try {
      parseMultiAddress('net:ho st:1')
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(AddressError)
      expect((error as AddressError).position).toBe(6)
      expect((error as AddressError).address).toBe('net:ho st:1')
    }
  })

  it('rejects a lone "!" and an unknown escape', () => {
    expect(() => parseMultiAddress('net:a!')).toThrow(AddressError)
    expect(() => parseMultiAddress('net:a!b')).toThrow(AddressError)
  })

  it('refuses to write data it cannot represent', () => {
    expect(() => stringifyMultiAddress([[{ name: 'net', data: ['a b'] }]])).toThrow(AddressError)
    expect(() => stringifyMultiAddress([[{ name: 'N', data: [] }]])).toThrow(AddressError)
    expect(() => stringifyMultiAddress([])).toThrow(AddressError)
  })

  it('parses exactly one address and appends segments', () => {
    expect(parseAddress('net:h:1')).toEqual([{ name: 'net', data: ['h', '1'] }])
    expect(() => parseAddress('net:h:1;net:h:2')).toThrow(AddressError)
    expect(appendSegment('net:h:1', { name: 'shs', data: ['a:b'] })).toBe('net:h:1~shs:a!:b')
  })
})

// Arbitrary strings biased toward the grammar's separators and edge characters.
const edgeChar = fc.constantFrom(':', '~', ';', '!', 'a', 'z', '0', '9', '-', '"', '}', '~', ' ', '\u007f', '#', '<', '=', '>', '[', 'é', '\u0000')
const edgeString = fc.array(edgeChar, { maxLength: 30 }).map((chars) => chars.join(''))

const name = fc
  .tuple(fc.constantFrom(...'abcxyz'), fc.array(fc.constantFrom(...'abz09-'), { minLength: 1, maxLength: 6 }))
  .map(([head, tail]) => head + tail.join(''))
// Every printable ASCII character but space is representable (some escaped).
const dataValue = fc.array(fc.integer({ min: 0x21, max: 0x7e }), { maxLength: 12 }).map((codes) => String.fromCharCode(...codes))
const segment = fc.record({ name, data: fc.array(dataValue, { maxLength: 4 }) })
const multi = fc.array(fc.array(segment, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 })

describe('address grammar properties', () => {
  it('stringify then parse gives the same structure back', () => {
    fc.assert(
      fc.property(multi, (addresses) => {
        const text = stringifyMultiAddress(addresses)
        expect(parseMultiAddress(text)).toEqual(addresses)
        expect(stringifyMultiAddress(parseMultiAddress(text))).toBe(text)
      }),
      { numRuns: 2000 },
    )
  })

  it('parse throws nothing but AddressError, and round-trips what it accepts', () => {
    fc.assert(
      fc.property(fc.oneof(edgeString, fc.string(), fc.string({ unit: 'binary' })), (text) => {
        let parsed
        try {
          parsed = parseMultiAddress(text)
        } catch (error) {
          expect(error).toBeInstanceOf(AddressError)
          return
        }
        expect(stringifyMultiAddress(parsed)).toBe(text)
      }),
      { numRuns: 5000 },
    )
  })
})

describe('hostile input in error messages', () => {
  it('quotes at most a short prefix of a 1 MB address', () => {
    const huge = 'net:' + 'a'.repeat(1024 * 1024) + ' '
    let error: unknown
    try {
      parseMultiAddress(huge)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(AddressError)
    const message = (error as AddressError).message
    expect(message.length).toBeLessThan(300)
    expect(message).toContain(`(${huge.length} characters)`)
    // Still says what and where.
    expect(message).toContain(`at offset ${huge.length - 1}`)
    expect((error as AddressError).position).toBe(huge.length - 1)
  })

  it('quotes short input whole', () => {
    expect(() => parseMultiAddress('net:a b')).toThrow('invalid address "net:a b": character not allowed in address data at offset 5 (" ")')
  })

  it('keeps NoTransportError short too', async () => {
    const { createMultiServer, memory, NoTransportError } = await import('../src/index.js')
    const huge = 'zz:' + 'b'.repeat(1024 * 1024)
    const error = await createMultiServer([[memory()]]).connect(huge).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NoTransportError)
    expect((error as Error).message.length).toBeLessThan(300)
  })
})
