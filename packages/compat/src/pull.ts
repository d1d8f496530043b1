import { StreamError, channelOf, type Connection, type ConnectionInfo } from '@ms/core'
import { asBuffer, toBytes, toError, type Bytes, type PullCallback, type PullChunk, type PullDuplex, type PullSource } from './pull-bytes.js'
import { ChannelPull } from './pull-channel.js'

export { asBuffer, type PullCallback, type PullChunk, type PullDuplex, type PullEnd, type PullSink, type PullSource } from './pull-bytes.js'

/**
 * A connection as the original multiserver hands it out: a duplex of
 * Buffers with `address`, and after an authenticating transform `remote`
 * (the peer's public key, a Buffer) and `auth` (on the server, what the
 * authorization callback returned; `undefined` on the client).
 */
export interface LegacyStream extends PullDuplex<PullChunk, Uint8Array> {
  address: string
  remote?: Uint8Array
  auth?: unknown
  /** Set by some stacks (e.g. secret-stack's logging); kept when present. */
  meta?: unknown
  /** The ms connection underneath. */
  readonly connection: Connection
}

export interface ToPullDuplexOptions {
  /** Overrides `stream.address` (default: `connection.remoteAddress`). */
  address?: string
  /** Overrides `stream.remote` (default: the `publicKey` a transform put on `connection.info`). */
  remote?: Uint8Array
  /** Overrides `stream.auth` (default: the `authorization` a transform put on `connection.info`). */
  auth?: unknown
  /**
   * `false` (default): behave like the original's sockets, see `toPullDuplex`.
   * `true`: keep the two directions independent (half-close).
   */
  allowHalfOpen?: boolean
}

/** What an authenticating transform learned about the peer, found generically on `info`. */
export function peerIdentity(info: ConnectionInfo): { remote?: Uint8Array; auth?: unknown } {
  for (const value of Object.values(info as Record<string, unknown>)) {
    if (value && typeof value === 'object' && (value as { publicKey?: unknown }).publicKey instanceof Uint8Array) {
      const entry = value as { publicKey: Uint8Array; authorization?: unknown }
      return { remote: asBuffer(entry.publicKey), auth: entry.authorization }
    }
  }
  // `noauth` trusts a local peer fully; the original gives it every permission.
  if ((info as { noauth?: unknown }).noauth) return { auth: { allow: null, deny: null } }
  return {}
}

/**
 * A connection as a pull-stream duplex of Buffers.
 *
 * The duplex runs on the connection's byte channel (`channelOf`): the
 * connection's own when it offers one (`takeChannel`: TCP, unix, Tor, and
 * shs over them), so that no WHATWG stream is ever built, which saves both
 * memory and time per connection; otherwise the channel `@ms/core` bridges
 * over its `readable` and `writable`.
 *
 * - `source` reads the connection only when asked (one read per pull;
 *   what arrives in the same event as the answer waits here). It ends with
 *   `true` when the peer half-closes and with the `MsError` when the
 *   connection breaks.
 * - `sink` reads the next chunk only once the connection has room.
 *   A `true` end half-closes the writable side; an error end aborts it and
 *   closes the connection. When the connection breaks, the upstream source
 *   is aborted with the error.
 *
 * By default the duplex behaves like the original's sockets (Node's
 * `allowHalfOpen: false`), which pull-stream code such as muxrpc relies on
 * to release connections: aborting the source closes the whole connection,
 * and when the peer ends its side we end ours (queued writes are flushed
 * first, then the sink's upstream is aborted). With `allowHalfOpen: true`
 * the two directions are independent: aborting the source only cancels
 * reading, and the peer's end leaves our side open.
 *
 * The channel is taken on first use, so that an untouched duplex leaves
 * the connection untouched too: `takeConnection` can then hand the
 * connection itself to a transform (legacyPlugin does).
 */
export function toPullDuplex(connection: Connection, options: ToPullDuplexOptions = {}): LegacyStream {
  const address = options.address ?? connection.remoteAddress
  const identity = peerIdentity(connection.info)
  const halfOpen = options.allowHalfOpen === true

  let backend: ChannelPull | undefined
  let handedOver = false
  const use = (): ChannelPull => {
    if (handedOver) throw new Error(`toPullDuplex: the connection to ${address} was handed to a transform; use the stream it returned`)
    return (backend ??= new ChannelPull(channelOf(connection), connection, address, halfOpen))
  }
  let sinkStarted = false
  const source: PullSource<Bytes> = (abort, cb) => use().source(abort, cb)
  const sink = (read: PullSource<PullChunk>): void => {
    if (sinkStarted) throw new Error('toPullDuplex: the sink can only be used once')
    sinkStarted = true
    use().sink(read)
  }
  const stream: LegacyStream = {
    source,
    sink,
    address,
    remote: options.remote ?? identity.remote,
    auth: 'auth' in options ? options.auth : identity.auth,
    connection,
  }
  if (stream.remote === undefined) delete stream.remote
  if (stream.auth === undefined && !('auth' in options)) delete stream.auth
  // Not enumerable: code that copies or logs the stream sees what the original had.
  Object.defineProperty(stream, 'connection', { value: connection, enumerable: false })
  Object.defineProperty(stream, TAKE, {
    // A copy of the stream (`{ ...stream }`) does not carry this, and one
    // whose source or sink was replaced in place keeps it but no longer
    // reads the connection directly: both are adapted through the pull side.
    value: (): Connection | undefined => {
      if (backend || handedOver || stream.source !== source || stream.sink !== sink) return undefined
      handedOver = true
      return connection
    },
    enumerable: false,
  })
  return stream
}

const TAKE = Symbol('takeConnection')

/**
 * The connection under a duplex `toPullDuplex` made, handed back (as
 * `takeChannel` hands back a channel) when nothing has read or written
 * the duplex yet and its `source` and `sink` are still its own; after that
 * the duplex is unusable. `undefined` otherwise: then adapt the duplex
 * with `fromPullDuplex`.
 */
export function takeConnection(stream: object): Connection | undefined {
  const take = (stream as { [TAKE]?: () => Connection | undefined })[TAKE]
  return typeof take === 'function' ? take() : undefined
}

export interface FromPullDuplexOptions {
  /** The connection's `remoteAddress`. Default: `duplex.address`, else `pull`. */
  remoteAddress?: string
  /** Default `outbound`. */
  direction?: 'inbound' | 'outbound'
  /** Default `{}`. */
  info?: ConnectionInfo
}

/**
 * A pull-stream duplex as a `Connection`.
 *
 * - `readable` pulls from `duplex.source` only while a read is pending
 *   (high-water mark 0): nothing is read ahead. A `true` end closes it, an
 *   error end errors it with a `StreamError`. Cancelling it aborts the source.
 * - `writable` hands each chunk to `duplex.sink` when the sink reads, and
 *   each write resolves once the sink has taken its chunk. Closing it ends
 *   the sink with `true`; aborting it ends the sink with the error. When the
 *   sink aborts us, the writable errors.
 * - `close()` aborts the source and ends the sink; `closed` resolves once
 *   both directions are finished.
 */
export function fromPullDuplex(duplex: PullDuplex<Bytes, unknown>, options: FromPullDuplexOptions = {}): Connection {
  if (!duplex || typeof duplex.source !== 'function' || typeof duplex.sink !== 'function') {
    throw new TypeError('fromPullDuplex needs a pull-stream duplex { source, sink }')
  }
  const remoteAddress = options.remoteAddress ?? (typeof duplex.address === 'string' && duplex.address ? duplex.address : 'pull')
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  let readDone = false
  let writeDone = false
  const settle = () => {
    if (readDone && writeDone) resolveClosed()
  }
  const finishRead = () => {
    readDone = true
    settle()
  }
  const finishWrite = () => {
    writeDone = true
    settle()
  }

  // ---- readable: source -> ReadableStream
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let sourceAborted = false
  const abortSource = (reason: true | Error): Promise<void> =>
    new Promise<void>((resolve) => {
      if (readDone || sourceAborted) return resolve()
      sourceAborted = true
      let called = false
      duplex.source(reason, () => {
        if (called) return
        called = true
        finishRead()
        resolve()
      })
    })

  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readController = controller
      },
      pull(controller) {
        return new Promise<void>((resolve) => {
          let called = false
          duplex.source(null, (end, data) => {
            // A source must call back once per read; ignore one that does not.
            if (called) return
            called = true
            if (sourceAborted || readDone) return resolve()
            try {
              if (end === true) {
                finishRead()
                controller.close()
              } else if (end) {
                finishRead()
                controller.error(toError(end, remoteAddress, 'stream failed'))
              } else {
                const chunk = toBytes(data)
                // Empty chunks carry nothing; the stream pulls again while a read waits.
                if (chunk.byteLength > 0) controller.enqueue(chunk)
              }
            } catch (error) {
              finishRead()
              controller.error(error)
              void abortSource(error instanceof Error ? error : true)
            }
            resolve()
          })
        })
      },
      cancel(reason) {
        return abortSource(reason instanceof Error ? reason : true)
      },
    },
    // Pull on demand only: the source is read when someone reads us.
    { highWaterMark: 0 },
  )

  // ---- writable: WritableStream -> a source handed to duplex.sink
  let writeController!: WritableStreamDefaultController
  // The sink's outstanding read, waiting for our next chunk or end.
  let waiting: PullCallback<Bytes> | undefined
  // A chunk written while the sink was not reading, with its write's settlement.
  let queued: { chunk: Bytes; resolve: () => void } | undefined
  // Our end, once the writable closed or aborted: `true` or the error.
  let ended: true | Error | undefined
  // Set when the sink aborted our source: it takes nothing more.
  let sinkAbort: Error | undefined

  const feed: PullSource<Bytes> = (abort, cb) => {
    if (abort) {
      sinkAbort ??= abort === true ? new StreamError('the pull-stream sink stopped reading', { address: remoteAddress }) : toError(abort, remoteAddress, 'the pull-stream sink aborted')
      const pending = waiting
      waiting = undefined
      pending?.(abort)
      queued?.resolve()
      queued = undefined
      if (!ended) {
        try {
          writeController.error(sinkAbort)
        } catch {
          // already errored
        }
      }
      finishWrite()
      return cb(abort)
    }
    if (queued) {
      const { chunk, resolve } = queued
      queued = undefined
      cb(null, asBuffer(chunk))
      return resolve()
    }
    if (ended) {
      cb(ended)
      return finishWrite()
    }
    if (sinkAbort) return cb(true)
    waiting = cb
  }

  const endFeed = (end: true | Error) => {
    if (ended) return
    ended = end
    if (waiting) {
      const cb = waiting
      waiting = undefined
      cb(end)
      finishWrite()
    }
  }

  const writable = new WritableStream<Uint8Array>(
    {
      start(controller) {
        writeController = controller
      },
      write(chunk) {
        if (sinkAbort) throw sinkAbort
        const bytes = toBytes(chunk)
        if (bytes.byteLength === 0) return
        if (waiting) {
          const cb = waiting
          waiting = undefined
          cb(null, asBuffer(bytes))
          return
        }
        // Resolves when the sink reads it: at most one chunk waits here.
        return new Promise<void>((resolve) => (queued = { chunk: bytes, resolve }))
      },
      close() {
        if (sinkAbort) throw sinkAbort
        endFeed(true)
      },
      abort(reason) {
        endFeed(reason instanceof Error ? reason : new StreamError('aborted', { address: remoteAddress, cause: reason }))
      },
    },
    { highWaterMark: 1 },
  )

  duplex.sink(feed)

  let closing: Promise<void> | undefined
  const close = (reason?: unknown): Promise<void> => {
    closing ??= (() => {
      const error = reason instanceof Error ? reason : undefined
      const local = new StreamError('connection closed locally', { address: remoteAddress, cause: reason })
      if (!readDone) {
        try {
          readController.error(local)
        } catch {
          // already closed
        }
        void abortSource(error ?? true)
      }
      if (!ended && !sinkAbort) {
        try {
          writeController.error(local)
        } catch {
          // already errored
        }
        const pendingWrite = queued
        queued = undefined
        pendingWrite?.resolve()
        endFeed(error ?? true)
      }
      // Both ends were told; a pull-stream that never calls back must not keep `closed` pending.
      finishRead()
      finishWrite()
      return closed
    })()
    return closing
  }

  return {
    readable,
    writable,
    remoteAddress,
    direction: options.direction ?? 'outbound',
    info: options.info ?? {},
    close,
    closed,
  }
}
