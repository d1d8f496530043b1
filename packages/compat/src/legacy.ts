import {
  AbortError,
  MsError,
  canonicalScope,
  isMsError,
  type CanonicalScope,
  type Connection,
  type Scope,
  type Segment,
  type Transform,
  type Transport,
  type TransportListener,
} from '@ms/core'
import { asBuffer, fromPullDuplex, takeConnection, toPullDuplex, type LegacyStream, type PullDuplex } from './pull.js'
import { CloseLatch } from './close-latch.js'

/** A scope as the original plugins report it from `scope()`. */
export type LegacyScope = string | readonly string[]

export type LegacyCallback<T> = (error: Error | null, value?: T) => void
/** `close(cb?)`, as the original plugins' `server()` returns it. */
export type LegacyClose = (cb?: (error?: Error | null) => void) => void

/** An original-style transport plugin (what `require('multiserver/plugins/net')(opts)` returns). */
export interface LegacyTransportPlugin {
  readonly name: string
  scope(): LegacyScope
  /**
   * Starts the listener. Called as `server(onConnect, startedCb)` by the
   * original's compose, or `server(onConnect, onError, startedCb)` by its
   * MultiServer for bare plugins; both work.
   */
  server(onConnect: (stream: LegacyStream) => void, onErrorOrStarted?: ((error: Error) => void) | LegacyCallback<unknown>, startedCb?: LegacyCallback<unknown>): LegacyClose
  /** Dials; returns a function that aborts the attempt, or closes the stream once connected. */
  client(options: unknown, cb: LegacyCallback<LegacyStream>): () => void
  /** One `~`-part of an address, with the `!` escapes already removed (as compose passes it), or `null`. */
  parse(text: string): unknown
  /** The `;`-joined addresses of the running listener in `scope`, or `null`. */
  stringify(scope?: string): string | null
}

/** An original-style transform plugin (what `require('multiserver/plugins/shs')(opts)` returns). */
export interface LegacyTransformPlugin {
  readonly name: string
  /** With options (from `parse`): the client side. Without: the server side. */
  create(options?: unknown): (stream: PullDuplex & { address?: string }, cb: LegacyCallback<LegacyStream>) => void
  parse(text: string): unknown
  stringify(scope?: string): string | null
  /** The transform's public key, when it has one (shs does), as a Buffer. */
  readonly publicKey?: Uint8Array
}

export interface LegacyTransportOptions {
  /**
   * What `scope()` returns, exactly as given: secret-stack checks that a
   * transport "remembers" the scope it was created with by identity.
   * Default: every scope; the transport's own listener decides what it
   * advertises where.
   */
  scope?: LegacyScope
  /**
   * Failures that concern one accepted connection (the original plugins
   * print them). Also used when `server()` is given no callbacks.
   */
  onError?: (error: MsError) => void
  /** Streams keep their directions independent (see `toPullDuplex`). Default `false`, like the original. */
  allowHalfOpen?: boolean
}

export interface LegacyTransformOptions {
  /**
   * `stream.remote` for transforms that do not authenticate a key (e.g.
   * `noauth`, whose original sets our own public key there).
   */
  remote?: Uint8Array
  /** Streams keep their directions independent (see `toPullDuplex`). Default `false`, like the original. */
  allowHalfOpen?: boolean
}

const ALL_SCOPES: readonly string[] = Object.freeze(['device', 'local', 'private', 'public'])

/**
 * The connection under a legacy stream: our own when the stream is one
 * `toPullDuplex` made and nobody has used or wrapped it (a transform
 * stacked on it then takes the fast path), else an adapter over the pull side.
 */
function connectionOf(stream: PullDuplex & { address?: string }, direction: 'inbound' | 'outbound'): Connection {
  const connection = takeConnection(stream)
  if (!connection) return fromPullDuplex(stream as PullDuplex<Uint8Array, unknown>, { remoteAddress: stream.address, direction })
  if (typeof stream.address !== 'string' || stream.address === connection.remoteAddress) return connection
  return renamed(connection, stream.address)
}

/**
 * The same connection under another address. Its streams stay lazy and its
 * channel (if any) stays available, so a transform stacked on it still
 * takes the fast path.
 */
function renamed(connection: Connection, remoteAddress: string): Connection {
  const out: { -readonly [K in keyof Connection]: Connection[K] } = {
    get readable() {
      return connection.readable
    },
    get writable() {
      return connection.writable
    },
    remoteAddress,
    direction: connection.direction,
    info: connection.info,
    close: (reason?: unknown) => connection.close(reason),
    closed: connection.closed,
  }
  if (connection.takeChannel) out.takeChannel = () => connection.takeChannel!()
  if (connection.halfClose !== undefined) out.halfClose = connection.halfClose
  return out
}

/**
 * One `~`-part of an address as the original passes it to `parse` (escapes
 * already removed by compose), as a segment.
 */
export function legacySegment(text: unknown): Segment | null {
  if (typeof text !== 'string' || text.length === 0) return null
  const [name, ...data] = text.split(':')
  return name ? { name, data } : null
}

/** A segment as the original plugins' `stringify` writes it: unescaped (compose escapes). */
function legacyText(segment: Segment): string {
  return [segment.name, ...segment.data].join(':')
}

function scopeOf(scope: string | undefined): CanonicalScope | null {
  try {
    return canonicalScope((scope ?? 'device') as Scope)
  } catch {
    return null
  }
}

function safeParse(plugin: { parse(segment: Segment): unknown }, text: unknown): unknown {
  const segment = legacySegment(text)
  if (!segment) return null
  try {
    return plugin.parse(segment) ?? null
  } catch {
    return null
  }
}

function safeConfigured(transport: Transport<unknown>, scope: CanonicalScope): Segment[] | undefined {
  try {
    return transport.configuredAddresses?.(scope)
  } catch {
    return undefined
  }
}

function isTransform(plugin: Transport<unknown> | Transform<unknown>): plugin is Transform<unknown> {
  return typeof (plugin as Transform).upgradeInbound === 'function' && typeof (plugin as Transform).upgradeOutbound === 'function'
}

/** Sets the address an error reports, as the original's compose expects to find it. */
function withAddress(error: unknown, address: string): Error {
  const out = error instanceof Error ? error : new MsError(String(error), { cause: error })
  try {
    ;(out as { address?: string }).address = address
  } catch {
    Object.defineProperty(out, 'address', { value: address, configurable: true, enumerable: true, writable: true })
  }
  return out
}

/** The part of `full` after `inner~`, i.e. what one transform added. */
function added(full: string | undefined, inner: string, fallback: string): string {
  if (typeof full !== 'string' || full === '') return fallback
  if (full.startsWith(inner + '~')) return full.slice(inner.length + 1)
  if (full === inner) return fallback
  return full
}

/**
 * Wraps one of our transports or transforms as an original multiserver
 * plugin, for `require('multiserver')([...])` or secret-stack's
 * `api.multiserver.transport({ name, create: (opts) => legacyPlugin(...) })`
 * and `api.multiserver.transform({ name, create: () => legacyPlugin(...) })`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function legacyPlugin(transform: Transform<any>, options?: LegacyTransformOptions): LegacyTransformPlugin
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function legacyPlugin(transport: Transport<any>, options?: LegacyTransportOptions): LegacyTransportPlugin
export function legacyPlugin(
  plugin: Transport<unknown> | Transform<unknown>,
  options: LegacyTransportOptions & LegacyTransformOptions = {},
): LegacyTransportPlugin | LegacyTransformPlugin {
  if (!plugin || typeof plugin.name !== 'string' || typeof plugin.parse !== 'function') {
    throw new TypeError('legacyPlugin needs an ms Transport or Transform')
  }
  if (isTransform(plugin)) return legacyTransform(plugin, options)
  if (typeof (plugin as Transport).dial !== 'function') throw new TypeError('legacyPlugin: a Transport needs dial()')
  return legacyTransport(plugin as Transport<unknown>, options)
}

function legacyTransport(transport: Transport<unknown>, options: LegacyTransportOptions): LegacyTransportPlugin {
  const scope = options.scope ?? ALL_SCOPES
  const report = options.onError ?? (() => {})
  // The running listeners, newest last; `stringify` reports the newest.
  const listeners: TransportListener[] = []

  function server(
    onConnect: (stream: LegacyStream) => void,
    onErrorOrStarted?: ((error: Error) => void) | LegacyCallback<unknown>,
    startedCb?: LegacyCallback<unknown>,
  ): LegacyClose {
    // `(onConnect, startedCb)` from compose; `(onConnect, onError, startedCb)` from a bare MultiServer.
    const threeArgs = typeof startedCb === 'function'
    const started = (threeArgs ? startedCb : onErrorOrStarted) as LegacyCallback<unknown> | undefined
    const onError = (threeArgs ? (onErrorOrStarted as (error: Error) => void) : undefined) ?? report
    let listener: TransportListener | undefined
    const closing = new CloseLatch()
    const finishClose = closing.finish
    const lifetime = new AbortController()

    if (!transport.listen) {
      // Dial-only (e.g. onion dialling): nothing to start, so report started.
      queueMicrotask(() => started?.(null))
      return function closeDialOnly(cb) {
        if (cb) queueMicrotask(() => cb(null))
      }
    }

    transport
      .listen(
        (connection) => {
          if (closing.requested) return void connection.close()
          try {
            onConnect(toPullDuplex(connection, { allowHalfOpen: options.allowHalfOpen }))
          } catch (error) {
            void connection.close(error)
            onError(isMsError(error) ? error : new MsError(`onConnect threw: ${String(error)}`, { address: connection.remoteAddress, cause: error }))
          }
        },
        { signal: lifetime.signal, onError: (error) => onError(error) },
      )
      .then(
        (l) => {
          listener = l
          if (closing.requested) return void l.close().then(finishClose, finishClose)
          listeners.push(l)
          started?.(null, true)
        },
        (error: unknown) => {
          // Closed before it was up: nothing failed, the close simply won.
          if (closing.requested) return finishClose()
          // A failed start is reported once, to the started callback if any.
          const err = error instanceof Error ? error : new MsError(String(error))
          if (started) started(err)
          else onError(err as MsError)
          finishClose()
        },
      )

    return function closeServer(cb) {
      if (!closing.request(cb)) return
      // Stops a listen still in progress (e.g. an onion service being published).
      lifetime.abort(new AbortError('the server was closed while starting'))
      if (listener) {
        const l = listener
        const index = listeners.indexOf(l)
        if (index >= 0) listeners.splice(index, 1)
        l.close().then(finishClose, finishClose)
      }
      // Not listening yet: the listen result closes it when it arrives.
    }
  }

  function client(dialOptions: unknown, cb: LegacyCallback<LegacyStream>): () => void {
    const parsed = typeof dialOptions === 'string' ? safeParse(transport, dialOptions) : dialOptions
    const controller = new AbortController()
    let connection: Connection | undefined
    let settled = false
    const settle = (error: Error | null, stream?: LegacyStream) => {
      if (settled) return
      settled = true
      cb(error, stream)
    }
    if (parsed === null || parsed === undefined) {
      queueMicrotask(() => settle(new MsError(`${transport.name}: could not parse address ${String(dialOptions)}`, { address: String(dialOptions) })))
      return () => {}
    }
    transport.dial(parsed, { signal: controller.signal }).then(
      (c) => {
        if (controller.signal.aborted) {
          void c.close()
          return settle(new AbortError('the dial was aborted', { address: c.remoteAddress }))
        }
        connection = c
        settle(null, toPullDuplex(c, { allowHalfOpen: options.allowHalfOpen }))
      },
      (error: unknown) => settle(error instanceof Error ? error : new MsError(String(error), { cause: error })),
    )
    return function abort() {
      if (connection) void connection.close(new AbortError('closed by the caller', { address: connection.remoteAddress }))
      else controller.abort(new AbortError('the dial was aborted'))
    }
  }

  function stringify(scope?: string): string | null {
    const canonical = scopeOf(scope)
    const listener = listeners[listeners.length - 1]
    if (!canonical) return null
    // Not listening: what the options already fix (nothing for port 0).
    const segments = listener ? listener.addresses(canonical) : (safeConfigured(transport, canonical) ?? [])
    return segments.length > 0 ? segments.map(legacyText).join(';') : null
  }

  return {
    name: transport.name,
    scope: () => scope,
    server,
    client,
    parse: (text: string) => safeParse(transport, text),
    stringify,
  }
}

function legacyTransform(transform: Transform<unknown>, options: LegacyTransformOptions): LegacyTransformPlugin {
  const name = transform.name
  const publicKey = (transform as { publicKey?: unknown }).publicKey
  const plugin: LegacyTransformPlugin = {
    name,
    create(dialOptions?: unknown) {
      const outbound = dialOptions !== undefined && dialOptions !== null
      return function legacyTransformStream(stream, cb) {
        let inner: Connection
        try {
          inner = connectionOf(stream, outbound ? 'outbound' : 'inbound')
        } catch (error) {
          return cb(withAddress(error, `${name}:`))
        }
        const upgrading = outbound ? transform.upgradeOutbound(inner, dialOptions, {}) : transform.upgradeInbound(inner, {})
        upgrading.then(
          (connection) => {
            const address = added(connection.remoteAddress, inner.remoteAddress, `${name}:`)
            const out = toPullDuplex(connection, { address, allowHalfOpen: options.allowHalfOpen, ...(options.remote ? { remote: asBuffer(options.remote) } : {}) })
            cb(null, out)
          },
          (error: unknown) => {
            // The transform contract leaves closing the inner connection to us.
            void inner.close(error)
            const address = added((error as { address?: string } | null)?.address, inner.remoteAddress, `${name}:`)
            cb(withAddress(error, address))
          },
        )
      }
    },
    parse: (text: string) => safeParse(transform, text),
    stringify(scope?: string) {
      const canonical = scopeOf(scope)
      return canonical ? legacyText(transform.advertise(canonical)) : null
    },
  }
  if (publicKey instanceof Uint8Array) Object.defineProperty(plugin, 'publicKey', { value: asBuffer(publicKey), enumerable: true })
  return plugin
}


