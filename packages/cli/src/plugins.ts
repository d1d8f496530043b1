import type { Suite, Transform, Transport } from '@ms/core'
import { CliError, EXIT } from './errors.js'

/**
 * The plugins the CLI knows, loaded on demand so that one that is missing
 * or broken only disables the addresses that need it.
 */
export const KNOWN = {
  net: { kind: 'transport', package: '@ms/net', what: 'TCP' },
  unix: { kind: 'transport', package: '@ms/unix', what: 'unix domain socket' },
  ws: { kind: 'transport', package: '@ms/ws', what: 'WebSocket' },
  onion: { kind: 'transport', package: '@ms/onion', what: 'Tor onion service (through a SOCKS proxy)' },
  shs: { kind: 'transform', package: '@ms/shs', what: 'secret-handshake: authenticated encryption (SSB)' },
  noise: { kind: 'transform', package: '@ms/noise', what: 'Noise IK + secretstream: authenticated encryption in one round trip (Hyperswarm wire)' },
  noauth: { kind: 'transform', package: '@ms/noauth', what: 'no authentication, local connections only' },
} as const

export type PluginName = keyof typeof KNOWN

export interface Modules {
  net?: typeof import('@ms/net')
  unix?: typeof import('@ms/unix')
  ws?: typeof import('@ms/ws')
  onion?: typeof import('@ms/onion')
  shs?: typeof import('@ms/shs')
  noise?: typeof import('@ms/noise')
  noauth?: typeof import('@ms/noauth')
  /** Why a plugin could not be loaded, by name. */
  missing: Partial<Record<PluginName, string>>
}

const importers: { [K in PluginName]: () => Promise<NonNullable<Modules[K]>> } = {
  net: () => import('@ms/net'),
  unix: () => import('@ms/unix'),
  ws: () => import('@ms/ws'),
  onion: () => import('@ms/onion'),
  shs: () => import('@ms/shs'),
  noise: () => import('@ms/noise'),
  noauth: () => import('@ms/noauth'),
}
const cache = new Map<PluginName, Promise<unknown>>()

/**
 * Imports the named plugin packages (default: every known one) that are
 * installed. Only what an address needs is loaded, which keeps `ms connect`
 * quick to start.
 */
export async function loadModules(names: readonly string[] = Object.keys(KNOWN)): Promise<Modules> {
  const modules: Modules = { missing: {} }
  const wanted = [...new Set(names)].filter((n): n is PluginName => n in KNOWN)
  await Promise.all(
    wanted.map(async (name) => {
      let pending = cache.get(name)
      if (!pending) cache.set(name, (pending = importers[name]()))
      try {
        ;(modules as unknown as Record<string, unknown>)[name] = await pending
      } catch (error) {
        modules.missing[name] = error instanceof Error ? error.message.split('\n')[0]! : String(error)
      }
    }),
  )
  return modules
}

/** What the client-side plugins need to know. */
export interface ClientContext {
  /** Our key pair, for shs (ssb-keys object). */
  keys: { public: string; private: string }
  /** The network key, base64. */
  appKey: string
  /** SOCKS proxy for onion addresses, `host:port`. */
  socks?: string
  /** Per-dial connect timeout for transports that take one, in ms. */
  connectTimeout?: number
  /** Handshake timeout for shs and noise, in ms. */
  handshakeTimeout?: number
}

/** One dial-side instance of each installed plugin. */
export interface Plugins {
  transports: Partial<Record<PluginName, Transport>>
  transforms: Partial<Record<PluginName, Transform>>
  missing: Partial<Record<PluginName, string>>
}

/** Client-side instances of the named plugins (default: all known). */
export async function clientPlugins(ctx: ClientContext, names?: readonly string[]): Promise<Plugins> {
  const m = await loadModules(names)
  const transports: Plugins['transports'] = {}
  const transforms: Plugins['transforms'] = {}
  const timeout = ctx.connectTimeout
  if (m.net) transports.net = m.net.net(timeout ? { connectTimeout: timeout } : {}) as Transport
  if (m.unix) transports.unix = m.unix.unix(timeout ? { connectTimeout: timeout } : {}) as Transport
  if (m.ws) transports.ws = m.ws.ws({}) as Transport
  if (m.onion) {
    const options: Record<string, unknown> = {}
    if (ctx.socks) options.socks = ctx.socks
    if (timeout) options.connectTimeout = timeout
    transports.onion = m.onion.onion(options) as Transport
  }
  if (m.shs) {
    try {
      transforms.shs = m.shs.shs({
        keys: ctx.keys,
        appKey: ctx.appKey,
        ...(ctx.handshakeTimeout ? { timeout: ctx.handshakeTimeout } : {}),
      }) as Transform
    } catch (error) {
      throw new CliError(`cannot set up shs: ${(error as Error).message}`, EXIT.USAGE)
    }
  }
  if (m.noise) {
    try {
      // The same identity as shs; no network key (the wire of @hyperswarm/secret-stream).
      transforms.noise = m.noise.noise({ keys: ctx.keys, ...(ctx.handshakeTimeout ? { timeout: ctx.handshakeTimeout } : {}) }) as Transform
    } catch (error) {
      throw new CliError(`cannot set up noise: ${(error as Error).message}`, EXIT.USAGE)
    }
  }
  if (m.noauth) transforms.noauth = m.noauth.noauth() as Transform
  return { transports, transforms, missing: m.missing }
}

/** The default SSB network key, from @ms/shs (duplicated here so `ms parse` works without it). */
export const SSB_APP_KEY = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='

/**
 * For each alternative of a parsed address, the suite of installed plugins
 * named by its segments, or `null` when one is missing. Suites are
 * deduplicated by name so the MultiServer built from them stays small.
 */
export function suitesFor(alternatives: { name: string }[][], plugins: Plugins): Suite[] {
  const byName = new Map<string, Suite>()
  for (const alternative of alternatives) {
    const [head, ...rest] = alternative
    const transport = head && plugins.transports[head.name as PluginName]
    if (!transport) continue
    const transforms: Transform[] = []
    for (const segment of rest) {
      const transform = plugins.transforms[segment.name as PluginName]
      if (!transform) break
      transforms.push(transform)
    }
    if (transforms.length !== rest.length) continue
    const name = alternative.map((s) => s.name).join('~')
    if (!byName.has(name)) byName.set(name, [transport, ...transforms])
  }
  return [...byName.values()]
}
