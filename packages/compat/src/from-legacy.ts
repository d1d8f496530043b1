import {
  AbortError,
  DialError,
  HandshakeError,
  ListenError,
  MsError,
  appendSegment,
  isMsError,
  type CanonicalScope,
  type Connection,
  type ConnectionInfo,
  type Segment,
  type Transform,
  type Transport,
  type TransportListener,
} from '@ms/core'
import { legacySegment } from './legacy.js'
import { describe, isMsTransform, isMsTransport, isOriginalTransform, isOriginalTransport } from './original/from-ms.js'
import type { Callback, OriginalStream, OriginalTransform, OriginalTransport } from './original/types.js'
import { fromPullDuplex, toPullDuplex } from './pull.js'

/** The dial options of a transport or transform made by `fromLegacyPlugin`: what the plugin's `parse` returned, and the text it parsed. */
export interface LegacyDialOptions {
  text: string
  options: unknown
}

export interface FromLegacyPluginOptions {
  /** Streams handed to a transform plugin keep their directions independent (see `toPullDuplex`). Default `false`. */
  allowHalfOpen?: boolean
}

/** The text of a segment as the original plugins read and write it (compose removed the escapes). */
function segmentText(segment: Segment): string {
  return [segment.name, ...segment.data].join(':')
}

function parseWith(plugin: { parse?: (text: string) => unknown }, segment: Segment): LegacyDialOptions | null {
  if (typeof plugin.parse !== 'function') return null
  const text = segmentText(segment)
  try {
    const options = plugin.parse(text)
    return options ? { text, options } : null
  } catch {
    return null
  }
}

/** The scope names the original plugins use for one of ours (`local` is also `private`). */
function legacyScopes(scope: CanonicalScope): string[] {
  return scope === 'local' ? ['local', 'private'] : [scope]
}

/**
 * An original-style plugin (what `require('multiserver/plugins/net')(opts)`
 * returns, a third-party one, or one of `@ms/compat/plugins/*`) as an ms
 * Transport (it has `server`/`client`) or Transform (it has `create`), for
 * `createMultiServer` and compat's `MultiServer`. Our own transports and
 * transforms are returned as they are; anything else is a `TypeError`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function fromLegacyPlugin<T extends Transport<any> | Transform<any>>(plugin: T, options?: FromLegacyPluginOptions): T
export function fromLegacyPlugin(plugin: OriginalTransport, options?: FromLegacyPluginOptions): Transport<LegacyDialOptions>
export function fromLegacyPlugin(plugin: OriginalTransform, options?: FromLegacyPluginOptions): Transform<LegacyDialOptions>
export function fromLegacyPlugin(plugin: unknown, options?: FromLegacyPluginOptions): Transport<unknown> | Transform<unknown>
export function fromLegacyPlugin(plugin: unknown, options: FromLegacyPluginOptions = {}): Transport<unknown> | Transform<unknown> {
  if (isMsTransport(plugin) || isMsTransform(plugin)) return plugin
  if (isOriginalTransform(plugin)) return fromLegacyTransform(plugin, options)
  if (isOriginalTransport(plugin)) return fromLegacyTransport(plugin)
  throw new TypeError(`fromLegacyPlugin: expected an ms Transport or Transform, or an original-style multiserver plugin (server/client, or create), got ${describe(plugin)}`)
}

function pluginName(plugin: { name?: unknown }): string {
  if (typeof plugin.name !== 'string' || plugin.name === '' || /[~;:!]/.test(plugin.name)) {
    throw new TypeError(`fromLegacyPlugin: a plugin needs a name (a segment name without ~ ; : !), got ${JSON.stringify(plugin.name)}`)
  }
  return plugin.name
}

function fromLegacyTransport(plugin: OriginalTransport): Transport<LegacyDialOptions> {
  const name = pluginName(plugin)

  /** What the plugin advertises in `scope`: its own `stringify`, where its `scope()` includes it. */
  function advertised(scope: CanonicalScope): Segment[] {
    let configured: unknown
    try {
      configured = typeof plugin.scope === 'function' ? plugin.scope() : undefined
    } catch {
      return []
    }
    const names = legacyScopes(scope).filter((s) => (Array.isArray(configured) ? configured.includes(s) : configured === s))
    if (names.length === 0 || typeof plugin.stringify !== 'function') return []
    let text: unknown
    try {
      text = plugin.stringify(names[0])
    } catch {
      return []
    }
    if (typeof text !== 'string' || text === '') return []
    return text
      .split(';')
      .map((part) => legacySegment(part))
      .filter((s): s is Segment => s !== null)
  }

  function dial(target: LegacyDialOptions, { signal }: { signal?: AbortSignal } = {}): Promise<Connection> {
    const address = target.text
    if (signal?.aborted) return Promise.reject(isMsError(signal.reason) ? signal.reason : new AbortError(undefined, { address }))
    if (typeof plugin.client !== 'function') return Promise.reject(new DialError(`${name}: this plugin cannot dial`, { address, code: 'ENOTSUP' }))
    return new Promise<Connection>((resolve, reject) => {
      let settled = false
      let abort: unknown
      const onAbort = () => {
        if (settled) return
        settled = true
        if (typeof abort === 'function') (abort as () => void)()
        reject(isMsError(signal!.reason) ? signal!.reason : new AbortError('the dial was aborted', { address }))
      }
      const cb: Callback<OriginalStream> = (error, stream) => {
        if (settled) {
          // Connected after an abort: nothing may stay open.
          if (!error && stream) stream.source(true, () => {})
          return
        }
        settled = true
        signal?.removeEventListener('abort', onAbort)
        if (error || !stream) {
          const code = (error as { code?: unknown } | null)?.code
          return reject(isMsError(error) ? error : new DialError(`${name}: ${error?.message ?? 'no stream'}`, { address, cause: error, ...(typeof code === 'string' ? { code } : {}) }))
        }
        resolve(fromPullDuplex(stream as never, { remoteAddress: typeof stream.address === 'string' && stream.address ? stream.address : address, direction: 'outbound' }))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        abort = plugin.client(target.options, cb)
      } catch (error) {
        cb(error instanceof Error ? error : new Error(String(error)))
      }
    })
  }

  const transport: Transport<LegacyDialOptions> = {
    name,
    parse: (segment) => parseWith(plugin, segment),
    stringify: (target) => legacySegment(target.text) ?? { name, data: [] },
    dial,
    configuredAddresses: advertised,
  }

  if (typeof plugin.server === 'function') {
    transport.listen = (onConnection, { signal, onError } = {}) =>
      new Promise<TransportListener>((resolve, reject) => {
        let done = false
        let close: unknown
        const listener: TransportListener = {
          addresses: advertised,
          close: () =>
            new Promise<void>((closed) => {
              if (typeof close !== 'function') return closed()
              if ((close as (cb?: unknown) => void).length > 0) (close as (cb: () => void) => void)(() => closed())
              else {
                ;(close as () => void)()
                closed()
              }
            }),
        }
        const started = (error?: Error | null) => {
          if (done) return
          done = true
          if (error) {
            void listener.close()
            const code = (error as { code?: unknown }).code
            return reject(new ListenError(`${name}: ${error.message}`, { address: name, cause: error, ...(typeof code === 'string' ? { code } : {}) }))
          }
          if (signal?.aborted) {
            void listener.close()
            return reject(new AbortError('the listener was closed while starting', { address: name }))
          }
          signal?.addEventListener('abort', () => void listener.close(), { once: true })
          resolve(listener)
        }
        const onConnect = (stream: OriginalStream) => {
          try {
            onConnection(fromPullDuplex(stream as never, { remoteAddress: typeof stream.address === 'string' && stream.address ? stream.address : name, direction: 'inbound' }))
          } catch (error) {
            onError?.(isMsError(error) ? error : new MsError(String(error), { address: stream.address, cause: error }))
          }
        }
        const server = plugin.server as (...args: unknown[]) => unknown
        // A composed plugin takes (onConnect, onError, startedCb); a transport (onConnect, startedCb).
        if (server.length >= 3) close = server.call(plugin, onConnect, (error: Error) => onError?.(asMsError(error)), started)
        else close = server.call(plugin, onConnect, started)
        // A plugin that takes no callback has started when server() returns.
        if (server.length < 2) started(null)
      })
  }
  return transport
}

function asMsError(error: unknown): MsError {
  if (isMsError(error)) return error
  const address = (error as { address?: unknown } | null)?.address
  return new MsError(error instanceof Error ? error.message : String(error), { cause: error, ...(typeof address === 'string' ? { address } : {}) })
}

function fromLegacyTransform(plugin: OriginalTransform, options: FromLegacyPluginOptions): Transform<LegacyDialOptions> {
  const name = pluginName(plugin)

  function upgrade(connection: Connection, dial: LegacyDialOptions | undefined, signal: AbortSignal | undefined): Promise<Connection> {
    const direction = dial ? 'outbound' : 'inbound'
    return new Promise<Connection>((resolve, reject) => {
      let settled = false
      const onAbort = () => {
        if (settled) return
        settled = true
        reject(isMsError(signal!.reason) ? signal!.reason : new AbortError('the upgrade was aborted', { address: connection.remoteAddress }))
      }
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      const cb: Callback<OriginalStream> = (error, stream) => {
        if (settled) return
        settled = true
        signal?.removeEventListener('abort', onAbort)
        if (error || !stream) {
          // Outbound: the address dialled. Inbound: what the plugin could tell (the original's `shs:`).
          const part = dial ? dial.text : (error as { address?: unknown } | null)?.address
          return reject(
            new HandshakeError(`${name}: ${error?.message ?? 'no stream'}`, {
              address: typeof part === 'string' && part ? `${connection.remoteAddress}~${part}` : connection.remoteAddress,
              cause: error,
              stage: direction,
            }),
          )
        }
        const segment = (typeof stream.address === 'string' && legacySegment(stream.address)) || { name, data: [] }
        const info = { ...connection.info, [name]: { ...(stream.remote ? { publicKey: stream.remote } : {}), ...(stream.auth !== undefined ? { authorization: stream.auth } : {}) } } as ConnectionInfo
        resolve(fromPullDuplex(stream as never, { remoteAddress: appendSegment(connection.remoteAddress, segment), direction, info }))
      }
      try {
        const duplex = toPullDuplex(connection, { allowHalfOpen: options.allowHalfOpen === true })
        plugin.create(dial?.options)(duplex as never, cb)
      } catch (error) {
        cb(error instanceof Error ? error : new Error(String(error)))
      }
    })
  }

  return {
    name,
    parse: (segment) => parseWith(plugin, segment),
    advertise(scope) {
      let text: unknown
      try {
        text = plugin.stringify?.(legacyScopes(scope)[0])
      } catch {
        text = undefined
      }
      return (typeof text === 'string' && legacySegment(text)) || { name, data: [] }
    },
    upgradeOutbound: (connection, dial, { signal } = {}) => upgrade(connection, dial, signal),
    upgradeInbound: (connection, { signal } = {}) => upgrade(connection, undefined, signal),
  }
}
