import {
  AbortError,
  AddressError,
  MsError,
  createMultiServer,
  parseMultiAddress,
  isMsError,
  type ConnectOptions,
  type Connection,
  type MultiServer as CoreMultiServer,
  type MultiServerListener,
  type Scope,
  type Suite,
  type Transform,
  type Transport,
} from '@ms/core'
import type { LegacyCallback, LegacyClose } from './legacy.js'
import { toPullDuplex, type LegacyStream } from './pull.js'
import { CloseLatch } from './close-latch.js'
import { fromLegacyPlugin } from './from-legacy.js'
import { describe, isMsTransform, isMsTransport, isOriginalTransform, isOriginalTransport } from './original/from-ms.js'

export interface LegacyMultiServerOptions {
  /** Passed to every `connect` (timeout, stagger). */
  connect?: Omit<ConnectOptions, 'signal'>
  /**
   * What `close(cb)` does with open connections. `false` (default): closes
   * them, then calls back. `true`: stops accepting, then waits for them to
   * end by themselves before calling back (as a Node `net` server does).
   */
  graceful?: boolean
  /** Streams keep their directions independent (see `toPullDuplex`). Default `false`, like the original. */
  allowHalfOpen?: boolean
  /** Maximum inbound handshakes in progress (see `createMultiServer`). */
  maxPendingUpgrades?: number
}

/** The object npm `multiserver`'s default export returns, on ms. */
export interface LegacyMultiServer {
  /** `;`-joined suite names, e.g. `net~shs;ws~shs`. */
  readonly name: string
  /** The ms MultiServer underneath. */
  readonly multiserver: CoreMultiServer
  /**
   * Connects to the first alternative of `address` that works; alternatives
   * no suite understands (or that do not parse) are skipped. Returns a
   * function that aborts the attempt, or closes the stream once connected.
   */
  client(address: string | readonly string[], cb: LegacyCallback<LegacyStream>): () => void
  /**
   * Starts every suite. `onError` receives failures of single inbound
   * connections (a failed handshake, with `err.address`); `startedCb` is
   * called once every suite listens, or with the first failure. Returns
   * `close(cb?)`, which calls back once every server is closed.
   */
  server(onConnect: (stream: LegacyStream) => void, onError?: ((error: MsError) => void) | null, startedCb?: LegacyCallback<unknown>): LegacyClose
  /** The `;`-joined addresses advertised in `scope` (default `device`), or `''`. */
  stringify(scope?: string): string
  /**
   * Per `;` alternative: `[transportOptions, ...transformOptions]` from the
   * first suite that understands it, or `null`.
   */
  parse(address: string): (unknown[] | null)[]
}

/**
 * Splits a multiaddress on the `;` that separate alternatives (not on an
 * escaped `!;`), keeping each alternative as written.
 */
export function splitAlternatives(address: string): string[] {
  const out: string[] = []
  let start = 0
  for (let i = 0; i < address.length; i++) {
    const ch = address[i]
    if (ch === '!') i++
    else if (ch === ';') {
      out.push(address.slice(start, i))
      start = i + 1
    }
  }
  out.push(address.slice(start))
  return out
}

function isValidAddress(text: string): boolean {
  try {
    parseMultiAddress(text)
    return true
  } catch {
    return false
  }
}

/**
 * The transform, with inbound failures addressed as the original's compose
 * addresses them: the inner address, `~`, and the transform's part
 * (`net:127.0.0.1:51234~shs:` when shs cannot tell who it was).
 */
function namingFailures(transform: Transform<unknown>): Transform<unknown> {
  const wrapped = Object.create(transform) as Transform<unknown> & { upgradeInbound: Transform<unknown>['upgradeInbound'] }
  wrapped.upgradeInbound = (connection, options) =>
    transform.upgradeInbound(connection, options).catch((error: unknown) => {
      const inner = connection.remoteAddress
      const address = (error as { address?: unknown } | null)?.address
      if (isMsError(error) && !(typeof address === 'string' && address.startsWith(inner + '~'))) {
        ;(error as { address?: string }).address = `${inner}~${transform.name}:`
      }
      throw error
    })
  return wrapped
}

/**
 * A plug as a suite: ms transports and transforms as they are, original-style
 * plugins through `fromLegacyPlugin`; anything else is a TypeError naming it.
 */
function toSuite(plug: unknown, index: number): Suite {
  const parts = Array.isArray(plug) ? plug : [plug]
  if (parts.length === 0) throw new TypeError(`MultiServer: plug ${index} is an empty suite`)
  return parts.map((part, k) => {
    const where = Array.isArray(plug) ? `plug ${index}, part ${k}` : `plug ${index}`
    const wantTransport = k === 0
    if (wantTransport && (isMsTransport(part) || isOriginalTransport(part))) return fromLegacyPlugin(part as never)
    if (!wantTransport && (isMsTransform(part) || isOriginalTransform(part))) return namingFailures(fromLegacyPlugin(part as never) as Transform<unknown>)
    throw new TypeError(
      `MultiServer: ${where} is not a ${wantTransport ? 'transport' : 'transform'} (an ms ${wantTransport ? 'Transport' : 'Transform'} or an original-style plugin), got ${describe(part)}`,
    )
  }) as unknown as Suite
}

/**
 * `MultiServer([[transport, ...transforms], ...])` with the original's call
 * shape, built on `createMultiServer`. Plugs are ms transports and
 * transforms or original-style plugins (through `fromLegacyPlugin`; a bare
 * transport is a suite of one); anything else is a TypeError. Streams are pull-stream
 * duplexes of Buffers with `address`, `remote` and `auth`.
 */
export function MultiServer(plugs: readonly (Suite | Transport<unknown> | readonly unknown[] | object)[], options: LegacyMultiServerOptions = {}): LegacyMultiServer {
  if (!Array.isArray(plugs)) throw new TypeError('MultiServer needs an array of suites: [[transport, ...transforms], ...]')
  const suites = plugs.map(toSuite)
  const ms = createMultiServer(suites)

  function client(address: string | readonly string[], cb: LegacyCallback<LegacyStream>): () => void {
    const written = Array.isArray(address) ? address.join(';') : String(address)
    const controller = new AbortController()
    let connection: Connection | undefined
    let settled = false
    const settle = (error: Error | null, stream?: LegacyStream) => {
      if (settled) return
      settled = true
      cb(error, stream)
    }
    // Like the original, skip what cannot be used: here also alternatives that do not parse.
    const alternatives = (Array.isArray(address) ? [...address] : splitAlternatives(written)).filter(isValidAddress)
    if (alternatives.length === 0) {
      queueMicrotask(() => settle(new AddressError(`could not connect to ${JSON.stringify(written)}: no valid address; this MultiServer knows ${ms.name}`, { address: written })))
      return () => {}
    }
    ms.connect(alternatives.join(';'), { ...options.connect, signal: controller.signal }).then(
      (c) => {
        if (settled) return void c.close()
        connection = c
        settle(null, toPullDuplex(c, { allowHalfOpen: options.allowHalfOpen }))
      },
      (error: unknown) => settle(error instanceof Error ? error : new MsError(String(error), { address: written, cause: error })),
    )
    return function abort() {
      if (connection) void connection.close(new AbortError('closed by the caller', { address: connection.remoteAddress }))
      else {
        controller.abort(new AbortError('the connection attempt was aborted', { address: written }))
      }
    }
  }

  function server(
    onConnect: (stream: LegacyStream) => void,
    onError?: ((error: MsError) => void) | null,
    startedCb?: LegacyCallback<unknown>,
  ): LegacyClose {
    const report = onError ?? (() => {})
    let listener: MultiServerListener | undefined
    let failed = false
    const closing = new CloseLatch()
    const finish = closing.finish
    const closeListener = (l: MultiServerListener) => l.close({ graceful: options.graceful === true }).then(finish, finish)

    ms.listen((connection) => onConnect(toPullDuplex(connection, { allowHalfOpen: options.allowHalfOpen })), {
      onError: (error) => report(error),
      maxPendingUpgrades: options.maxPendingUpgrades,
    }).then(
      (l) => {
        listener = l
        if (closing.requested) return void closeListener(l)
        startedCb?.(null, true)
      },
      (error: unknown) => {
        failed = true
        const err = isMsError(error) ? error : new MsError(String(error), { cause: error })
        if (startedCb) startedCb(err)
        else report(err)
        finish()
      },
    )

    return function closeMultiServer(cb) {
      if (!closing.request(cb)) return
      // Before listening finished, the listen result closes it as soon as it arrives.
      if (listener) void closeListener(listener)
      else if (failed) finish()
    }
  }

  function stringify(scope?: string): string {
    try {
      return ms.stringify((scope ?? 'device') as Scope)
    } catch {
      // An unknown scope advertises nothing, as the original's filter does.
      return ''
    }
  }

  function parse(address: string): (unknown[] | null)[] {
    return splitAlternatives(String(address)).map((alternative) => {
      try {
        const [found] = ms.plan(alternative)
        return found ? [found.transportOptions, ...found.transformOptions] : null
      } catch {
        return null
      }
    })
  }

  return { name: ms.name, multiserver: ms, client, server, stringify, parse }
}
