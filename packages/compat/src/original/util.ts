import { networkInterfaces } from 'node:os'
import { isPrivate } from '@ms/core'


/**
 * Rejects options of the original plugin that we cannot honour, naming
 * them, rather than silently ignoring them. Options the original did not
 * have are ignored, as the original ignores them (secret-stack passes its
 * whole config entry, `transform` included).
 */
export function rejectUnsupported(plugin: string, options: Record<string, unknown>, unsupported: Record<string, string>): void {
  for (const [name, reason] of Object.entries(unsupported)) {
    if (options[name] !== undefined && options[name] !== false && options[name] !== null) {
      throw new TypeError(`multiserver/plugins/${plugin}: option "${name}" is not supported on ms: ${reason}`)
    }
  }
}

/** A port as the original accepts it (a number or a numeric string); 0 or absent means "any". */
export function portOption(plugin: string, value: unknown): number {
  if (value === undefined || value === null || value === '' || value === 0 || value === '0') return 0
  const port = typeof value === 'string' ? Number(value) : value
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`multiserver/plugins/${plugin}: option "port" must be a port number (1-65535), got ${JSON.stringify(value)}`)
  }
  return port
}

/** True when `scope` is, or is in, the plugin's scope option (the original's test). */
export function inScope(configured: unknown, scope: unknown): boolean {
  return configured === scope || (Array.isArray(configured) && configured.includes(scope))
}

/**
 * The host the original's `multiserver-scopes` picks for a scope:
 * `localhost` for device, this machine's first private address for
 * local/private, its first non-private one for public (IPv4 first), or
 * `undefined` when it has none. Throws on an unknown scope, as it does.
 */
export function scopeHost(scope: unknown): string | undefined {
  if (scope === 'device') return 'localhost'
  if (scope !== 'local' && scope !== 'private' && scope !== 'public') throw new Error('invalid scope: ' + String(scope))
  const wantPrivate = scope !== 'public'
  let v6: string | undefined
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (info.internal || isPrivate(info.address) !== wantPrivate) continue
      if (info.family === 'IPv4') return info.address
      v6 ??= info.address
    }
  }
  return v6
}

/** Sets `error.address`, also on errors whose property is read-only. */
export function setAddress<E>(error: E, address: string): E {
  const target = (error instanceof Error ? error : new Error(String(error))) as unknown as E & { address?: string }
  try {
    target.address = address
  } catch {
    Object.defineProperty(target, 'address', { value: address, configurable: true, enumerable: true, writable: true })
  }
  return target
}

/** The value as an Error (the original callbacks always get Errors). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
