import type { Segment } from '@ms/core'

/**
 * Where to dial: the parsed form of `ws://host:port/path` or
 * `wss://host:port/path`. Always canonical: `host` is lower case without
 * brackets, `port` is a number (80 or 443 when the address left it out) and
 * `path` starts with `/` (it may carry a `?query`).
 */
export interface WsAddress {
  /** `wss` (TLS) rather than `ws`. */
  secure: boolean
  host: string
  port: number
  path: string
}

export const DEFAULT_PORT = { ws: 80, wss: 443 } as const

/** Host names we accept: DNS-ish names and IPv4 (IPv6 is checked by URL itself). */
const LABEL = '[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?'
const HOST = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`)

/**
 * Characters a URL path may hold literally that the multiserver grammar
 * cannot carry unescaped (`!` `~` `;`): we percent-encode them, which means
 * the same to an HTTP server and keeps our addresses readable by the
 * original `multiserver`, whose separator parser would split on them.
 */
const UNSAFE_IN_ADDRESS = /[!~;]/g
const encodeUnsafe = (text: string) => text.replace(UNSAFE_IN_ADDRESS, (ch) => '%' + ch.charCodeAt(0).toString(16).toUpperCase())

/**
 * Canonical form of a path (and optional query): what WHATWG URL makes of
 * it, with `!~;` percent-encoded. Returns `null` for something that is not
 * a path (a fragment, a scheme, backslashes).
 */
function canonicalPathOnce(path: string): string | null {
  if (typeof path !== 'string' || /[#\\\s]/.test(path)) return null
  const withSlash = path.startsWith('/') ? path : '/' + path
  if (withSlash.startsWith('//')) return null
  try {
    const url = new URL(`ws://h${withSlash}`)
    if (url.host !== 'h') return null
    return encodeUnsafe(url.pathname + url.search)
  } catch {
    return null
  }
}

/** Canonical form of a path (see canonicalPathOnce); idempotent. */
export function canonicalPath(path: string): string | null {
  // One pass is not always a fixed point (URL parsing removes dot segments
  // that our own escaping can form again), and parse(stringify(o)) must give
  // o back: repeat until the path stops changing.
  let current = canonicalPathOnce(path)
  for (let i = 0; i < 4 && current !== null; i++) {
    const next = canonicalPathOnce(current)
    if (next === current) return current
    current = next
  }
  return current
}

/** The path part alone (no query), canonical; used for routing on the server. */
export function canonicalPathname(path: string): string | null {
  const full = canonicalPath(path)
  if (full === null) return null
  const q = full.indexOf('?')
  return q === -1 ? full : full.slice(0, q)
}

/**
 * Parses a segment: `ws` data `['//host', 'port/path']` (that is
 * `ws://host:port/path`), `wss` likewise, bracketed IPv6
 * (`ws://[::1]:8989`), and, tolerated on input, `ws:host:port` without
 * slashes. Returns `null` for anything else; never throws.
 */
export function parseWsSegment(segment: Segment): WsAddress | null {
  try {
    if (!segment || (segment.name !== 'ws' && segment.name !== 'wss') || !Array.isArray(segment.data)) return null
    if (segment.data.length === 0) return null
    let rest = segment.data.join(':')
    if (!rest.startsWith('//')) rest = '//' + rest
    // No credentials, fragments, backslashes or whitespace: an address names a place, nothing more.
    if (/[#\\\s]/.test(rest)) return null
    const url = new URL(`${segment.name}:${rest}`)
    if (url.username || url.password || url.hash) return null
    let host = url.hostname.toLowerCase()
    if (host.startsWith('[')) {
      host = host.slice(1, -1)
    } else if (!HOST.test(host)) {
      return null
    }
    if (host === '') return null
    const secure = segment.name === 'wss'
    const port = url.port === '' ? DEFAULT_PORT[secure ? 'wss' : 'ws'] : Number(url.port)
    if (!Number.isInteger(port) || port < 1 || port > 65535) return null
    const path = encodeUnsafe(url.pathname + url.search)
    return { secure, host, port, path }
  } catch {
    return null
  }
}

/** `ws://host:port/path`, without the port when it is the scheme's default and without a lone `/` path. */
export function formatWsUrl(address: WsAddress): string {
  const scheme = address.secure ? 'wss' : 'ws'
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  const port = address.port === DEFAULT_PORT[scheme] ? '' : `:${address.port}`
  const path = address.path === '/' || address.path === '' ? '' : address.path
  return `${scheme}://${host}${port}${path}`
}

/**
 * The segment for an address: `ws://h:1/p` is segment `ws` with data
 * `['//h', '1/p']`, which the grammar writes back as `ws://h:1/p`, exactly
 * what npm `multiserver` writes and reads.
 */
export function wsSegment(address: WsAddress): Segment {
  const url = formatWsUrl(address)
  const colon = url.indexOf(':')
  return { name: url.slice(0, colon), data: url.slice(colon + 1).split(':') }
}

/** Parses a URL string such as `wss://example.com/ms` (the same rules as a segment), or `null`. */
export function parseWsUrl(url: string): WsAddress | null {
  if (typeof url !== 'string') return null
  const colon = url.indexOf(':')
  if (colon === -1) return null
  return parseWsSegment({ name: url.slice(0, colon), data: url.slice(colon + 1).split(':') })
}
