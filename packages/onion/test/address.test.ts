import { describe, expect, it } from 'vitest'
import { createMultiServer, parseAddress } from '@ms/core'
import { isValidOnionName, onion, onionNameFromPublicKey, parseOnionAddress, stringifyOnionAddress } from '../src/index.js'
import { unusedOnion } from './helpers.js'

// The v3 address of the Tor Project's website, as published by torproject.org;
// its checksum and version were computed by Tor, not by this package.
const TORPROJECT = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion'

describe('onion addresses', () => {
  it('parses onion:<v3 name>.onion:<port>', () => {
    expect(parseOnionAddress({ name: 'onion', data: [TORPROJECT, '443'] })).toEqual({ host: TORPROJECT, port: 443 })
    const upper = TORPROJECT.toUpperCase().replace('.ONION', '.onion')
    expect(parseOnionAddress({ name: 'onion', data: [upper, '8008'] })).toEqual({ host: TORPROJECT, port: 8008 })
  })

  it('returns null for anything else, and never throws', () => {
    const bad: unknown[] = [
      { name: 'net', data: [TORPROJECT, '443'] },
      { name: 'onion', data: [TORPROJECT] },
      { name: 'onion', data: [TORPROJECT, '0'] },
      { name: 'onion', data: [TORPROJECT, '65536'] },
      { name: 'onion', data: [TORPROJECT, '080'] },
      { name: 'onion', data: [TORPROJECT, ''] },
      { name: 'onion', data: [TORPROJECT, '443', 'x'] },
      { name: 'onion', data: ['expyuzz4wqqyqhjn.onion', '80'] }, // v2: retired in 2021
      { name: 'onion', data: [TORPROJECT.replace('.onion', ''), '80'] },
      { name: 'onion', data: ['example.com', '80'] },
      { name: 'onion', data: [TORPROJECT.replace('d.onion', 'a.onion'), '80'] }, // not version 3
      { name: 'onion', data: ['1' + TORPROJECT.slice(1), '80'] }, // not base32
      { name: 'onion', data: [null, '80'] },
      { name: 'onion' },
      null,
      undefined,
    ]
    for (const segment of bad) expect(parseOnionAddress(segment as never), JSON.stringify(segment)).toBeNull()
  })

  it('stringifies back to the same segment', () => {
    const segment = parseAddress(`onion:${TORPROJECT}:443`)[0]!
    expect(stringifyOnionAddress(parseOnionAddress(segment)!)).toEqual(segment)
  })

  it('checks the checksum of a name', () => {
    expect(isValidOnionName(TORPROJECT)).toBe(true)
    // One character changed: still well-formed, but the checksum no longer matches.
    const typo = TORPROJECT.replace('2gzyx', '2gzyy')
    expect(isValidOnionName(typo)).toBe(false)
    expect(isValidOnionName(unusedOnion())).toBe(true)
  })

  it('derives the name from an ed25519 public key', () => {
    // rend-spec-v3's encoding: base32(pubkey | checksum | 0x03). Round trip
    // through a key Tor published: decode the name, re-derive it.
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    let bits = 0
    let value = 0
    const bytes: number[] = []
    for (const ch of TORPROJECT.slice(0, 56)) {
      value = (value << 5) | alphabet.indexOf(ch)
      bits += 5
      if (bits >= 8) {
        bytes.push((value >>> (bits - 8)) & 0xff)
        bits -= 8
      }
    }
    expect(onionNameFromPublicKey(Uint8Array.from(bytes.slice(0, 32)))).toBe(TORPROJECT)
  })

  it('a MultiServer routes onion addresses (with transforms) to the onion transport', () => {
    const ms = createMultiServer([[onion()]])
    const plans = ms.plan(`net:example.com:8008;onion:${TORPROJECT}:8008`)
    expect(plans).toHaveLength(1)
    expect(plans[0]!.suite).toBe('onion')
    expect(plans[0]!.transportOptions).toEqual({ host: TORPROJECT, port: 8008 })
  })

  it('rejects bad configuration when the transport is made', () => {
    expect(() => onion({ socks: 'nonsense' })).toThrow(TypeError)
    expect(() => onion({ socks: [] })).toThrow(TypeError)
    expect(() => onion({ connectTimeout: 0 })).toThrow(TypeError)
    expect(() => onion({ virtualPort: 70000 })).toThrow(TypeError)
    expect(() => onion({ privateKey: 'RSA1024:abc' })).toThrow(TypeError)
    expect(() => onion({ control: {} })).toThrow(TypeError)
    expect(() => onion({ control: { port: 9051, password: 'x', cookie: 'y' } })).toThrow(TypeError)
    expect(onion().listen).toBeUndefined()
    expect(onion({ control: { port: 9051 } }).listen).toBeTypeOf('function')
  })
})
