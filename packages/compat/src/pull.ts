import { StreamError, type Connection, type ConnectionInfo } from '@ms/core'
import {
  asBuffer,
  toBytes,
  toError,
  type Bytes,
  type PullBackend,
  type PullCallback,
  type PullChunk,
  type PullDuplex,
  type PullSource,
} from './pull-bytes.js'
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
 * When the connection offers its channel (`takeChannel`: TCP, unix, Tor,
 * and shs over them), the duplex runs on it and no WHATWG stream is ever
 * built, which saves both memory and time per connection; otherwise it
 * runs on `readable` and `writable`. The behaviour is the same:
 *
 * - `source` reads the connection only when asked (one read per pull; over
 *   a channel, what arrives in the same event as the answer waits here).
 *   It ends with `true` when the peer half-closes and with the `MsError`
 *   when the connection breaks.
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
 */
export function toPullDuplex(connection: Connection, options: ToPullDuplexOptions = {}): LegacyStream {
  const address = options.address ?? connection.remoteAddress
  const identity = peerIdentity(connection.info)
  const halfOpen = options.allowHalfOpen === true

  // Chosen on first use, so that an untouched stream leaves the connection
  // untouched too (legacyPlugin hands such a connection on as it is).
  let backend: PullBackend | undefined
  const use = (): PullBackend => {
    if (!backend) {
      used.add(stream)
      const channel = connection.takeChannel?.()
      backend = channel ? new ChannelPull(channel, connection, address, halfOpen) : streamsBackend(connection, address, halfOpen)
    }
    return backend
  }
  let sinkStarted = false
  const stream: LegacyStream = {
    source: (abort, cb) => use().source(abort, cb),
    sink: (read) => {
      if (sinkStarted) throw new Error('toPullDuplex: the sink can only be used once')
      sinkStarted = true
      use().sink(read)
    },
    address,
    remote: options.remote ?? identity.remote,
    auth: 'auth' in options ? options.auth : identity.auth,
    connection,
  }
  if (stream.remote === undefined) delete stream.remote
  if (stream.auth === undefined && !('auth' in options)) delete stream.auth
  // Not enumerable: code that copies or logs the stream sees what the original had.
  Object.defineProperty(stream, 'connection', { value: connection, enumerable: false })
  return stream
}

const used = new WeakSet<LegacyStream>()

/** True once the stream's source or sink was called: its connection is in use. */
export function pullDuplexUsed(stream: LegacyStream): boolean {
  return used.has(stream)
}

/** `toPullDuplex` over the connection's WHATWG streams (any connection). */
function streamsBackend(connection: Connection, address: string, halfOpen: boolean): PullBackend {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  // Truthy once the source is finished: `true` for an end, or the error.
  let sourceEnded: true | Error | undefined
  let aborting = false

  // ---- the writing side, shared by the sink and the peer-ended rule
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined
  let upstream: PullSource<PullChunk> | undefined
  // Set once the writing side is finished: nothing more is read upstream.
  let writeFinished = false

  /** Ends our writing side gracefully: queued chunks flush, then the half-close. */
  const endWriting = () => {
    if (writeFinished) return
    writeFinished = true
    writer ??= connection.writable.getWriter()
    writer.close().catch(() => {})
    upstream?.(true, () => {})
  }

  const source: PullSource<Bytes> = (abort, cb) => {
    if (sourceEnded) return cb(sourceEnded)
    reader ??= connection.readable.getReader()
    if (abort) {
      // A pending read (if any) resolves as done on cancel and reports the
      // abort to its own callback; this callback fires after it.
      sourceEnded = abort === true ? true : abort instanceof Error ? abort : toError(abort, address, 'aborted')
      aborting = true
      const end = sourceEnded
      const done = () => cb(end)
      if (end === true && halfOpen) {
        reader.cancel().then(done, done)
      } else {
        // As the original destroys the socket: both directions go.
        const reason = end === true ? undefined : end
        reader.cancel(reason).then(
          () => connection.close(reason).then(done, done),
          () => connection.close(reason).then(done, done),
        )
        writeFinished = true
        upstream?.(end, () => {})
      }
      return
    }
    reader.read().then(
      (result) => {
        if (sourceEnded) return cb(sourceEnded)
        if (result.done) {
          sourceEnded = true
          // The peer ended its side; without half-open we end ours too.
          if (!halfOpen) endWriting()
          return cb(true)
        }
        cb(null, asBuffer(result.value))
      },
      (error: unknown) => {
        if (sourceEnded && aborting) return cb(sourceEnded)
        sourceEnded = toError(error, address, 'connection failed')
        cb(sourceEnded)
      },
    )
  }

  const sink = (read: PullSource<PullChunk>): void => {
    if (writeFinished) {
      // Our side already ended (the peer ended, or the source was aborted): take nothing.
      read(true, () => {})
      return
    }
    upstream = read
    const w = (writer = connection.writable.getWriter())

    // The connection broke (or was closed) while we still had a source: tell it.
    const abortUpstream = (reason: unknown) => {
      if (writeFinished) return
      writeFinished = true
      read(reason instanceof Error ? reason : true, () => {})
    }
    w.closed.then(
      () => abortUpstream(true),
      (error: unknown) => abortUpstream(toError(error, address, 'connection failed')),
    )

    const next = () => {
      read(null, (end, data) => {
        if (writeFinished) return
        if (end) {
          writeFinished = true
          if (end === true) {
            w.close().catch(() => {})
          } else {
            w.abort(end).catch(() => {})
            void connection.close(end)
          }
          return
        }
        let chunk: Bytes
        try {
          chunk = toBytes(data)
        } catch (error) {
          writeFinished = true
          read(error as Error, () => {})
          w.abort(error).catch(() => {})
          void connection.close(error)
          return
        }
        if (chunk.byteLength > 0) w.write(chunk).catch(() => {}) // failures surface on writer.closed
        // Backpressure: ask upstream for more only once the writable has room.
        w.ready.then(
          () => {
            if (!writeFinished) next()
          },
          () => {},
        )
      })
    }
    next()
  }

  return { source, sink }
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
