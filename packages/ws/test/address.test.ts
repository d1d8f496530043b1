import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { parseAddress, parseMultiAddress, stringifySegment, stringifyAddress } from '@ms/core'
import { ws, parseWsSegment, wsSegment, formatWsUrl, parseWsUrl, canonicalPath, type WsAddress } from '@ms/ws'

/** Parses an address string the way the MultiServer does: grammar first, then our transport. */
function parse(text: string): WsAddress | null {
  const [segment] = parseAddress(text)
  return ws().parse(segment!)
}
function write(address: WsAddress): string {
  return stringifySegment(ws().stringify!(address))
}

describe('ws addresses', () => {
  it('parses ws:// and wss:// with ports, paths and defaults', () => {
    expect(parse('ws://host.com:8008')).toEqual({ secure: false, host: 'host.com', port: 8008, path: '/' })
    expect(parse('wss://host.com:8008/ms')).toEqual({ secure: true, host: 'host.com', port: 8008, path: '/ms' })
    expect(parse('ws://host.com')).toEqual({ secure: false, host: 'host.com', port: 80, path: '/' })
    expect(parse('wss://host.com')).toEqual({ secure: true, host: 'host.com', port: 443, path: '/' })
    expect(parse('wss://host.com/a/b?x=1&y=2')).toEqual({ secure: true, host: 'host.com', port: 443, path: '/a/b?x=1&y=2' })
    expect(parse('ws://127.0.0.1:9')).toEqual({ secure: false, host: '127.0.0.1', port: 9, path: '/' })
  })

  it('reads bracketed IPv6', () => {
    expect(parse('ws://[::1]:8989')).toEqual({ secure: false, host: '::1', port: 8989, path: '/' })
    expect(parse('wss://[fe80::1]/p')).toEqual({ secure: true, host: 'fe80::1', port: 443, path: '/p' })
    expect(write({ secure: false, host: '::1', port: 8989, path: '/' })).toBe('ws://[::1]:8989')
  })

  it('tolerates ws:host:port without slashes on input, and writes the URL form', () => {
    expect(parse('ws:host.com:8008')).toEqual({ secure: false, host: 'host.com', port: 8008, path: '/' })
    expect(parse('wss:host.com')).toEqual({ secure: true, host: 'host.com', port: 443, path: '/' })
    expect(write(parse('ws:host.com:8008')!)).toBe('ws://host.com:8008')
  })

  it('writes default ports and a lone / as nothing', () => {
    expect(write({ secure: false, host: 'h.io', port: 80, path: '/' })).toBe('ws://h.io')
    expect(write({ secure: true, host: 'h.io', port: 443, path: '/' })).toBe('wss://h.io')
    expect(write({ secure: true, host: 'h.io', port: 80, path: '/' })).toBe('wss://h.io:80')
    expect(write({ secure: false, host: 'h.io', port: 443, path: '/x' })).toBe('ws://h.io:443/x')
    expect(parse('ws://h.io:80/')).toEqual(parse('ws://h.io'))
  })

  it('is a grammar segment named ws with the URL split at colons, as npm multiserver writes it', () => {
    expect(wsSegment({ secure: false, host: 'host.com', port: 8008, path: '/p' })).toEqual({ name: 'ws', data: ['//host.com', '8008/p'] })
    // The address the foundation issue lists as valid, with transforms after it.
    const [address] = parseMultiAddress('ws://host.com:8008~shs:oaercuhroaecuh~gzip')
    expect(ws().parse(address![0]!)).toEqual({ secure: false, host: 'host.com', port: 8008, path: '/' })
    expect(stringifyAddress(address!)).toBe('ws://host.com:8008~shs:oaercuhroaecuh~gzip')
  })

  it('percent-encodes path characters that are separators in the grammar', () => {
    const address = parse('ws://h.io/a!~b!;c')!
    expect(address.path).toBe('/a%7Eb%3Bc')
    expect(write(address)).toBe('ws://h.io/a%7Eb%3Bc')
    expect(canonicalPath('/x!y')).toBe('/x%21y')
  })

  it('rejects what is not a ws address, without throwing', () => {
    const bad = [
      'ws://host:0',
      'ws://host:99999',
      'ws://host:abc',
      'ws://user@host:1',
      'ws://host:1/#frag',
      'ws://',
      'ws:',
      'ws://ho st:1',
      'wss://[::1',
      'ws://a..b!:1',
    ]
    for (const text of bad) {
      let segments
      try {
        segments = parseAddress(text)
      } catch {
        continue // the grammar itself rejects it: fine too
      }
      expect(ws().parse(segments[0]!), text).toBeNull()
    }
    expect(ws().parse({ name: 'net', data: ['host', '8008'] })).toBeNull()
    expect(ws().parse({ name: 'http', data: ['//host', '80'] })).toBeNull()
    expect(ws().parse({ name: 'ws', data: [] })).toBeNull()
    expect(parseWsSegment(null as never)).toBeNull()
    expect(parseWsUrl('ftp://x')).toBeNull()
  })

  const hostArb = fc.oneof(
    fc.ipV4(),
    fc.ipV6().map((h) => new URL(`ws://[${h}]`).hostname.slice(1, -1)),
    fc.domain().map((d) => d.toLowerCase()).filter((d) => /^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$/.test(d) && !/^[\d.]+$/.test(d) && !/(^|\.)xn--/.test(d)),
  )
  const pathArb = fc
    .array(fc.stringMatching(/^[A-Za-z0-9._\-%!~;:@$&'()*+,=]{0,8}$/), { maxLength: 4 })
    .map((parts) => canonicalPath('/' + parts.join('/').replace(/%/g, '%25')))
    .filter((p): p is string => p !== null)
  const addressArb = fc.record({ secure: fc.boolean(), host: hostArb, port: fc.integer({ min: 1, max: 65535 }), path: pathArb })

  it('property: parse(stringify(o)) gives o back, through the grammar too', () => {
    fc.assert(
      fc.property(addressArb, (address) => {
        expect(parseWsSegment(wsSegment(address))).toEqual(address)
        const text = write(address)
        expect(text).toBe(formatWsUrl(address))
        expect(parse(text)).toEqual(address)
        expect(parseWsUrl(formatWsUrl(address))).toEqual(address)
      }),
      { numRuns: 2000 },
    )
  })

  it('canonical paths are fixed points (regression: dot segments formed by escaping)', () => {
    const once = canonicalPath('/+/.&/./%3B')
    expect(once).not.toBeNull()
    expect(canonicalPath(once!)).toBe(once)
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (path) => {
        const c = canonicalPath(path)
        if (c !== null) expect(canonicalPath(c)).toBe(c)
      }),
      { numRuns: 3000 },
    )
  })

  it('property: what parses, stringifies to a fixed point', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.boolean(), (tail, secure) => {
        const segment = { name: secure ? 'wss' : 'ws', data: ('//' + tail).split(':') }
        const once = parseWsSegment(segment)
        if (once === null) return
        expect(parseWsSegment(wsSegment(once))).toEqual(once)
      }),
      { numRuns: 3000 },
    )
  })

  it('property: parse never throws on arbitrary segments', () => {
    fc.assert(
      fc.property(fc.constantFrom('ws', 'wss', 'net'), fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 }), (name, data) => {
        expect(() => parseWsSegment({ name, data })).not.toThrow()
      }),
      { numRuns: 3000 },
    )
  })
})
