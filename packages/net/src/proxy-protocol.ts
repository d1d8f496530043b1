import { BlockList, isIPv4, isIPv6, type Socket } from 'node:net'
import { MsError, nameError, unmapIPv4 } from '@ms/core'

/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): a header a load
 * balancer writes at the start of each TCP connection it opens to a backend,
 * naming the client it accepted the connection from.
 *
 * This module parses the header and nothing else: it never looks at a byte
 * past the header's end, so the caller can hand the rest to the connection.
 */

/** Why a connection was refused while its PROXY header was being read. */
export type ProxyProtocolReason =
  /** A header came from a source not in `trusted`. */
  | 'untrusted'
  /** The header is required and the connection does not start with one. */
  | 'missing'
  /** The header breaks the spec. */
  | 'malformed'
  /** The connection ended before the header did. */
  | 'truncated'
  /** The header did not arrive within the deadline. */
  | 'timeout'
  /** A v2 header announced more than `maxHeaderBytes`. */
  | 'too-large'

/**
 * A connection was refused because of its PROXY protocol header (or its
 * absence). `address` is the connection as the socket saw it (the proxy's
 * or the client's address, `net:host:port`).
 */
export class ProxyProtocolError extends MsError {
  readonly reason: ProxyProtocolReason
  constructor(message: string, options: { address?: string; reason: ProxyProtocolReason; cause?: unknown }) {
    super(message, options)
    this.reason = options.reason
  }
}
nameError(ProxyProtocolError, 'ProxyProtocolError')

/** The 12-byte signature that starts every v2 header. */
export const PROXY_V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a)
const V1_PREFIX = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20) // "PROXY "
/** The spec's bound on a v1 line, CRLF included. */
export const PROXY_V1_MAX_BYTES = 107
/** Default bound on a v2 header (16 fixed bytes + addresses + TLVs). */
export const PROXY_V2_DEFAULT_MAX_BYTES = 4096

export interface ProxyEndpoint {
  host: string
  port: number
}

export type ProxyParseResult =
  /** More bytes are needed to decide. */
  | { kind: 'incomplete' }
  /** The bytes do not start with a PROXY header (neither signature). */
  | { kind: 'none' }
  | {
      kind: 'header'
      version: 1 | 2
      /** Header length in bytes: the connection's own data starts here. */
      length: number
      /**
       * `proxy` when the header names the client (`source`); `local` for
       * the proxy's own connections (health checks, v2 LOCAL, v1 UNKNOWN,
       * or address families other than TCP over IPv4/IPv6), which keep the
       * socket's address.
       */
      command: 'proxy' | 'local'
      source?: ProxyEndpoint
      destination?: ProxyEndpoint
    }

export interface ProxyParseOptions {
  /** Carried by errors. */
  address?: string
  /** Cap on a v2 header's total length. Default 4096. */
  maxHeaderBytes?: number
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): 'yes' | 'no' | 'maybe' {
  const n = Math.min(bytes.length, prefix.length)
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return 'no'
  return bytes.length >= prefix.length ? 'yes' : 'maybe'
}

/**
 * Parses the PROXY header at the start of `bytes`, which may hold fewer or
 * more bytes than the header. Throws only `ProxyProtocolError` (`malformed`
 * or `too-large`); returns `incomplete` while the bytes so far could still
 * begin a valid header.
 */
export function parseProxyHeader(bytes: Uint8Array, options: ProxyParseOptions = {}): ProxyParseResult {
  const v2 = startsWith(bytes, PROXY_V2_SIGNATURE)
  if (v2 === 'yes') return parseV2(bytes, options)
  const v1 = startsWith(bytes, V1_PREFIX)
  if (v1 === 'yes') return parseV1(bytes, options)
  if (v2 === 'maybe' || v1 === 'maybe') return { kind: 'incomplete' }
  return { kind: 'none' }
}

function malformed(message: string, options: ProxyParseOptions): ProxyProtocolError {
  return new ProxyProtocolError(`malformed PROXY header: ${message}`, { address: options.address, reason: 'malformed' })
}

const PORT_TEXT = /^(?:0|[1-9][0-9]{0,4})$/

function parseV1(bytes: Uint8Array, options: ProxyParseOptions): ProxyParseResult {
  const limit = Math.min(bytes.length, PROXY_V1_MAX_BYTES)
  let end = -1
  for (let i = V1_PREFIX.length; i < limit; i++) {
    if (bytes[i] === 0x0a) {
      end = i
      break
    }
  }
  if (end === -1) {
    if (bytes.length >= PROXY_V1_MAX_BYTES) throw malformed(`v1 line longer than ${PROXY_V1_MAX_BYTES} bytes`, options)
    return { kind: 'incomplete' }
  }
  if (bytes[end - 1] !== 0x0d) throw malformed('v1 line not ended by CRLF', options)
  // Only printable ASCII is allowed in the line; decode byte by byte so no
  // decoder can substitute anything.
  let line = ''
  for (let i = 0; i < end - 1; i++) {
    const b = bytes[i]!
    if (b < 0x20 || b > 0x7e) throw malformed('v1 line holds a non-printable byte', options)
    line += String.fromCharCode(b)
  }
  const length = end + 1
  const parts = line.split(' ')
  if (parts[1] === 'UNKNOWN') return { kind: 'header', version: 1, length, command: 'local' }
  if (parts.length !== 6) throw malformed('v1 line does not have 6 fields', options)
  const [, family, src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined
  if (valid === undefined) throw malformed('v1 protocol is neither TCP4, TCP6 nor UNKNOWN', options)
  // Zone ids (`fe80::1%eth0`) mean nothing across machines.
  if (!valid(src) || !valid(dst) || src.includes('%') || dst.includes('%')) throw malformed(`v1 addresses are not ${family}`, options)
  if (!PORT_TEXT.test(sport) || !PORT_TEXT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) {
    throw malformed('v1 port out of range', options)
  }
  return {
    kind: 'header',
    version: 1,
    length,
    command: 'proxy',
    source: { host: src, port: Number(sport) },
    destination: { host: dst, port: Number(dport) },
  }
}

function parseV2(bytes: Uint8Array, options: ProxyParseOptions): ProxyParseResult {
  if (bytes.length < 16) return { kind: 'incomplete' }
  const verCmd = bytes[12]!
  if (verCmd >> 4 !== 2) throw malformed(`v2 version ${verCmd >> 4}`, options)
  const cmd = verCmd & 0x0f
  if (cmd > 1) throw malformed(`v2 command ${cmd}`, options)
  const fam = bytes[13]!
  const af = fam >> 4
  const proto = fam & 0x0f
  if (af > 3 || proto > 2) throw malformed(`v2 address family byte 0x${fam.toString(16)}`, options)
  const bodyLength = (bytes[14]! << 8) | bytes[15]!
  const length = 16 + bodyLength
  const max = options.maxHeaderBytes ?? PROXY_V2_DEFAULT_MAX_BYTES
  if (length > max) {
    throw new ProxyProtocolError(`PROXY v2 header of ${length} bytes exceeds the ${max}-byte limit`, { address: options.address, reason: 'too-large' })
  }
  const need = af === 1 ? 12 : af === 2 ? 36 : af === 3 ? 216 : 0
  if (bodyLength < need) throw malformed(`v2 address block of ${bodyLength} bytes, ${need} needed`, options)
  if (bytes.length < length) return { kind: 'incomplete' }
  // LOCAL: the proxy's own connection. UNSPEC family, unix sockets, or a
  // transport other than TCP: no client to name; the spec says to use the
  // socket's own endpoints.
  if (cmd === 0 || af === 0 || af === 3 || proto !== 1) return { kind: 'header', version: 2, length, command: 'local' }
  const at = 16
  if (af === 1) {
    const ip = (o: number) => `${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`
    return {
      kind: 'header',
      version: 2,
      length,
      command: 'proxy',
      source: { host: ip(at), port: (bytes[at + 8]! << 8) | bytes[at + 9]! },
      destination: { host: ip(at + 4), port: (bytes[at + 10]! << 8) | bytes[at + 11]! },
    }
  }
  const ip6 = (o: number) => {
    const groups: string[] = []
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[o + i]! << 8) | bytes[o + i + 1]!).toString(16))
    // An IPv4-mapped address is an IPv4 client (a dual-stack proxy).
    if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return `${bytes[o + 12]}.${bytes[o + 13]}.${bytes[o + 14]}.${bytes[o + 15]}`
    return compressIPv6(groups)
  }
  return {
    kind: 'header',
    version: 2,
    length,
    command: 'proxy',
    source: { host: ip6(at), port: (bytes[at + 32]! << 8) | bytes[at + 33]! },
    destination: { host: ip6(at + 16), port: (bytes[at + 34]! << 8) | bytes[at + 35]! },
  }
}

/** RFC 5952 text: the longest run (2+) of zero groups becomes `::`. */
function compressIPv6(groups: string[]): string {
  let bestAt = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen) {
      bestAt = i
      bestLen = j - i
    }
    i = j
  }
  if (bestAt === -1) return groups.join(':')
  return `${groups.slice(0, bestAt).join(':')}::${groups.slice(bestAt + bestLen).join(':')}`
}

/**
 * Which peers may send a PROXY header: addresses (`127.0.0.1`, `::1`) and
 * CIDR blocks (`10.0.0.0/8`, `fd00::/8`). Throws `TypeError` on an entry
 * that is neither. IPv4-mapped IPv6 peers match their IPv4 entries.
 */
export function trustedSources(entries: readonly string[]): (host: string) => boolean {
  const list = new BlockList()
  for (const entry of entries) {
    if (typeof entry !== 'string') throw new TypeError(`net: proxyProtocol.trusted entries must be strings, got ${typeof entry}`)
    const slash = entry.indexOf('/')
    const host = slash === -1 ? entry : entry.slice(0, slash)
    const type = isIPv4(host) ? 'ipv4' : isIPv6(host) && !host.includes('%') ? 'ipv6' : undefined
    if (type === undefined) throw new TypeError(`net: proxyProtocol.trusted entry ${JSON.stringify(entry)} is not an IP address or CIDR block`)
    if (slash === -1) {
      list.addAddress(host, type)
      continue
    }
    const prefixText = entry.slice(slash + 1)
    const prefix = Number(prefixText)
    if (!/^[0-9]{1,3}$/.test(prefixText) || prefix > (type === 'ipv4' ? 32 : 128)) {
      throw new TypeError(`net: proxyProtocol.trusted entry ${JSON.stringify(entry)} has a bad prefix length`)
    }
    list.addSubnet(host, prefix, type)
  }
  return (host) => {
    const h = unmapIPv4(host)
    if (isIPv4(h)) return list.check(h, 'ipv4')
    if (isIPv6(h)) return list.check(h, 'ipv6')
    return false
  }
}

export interface ProxyProtocolOptions {
  /**
   * Peers whose PROXY header is believed: addresses and CIDR blocks
   * (`['127.0.0.1', '::1', '10.0.0.0/8']`). A header from anyone else ends
   * the connection (`untrusted`).
   */
  trusted: readonly string[]
  /**
   * Whether every connection must start with a header. Default `true` (the
   * listener sits behind the proxy): connections from untrusted peers are
   * then refused at once, and a trusted one without a header is refused as
   * `missing`. With `false`, a connection without a header keeps the
   * socket's address; to tell, the listener waits for the first bytes (up
   * to `timeout`, then hands over a silent connection as it is), which
   * suits protocols where the client speaks first (shs, noise).
   */
  required?: boolean
  /** Milliseconds the header may take to arrive. Default 5000. */
  timeout?: number
  /** Cap on a v2 header's length (16 bytes + addresses + TLVs). Default 4096. */
  maxHeaderBytes?: number
}

export interface ProxyAcceptOptions {
  /** The connection as the socket sees it, for errors: `net:host:port`. */
  socketAddress: string
  /** The socket's peer host (what `trusted` is checked against). */
  peerHost: string
  isTrusted: (host: string) => boolean
  required: boolean
  timeout: number
  maxHeaderBytes: number
  /** Called once with the client's endpoint, or `undefined` to keep the socket's. */
  onAccept: (client: ProxyEndpoint | undefined) => void
  onError: ((error: ProxyProtocolError) => void) | undefined
}

/**
 * Reads the PROXY header off a freshly accepted socket, then calls
 * `onAccept` with the socket paused and every byte after the header put back
 * at the front of its buffer, so whoever takes the socket next reads the
 * connection's own data exactly as the client sent it. On any failure the
 * socket is destroyed and the error reported; nothing else is touched.
 */
export function acceptProxyHeader(socket: Socket, options: ProxyAcceptOptions): void {
  const { socketAddress: address, required, maxHeaderBytes } = options
  const trusted = options.isTrusted(options.peerHost)
  const fail = (reason: ProxyProtocolReason, message: string, cause?: unknown) => {
    // A late socket error must not go unhandled once our listeners are off.
    socket.on('error', () => {})
    socket.destroy()
    options.onError?.(cause !== undefined && ProxyProtocolError.is(cause) ? cause : new ProxyProtocolError(message, { address, reason }))
  }
  if (required && !trusted) {
    // Every connection must come through the proxy: no need to read a byte.
    fail('untrusted', `connection from ${address}, which is not a trusted proxy, refused: a PROXY header is required`)
    return
  }
  let received: Buffer = Buffer.alloc(0)
  let settled = false
  const finish = () => {
    settled = true
    clearTimeout(timer)
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('close', onEnd)
    socket.off('error', onSocketError)
  }
  const handOver = (client: ProxyEndpoint | undefined, rest: Buffer) => {
    finish()
    socket.pause()
    if (rest.length > 0) socket.unshift(rest)
    options.onAccept(client)
  }
  // After a LOCAL header with nothing behind it: a balancer's health check
  // (connect, header, close) unless data follows.
  let local = false
  const onData = (chunk: Buffer) => {
    if (settled) return
    if (local) return handOver(undefined, chunk)
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
    let result: ProxyParseResult
    try {
      result = parseProxyHeader(received, { address, maxHeaderBytes })
    } catch (error) {
      finish()
      fail('malformed', 'malformed PROXY header', error)
      return
    }
    if (result.kind === 'incomplete') return
    if (result.kind === 'none') {
      if (required) {
        finish()
        fail('missing', `connection from ${address} did not start with a PROXY header`)
      } else handOver(undefined, received)
      return
    }
    if (!trusted) {
      finish()
      fail('untrusted', `PROXY header from ${address}, which is not a trusted proxy`)
      return
    }
    const rest = received.subarray(result.length)
    if (result.command === 'local' && rest.length === 0) {
      local = true
      return
    }
    handOver(result.command === 'proxy' ? result.source : undefined, rest)
  }
  const onEnd = () => {
    if (settled) return
    finish()
    if (local || (received.length === 0 && !required)) {
      // Gone before saying anything (or a health check that said only
      // LOCAL): there is nothing to hand over, and nothing went wrong.
      socket.destroy()
      return
    }
    // A bare TCP connect and close (a proxy's plain health check).
    if (received.length === 0) return fail('missing', `connection from ${address} closed without a PROXY header`)
    fail('truncated', `connection from ${address} ended before its PROXY header was complete (${received.length} bytes)`)
  }
  const onSocketError = () => {
    // 'close' follows and reports; this only keeps the error from being unhandled.
  }
  const timer = setTimeout(() => {
    if (settled) return
    if (local || (received.length === 0 && !required)) {
      handOver(undefined, Buffer.alloc(0))
      return
    }
    finish()
    fail('timeout', `no complete PROXY header from ${address} within ${options.timeout} ms`)
  }, options.timeout)
  socket.on('data', onData)
  socket.on('end', onEnd)
  socket.on('close', onEnd)
  socket.on('error', onSocketError)
}
