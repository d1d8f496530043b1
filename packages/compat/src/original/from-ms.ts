import type { Transform, Transport } from '@ms/core'
import { legacyPlugin } from '../legacy.js'
import type { OriginalTransform, OriginalTransport } from './types.js'

export function isMsTransform(plugin: unknown): plugin is Transform<unknown> {
  const p = plugin as Transform | null
  return !!p && typeof p === 'object' && typeof p.upgradeInbound === 'function' && typeof p.upgradeOutbound === 'function' && typeof p.parse === 'function'
}

export function isMsTransport(plugin: unknown): plugin is Transport<unknown> {
  const p = plugin as Transport | null
  return !!p && typeof p === 'object' && typeof p.dial === 'function' && typeof p.parse === 'function' && !isMsTransform(p)
}

/** An original-style transport: has `server` or `client` (the original calls nothing else without checking). */
export function isOriginalTransport(plugin: unknown): plugin is OriginalTransport {
  const p = plugin as Partial<OriginalTransport> | null
  return !!p && typeof p === 'object' && !isMsTransport(p) && !isMsTransform(p) && (typeof p.server === 'function' || typeof p.client === 'function')
}

/** An original-style transform: has `create`. */
export function isOriginalTransform(plugin: unknown): plugin is OriginalTransform {
  const p = plugin as Partial<OriginalTransform> | null
  return !!p && typeof p === 'object' && !isMsTransform(p) && typeof p.create === 'function'
}

/**
 * A plugin for the original's compose and MultiServer: original-style ones
 * as they are, ms transports and transforms through `legacyPlugin`.
 * Anything else is a TypeError, rather than a plugin that silently does nothing.
 */
export function toOriginalPlugin(plugin: unknown, kind: 'transport' | 'transform', where: string): OriginalTransport | OriginalTransform {
  if (kind === 'transport') {
    if (isMsTransport(plugin)) return legacyPlugin(plugin) as unknown as OriginalTransport
    if (isOriginalTransport(plugin)) return plugin
    throw new TypeError(`${where} is not a transport: expected an ms Transport or an original-style plugin with server()/client(), got ${describe(plugin)}`)
  }
  if (isMsTransform(plugin)) return legacyPlugin(plugin) as unknown as OriginalTransform
  if (isOriginalTransform(plugin)) return plugin
  throw new TypeError(`${where} is not a transform: expected an ms Transform or an original-style plugin with create(), got ${describe(plugin)}`)
}

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value !== 'object') return typeof value
  const keys = Object.keys(value as object)
  return keys.length ? `an object with ${keys.slice(0, 6).join(', ')}` : 'an empty object'
}
