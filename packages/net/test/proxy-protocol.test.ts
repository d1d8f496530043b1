import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMsError } from '@ms/core'
import { PROXY_V1_MAX_BYTES, PROXY_V2_SIGNATURE, ProxyProtocolError, parseProxyHeader, trustedSources } from '../src/index.js'

const ascii = (text: string) => new TextEncoder().encode(text)
const cat = (...parts: ArrayLike<number>[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)))

/** A v2 header built byte by byte from the spec (section 2.2), not by our code. */
function v2(cmd: number, fam: number, body: number[]): Uint8Array {
  return cat(PROXY_V2_SIGNATURE, [0x20 | cmd, fam, body.length >> 8, body.length & 0xff], body)
}
const inet = (src: number[], dst: number[], sport: number, dport: number) => [...src, ...dst, sport >> 8, sport & 0xff, dport >> 8, dport & 0xff]

function reasonOf(bytes: Uint8Array, options = {}): string {
  try {
    parseProxyHeader(bytes, options)
  } catch (error) {
    expect(isMsError(error, 'MsError')).toBe(true)
    expect(error).toBeInstanceOf(ProxyProtocolError)
    return (error as ProxyProtocolError).reason
  }
  return 'no error'
}

describe('PROXY protocol v1', () => {
  it('reads TCP4 and TCP6 lines; the header ends at its CRLF', () => {
    const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'
    expect(parseProxyHeader(ascii(line + 'GET / HTTP/1.1\r\n'))).toEqual({
      kind: 'header',
      version: 1,
      length: line.length,
      command: 'proxy',
      source: { host: '192.168.0.1', port: 56324 },
      destination: { host: '192.168.0.11', port: 443 },
    })
    const six = 'PROXY TCP6 2001:db8::1 ::1 65535 0\r\n'
    expect(parseProxyHeader(ascii(six))).toMatchObject({ length: six.length, source: { host: '2001:db8::1', port: 65535 }, destination: { host: '::1', port: 0 } })
  })

  it('UNKNOWN keeps the socket address (a proxy health check)', () => {
    expect(parseProxyHeader(ascii('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'header', version: 1, length: 15, command: 'local' })
    expect(parseProxyHeader(ascii('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nxx'))).toMatchObject({ command: 'local', length: 35 })
  })

  it('the longest legal line (107 bytes) parses; a line without CRLF within 107 bytes is refused', () => {
    const longest = 'PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'
    expect(longest.length).toBe(104)
    expect(parseProxyHeader(ascii(longest))).toMatchObject({ length: 104 })
    expect(parseProxyHeader(ascii('PROXY TCP4 1.2.3.4'))).toEqual({ kind: 'incomplete' })
    expect(reasonOf(ascii('PROXY ' + 'x'.repeat(PROXY_V1_MAX_BYTES)))).toBe('malformed')
  })

  it.each([
    ['bare LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
    ['IPv6 under TCP4', 'PROXY TCP4 ::1 ::1 1 2\r\n'],
    ['IPv4 under TCP6', 'PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n'],
    ['bad address', 'PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n'],
    ['port too large', 'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n'],
    ['port with leading zero', 'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n'],
    ['missing field', 'PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'],
    ['double space', 'PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n'],
    ['unknown protocol', 'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n'],
    ['zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
    ['control byte', 'PROXY TCP4 1.2.3.4\t1.2.3.4 1 2\r\n'],
  ])('refuses a %s', (_why, line) => {
    expect(reasonOf(ascii(line))).toBe('malformed')
  })
})

describe('PROXY protocol v2', () => {
  it('reads a TCP over IPv4 header and skips its TLVs', () => {
    const tlv = [0x04, 0x00, 0x02, 0xab, 0xcd] // PP2_TYPE_NOOP, 2 bytes
    const header = v2(1, 0x11, [...inet([127, 0, 0, 1], [10, 0, 0, 2], 51234, 8008), ...tlv])
    expect(header.length).toBe(16 + 12 + 5)
    expect(parseProxyHeader(cat(header, [1, 2, 3]))).toEqual({
      kind: 'header',
      version: 2,
      length: 33,
      command: 'proxy',
      source: { host: '127.0.0.1', port: 51234 },
      destination: { host: '10.0.0.2', port: 8008 },
    })
  })

  it('reads TCP over IPv6, mapped IPv4 as IPv4', () => {
    const a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    const loop = [...Array(15).fill(0), 1]
    const mapped = [...Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 7]
    expect(parseProxyHeader(v2(1, 0x21, [...a, ...loop, 0, 80, 1, 0]))).toMatchObject({ source: { host: '2001:db8::1', port: 80 }, destination: { host: '::1', port: 256 } })
    expect(parseProxyHeader(v2(1, 0x21, [...mapped, ...loop, 0, 1, 0, 2]))).toMatchObject({ source: { host: '192.0.2.7', port: 1 } })
    const full = Array.from({ length: 16 }, (_, i) => (i % 2 ? 1 : 0))
    expect(parseProxyHeader(v2(1, 0x21, [...full, ...loop, 0, 1, 0, 2]))).toMatchObject({ source: { host: '1:1:1:1:1:1:1:1' } })
  })

  it('LOCAL, UNSPEC, unix and datagram headers keep the socket address', () => {
    expect(parseProxyHeader(v2(0, 0x00, []))).toEqual({ kind: 'header', version: 2, length: 16, command: 'local' })
    expect(parseProxyHeader(v2(0, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toMatchObject({ command: 'local', length: 28 })
    expect(parseProxyHeader(v2(1, 0x00, [9, 9]))).toMatchObject({ command: 'local', length: 18 })
    expect(parseProxyHeader(v2(1, 0x31, Array(216).fill(0)))).toMatchObject({ command: 'local', length: 232 })
    expect(parseProxyHeader(v2(1, 0x12, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toMatchObject({ command: 'local' })
  })

  it('refuses a bad version, command, family, or a short address block', () => {
    const good = v2(1, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))
    const patch = (at: number, value: number) => Uint8Array.from(good, (b, i) => (i === at ? value : b))
    expect(reasonOf(patch(12, 0x11))).toBe('malformed')
    expect(reasonOf(patch(12, 0x22))).toBe('malformed')
    expect(reasonOf(patch(13, 0x41))).toBe('malformed')
    expect(reasonOf(patch(13, 0x13))).toBe('malformed')
    expect(reasonOf(v2(1, 0x11, [1, 2, 3]))).toBe('malformed')
    expect(reasonOf(v2(1, 0x21, Array(12).fill(0)))).toBe('malformed')
  })

  it('refuses a header over the cap as soon as its length is known', () => {
    const announced = cat(PROXY_V2_SIGNATURE, [0x21, 0x11, 0xff, 0xff])
    expect(reasonOf(announced)).toBe('too-large')
    expect(reasonOf(v2(1, 0x11, Array(100).fill(0)), { maxHeaderBytes: 64 })).toBe('too-large')
    expect(parseProxyHeader(v2(1, 0x11, Array(48).fill(0)), { maxHeaderBytes: 64 })).toMatchObject({ length: 64 })
  })

  it('every strict prefix of a header is incomplete; other starts are not headers', () => {
    const header = v2(1, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))
    for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n))).toEqual({ kind: 'incomplete' })
    const line = ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')
    for (let n = 0; n < line.length; n++) expect(parseProxyHeader(line.subarray(0, n))).toEqual({ kind: 'incomplete' })
    expect(parseProxyHeader(ascii('PROXZ'))).toEqual({ kind: 'none' })
    expect(parseProxyHeader(Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0b))).toEqual({ kind: 'none' })
    // An shs client hello (64 random-looking bytes) is not a header.
    expect(parseProxyHeader(new Uint8Array(64).fill(0xa5))).toEqual({ kind: 'none' })
  })
})

describe('PROXY protocol fuzz', () => {
  const header = fc.oneof(
    fc
      .tuple(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
      .map(([s, d, sp, dp]) => ({ bytes: ascii(`PROXY TCP4 ${s} ${d} ${sp} ${dp}\r\n`), source: { host: s, port: sp } })),
    fc
      .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 40 }))
      .map(([ip, port, tlvs]) => ({ bytes: v2(1, 0x11, [...inet(ip, [9, 9, 9, 9], port, 1), ...tlvs]), source: { host: ip.join('.'), port } })),
  )

  it('arbitrary bytes: a result or a ProxyProtocolError, never anything else, never a length past the input', () => {
    const start = fc.constantFrom(new Uint8Array(0), PROXY_V2_SIGNATURE, ascii('PROXY '), ascii('PROXY TCP4 '), ascii('PROXY TCP6 '))
    fc.assert(
      fc.property(start, fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 16, max: 70000 }), (prefix, tail, max) => {
        const bytes = cat(prefix, tail)
        try {
          const result = parseProxyHeader(bytes, { maxHeaderBytes: max })
          if (result.kind === 'header') expect(result.length).toBeLessThanOrEqual(bytes.length)
        } catch (error) {
          if (!(error instanceof ProxyProtocolError)) throw error
        }
      }),
      { numRuns: 3000 },
    )
  })

  it('a valid header followed by anything: the same header, ending where it ends', () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 200 }), ({ bytes, source }, rest) => {
        const alone = parseProxyHeader(bytes)
        expect(alone).toMatchObject({ kind: 'header', command: 'proxy', length: bytes.length, source })
        expect(parseProxyHeader(cat(bytes, rest))).toEqual(alone)
        for (const n of [0, 1, bytes.length - 1]) expect(parseProxyHeader(bytes.subarray(0, n))).toEqual({ kind: 'incomplete' })
      }),
      { numRuns: 1000 },
    )
  })
})

describe('trustedSources', () => {
  it('matches addresses and CIDR blocks of both families, mapped IPv4 included', () => {
    const trusted = trustedSources(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'])
    expect(['127.0.0.1', '::ffff:127.0.0.1', '10.200.1.1', '::1', 'fd12::5'].map(trusted)).toEqual([true, true, true, true, true])
    expect(['127.0.0.2', '11.0.0.1', '::2', 'fe80::1', 'localhost', ''].map(trusted)).toEqual([false, false, false, false, false, false])
  })

  it.each(['localhost', '1.2.3.4/33', '::1/129', '10.0.0.0/', '10.0.0.0/x', 'fe80::1%lo'])('rejects %j', (entry) => {
    expect(() => trustedSources([entry])).toThrow(TypeError)
  })
})
