import { networkInterfaces } from 'node:os'
import { scopeOfHost, stripZone } from '../scope.js'
import type { CanonicalScope } from '../types.js'

export interface InterfaceAddressOptions {
  /** Restrict to one family. Default: both. */
  family?: 'IPv4' | 'IPv6'
}

/**
 * This machine's IP addresses for a scope: loopback for `device`,
 * private-range interface addresses for `local`, the rest for `public`.
 * IPv6 zone suffixes are stripped. Node-only (`@ms/core/node`).
 */
export function interfaceAddresses(scope: CanonicalScope, options: InterfaceAddressOptions = {}): string[] {
  const out: string[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const raw = info.family as string | number
      const family = raw === 6 || raw === 'IPv6' ? 'IPv6' : 'IPv4'
      if (options.family && family !== options.family) continue
      const host = stripZone(info.address)
      if (scopeOfHost(host) === scope && !out.includes(host)) out.push(host)
    }
  }
  return out
}
