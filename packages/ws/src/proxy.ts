import { BlockList, isIP } from 'node:net'
import type { IncomingMessage } from 'node:http'
import { stripZone, unmapIPv4 } from '@ms/core'

/** Which peers may tell us, through forwarding headers, who the real client is. */
export type TrustedProxies = readonly string[] | ((address: string) => boolean)

/** A predicate from a list of addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `fd00::/8`). */
export function trustPredicate(trusted: TrustedProxies | undefined): (address: string) => boolean {
  if (trusted === undefined) return () => false
  if (typeof trusted === 'function') return trusted
  const list = new BlockList()
  for (const entry of trusted) {
    const [ip, prefix, extra] = String(entry).trim().split('/')
    const family = isIP(ip ?? '')
    if (!ip || family === 0 || extra !== undefined) throw new TypeError(`trustedProxies: ${JSON.stringify(entry)} is not an IP address or CIDR range`)
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(ip, type)
    else {
      const bits = Number(prefix)
      if (!/^\d+$/.test(prefix) || bits > (family === 6 ? 128 : 32)) throw new TypeError(`trustedProxies: bad prefix in ${JSON.stringify(entry)}`)
      list.addSubnet(ip, bits, type)
    }
  }
  return (address) => {
    const family = isIP(address)
    if (family === 0) return false
    // An IPv4 client seen through an IPv6 socket matches IPv4 rules (unmapIPv4 did that already).
    return list.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }
}

export interface Peer {
  host: string
  /** Unknown when it came from X-Forwarded-For, which carries no port. */
  port: number | undefined
  forwarded: boolean
}

/** The peer's IP as the socket reports it, IPv4-mapped IPv6 unmapped and any zone removed. */
export function normaliseIp(address: string | undefined): string {
  return unmapIPv4(stripZone(address ?? ''))
}

/**
 * The client's address. The socket's peer is believed unless it is a
 * trusted proxy; then its forwarding header is read from the nearest hop
 * outwards, stopping at the first hop that is not itself trusted (a client
 * can write anything into the header, so hops beyond an untrusted one are
 * worthless). `Forwarded` (RFC 7239) wins over `X-Forwarded-For`.
 */
export function clientPeer(req: IncomingMessage, isTrusted: (address: string) => boolean): Peer {
  const socketHost = normaliseIp(req.socket.remoteAddress)
  let peer: Peer = { host: socketHost, port: req.socket.remotePort, forwarded: false }
  if (!isTrusted(socketHost)) return peer
  const hops = forwardedHops(req)
  while (hops.length > 0 && isTrusted(peer.host)) {
    const hop = hops.pop()!
    if (isIP(hop.host) === 0) break // `unknown`, obfuscated names: stop at the proxy
    peer = { host: hop.host, port: hop.port, forwarded: true }
  }
  return peer
}

function forwardedHops(req: IncomingMessage): { host: string; port: number | undefined }[] {
  const forwarded = req.headers.forwarded
  if (typeof forwarded === 'string' && forwarded.trim() !== '') {
    const hops: { host: string; port: number | undefined }[] = []
    for (const element of forwarded.split(',')) {
      const pair = element
        .split(';')
        .map((p) => p.trim())
        .find((p) => p.toLowerCase().startsWith('for='))
      if (!pair) {
        hops.push({ host: 'unknown', port: undefined })
        continue
      }
      hops.push(splitHostPort(pair.slice(4).replace(/^"|"$/g, '')))
    }
    return hops
  }
  const xff = req.headers['x-forwarded-for']
  const value = Array.isArray(xff) ? xff.join(',') : xff
  if (!value) return []
  return value
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '')
    .map((h) => ({ host: normaliseIp(h.replace(/^\[|\]$/g, '')), port: undefined }))
}

function splitHostPort(text: string): { host: string; port: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  if (bracketed) return { host: normaliseIp(bracketed[1]), port: bracketed[2] ? Number(bracketed[2]) : undefined }
  const v4 = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(text)
  if (v4) return { host: v4[1]!, port: v4[2] ? Number(v4[2]) : undefined }
  return { host: normaliseIp(text), port: undefined }
}
