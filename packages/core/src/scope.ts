import type { CanonicalScope, Scope } from './types.js'

const SCOPES: ReadonlySet<string> = new Set(['device', 'local', 'private', 'public'])

/** Resolves `private` to `local`; throws `TypeError` on anything unknown. */
export function canonicalScope(scope: Scope): CanonicalScope {
  if (!SCOPES.has(scope)) throw new TypeError(`unknown scope ${JSON.stringify(scope)}; use device, local, private or public`)
  return scope === 'private' ? 'local' : (scope as CanonicalScope)
}

/** Normalises a scope option that may be one scope or a list. */
export function scopeList(scope: Scope | readonly Scope[] | undefined, fallback: Scope): CanonicalScope[] {
  const list = scope === undefined ? [fallback] : Array.isArray(scope) ? scope : [scope as Scope]
  return [...new Set(list.map(canonicalScope))]
}

/** Removes an IPv6 zone suffix: `fe80::1%eth0` becomes `fe80::1`. */
export function stripZone(host: string): string {
  const i = host.indexOf('%')
  return i === -1 ? host : host.slice(0, i)
}

/** `::ffff:1.2.3.4` becomes `1.2.3.4`; anything else is returned unchanged. */
export function unmapIPv4(host: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  return m ? m[1]! : host
}

function ipv4Parts(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  if (!m) return null
  const parts = m.slice(1).map(Number)
  return parts.every((p) => p <= 255) ? parts : null
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(host: string): boolean {
  const h = unmapIPv4(stripZone(host))
  const v4 = ipv4Parts(h)
  if (v4) return v4[0] === 127
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.toLowerCase() === 'localhost'
}

/**
 * True for addresses that are not routable on the internet: RFC 1918,
 * link-local, carrier-grade NAT, IPv6 unique-local and link-local.
 */
export function isPrivate(host: string): boolean {
  const h = unmapIPv4(stripZone(host)).toLowerCase()
  const v4 = ipv4Parts(h)
  if (v4) {
    const [a, b] = v4 as [number, number]
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127)
  }
  return /^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h)
}

/** The scope an IP address belongs to. */
export function scopeOfHost(host: string): CanonicalScope {
  if (isLoopback(host)) return 'device'
  if (isPrivate(host)) return 'local'
  return 'public'
}

/** True for `0.0.0.0`, `::` and friends: a bind to every interface. */
export function isWildcardHost(host: string | undefined): boolean {
  return host === undefined || host === '' || host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0'
}
