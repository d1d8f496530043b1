import { MsError, StreamError } from './errors.js'
import type { Connection, ConnectionInfo } from './types.js'

/**
 * What a `ByteChannel` delivers to, set once with `start`. Every method is
 * called synchronously from the channel's I/O events.
 */
export interface ChannelSink {
  /** Bytes from the peer. The chunk belongs to the receiver (it may decrypt in place). */
  data(chunk: Uint8Array): void
  /** The peer half-closed: no more `data`. */
  end(): void
  /** `write` returned `false` earlier and the channel can take more now. */
  drain(): void
  /**
   * The channel failed or was torn down while a direction was still open
   * (after it, nothing more is delivered). Not called when both directions
   * had finished cleanly.
   */
  error(error: MsError): void
  /**
   * Only the incoming direction failed (a transform found the peer's bytes
   * corrupt or cut short): no more `data`, but writing may go on. Socket
   * channels never call it.
   */
  readError(error: MsError): void
}

/**
 * The bytes of a connection below its WHATWG streams: a push source with
 * pause/resume and a sink with a backpressure flag, in the shape of a Node
 * socket. Transports whose I/O is event-based (TCP, unix, Tor) provide one
 * through `Connection.takeChannel`, and transforms that can work on it
 * (shs) stack on it directly, so a `net~shs` connection builds a single
 * pair of WHATWG streams, at the top, instead of one pair per layer. This
 * is an optimisation only: every transform must also work on the streams.
 */
export interface ByteChannel {
  /** Starts delivery (flowing) to `sink`; call once, synchronously after taking the channel. */
  start(sink: ChannelSink): void
  /** Stops `data` until `resume` (TCP backpressure then reaches the peer). */
  pause(): void
  resume(): void
  /**
   * Queues bytes for the peer (the channel keeps the chunk until it is sent:
   * do not mutate it). `false` means over the high-water mark: wait for
   * `sink.drain` before writing more. Writing after `end` or a failure is
   * ignored; the failure is reported through `sink.error`.
   */
  write(chunk: Uint8Array): boolean
  /** Half-closes after the queued bytes; resolves once they are flushed, rejects with an `MsError`. */
  end(): Promise<void>
  /**
   * We want no more data. The peer's bytes are still drained (and dropped)
   * so it is not stalled while our writing side is in use; once both
   * directions are done the channel releases its resource.
   */
  stopReading(): void
  /**
   * Tears down both directions. `error` (or the function making it, called
   * only when a direction is still open) is what `sink.error` reports;
   * without it the sink is told nothing (it knows: it asked).
   */
  destroy(error?: MsError | (() => MsError)): void
  /** Resolves once the underlying resource is released, for any reason. Never rejects. */
  readonly closed: Promise<void>
  /** `false` when `end` ends both directions (Tor); see `Connection.halfClose`. */
  readonly halfClose: boolean
}

export interface ChannelConnectionOptions {
  remoteAddress: string
  direction: 'inbound' | 'outbound'
  info?: ConnectionInfo
  /**
   * Bytes the readable side buffers before the channel is paused.
   * Default 256 KiB.
   */
  readableHighWaterMark?: number
}

const STREAM_QUEUE = 256 * 1024

/**
 * A `Connection` over a channel. Its `readable` and `writable` are built on
 * first use, and `takeChannel()` hands the channel itself to a transform
 * instead: whichever comes first wins, the other is then unavailable
 * (`takeChannel()` returns `undefined`; the stream getters throw).
 *
 * - `readable` is a default stream counted in bytes: chunks are enqueued as
 *   the channel delivers them (no copy); the channel is paused once the
 *   queue holds `readableHighWaterMark` bytes and resumed on the next pull.
 *   Cancelling it is `stopReading()`.
 * - `writable` hands chunks to `channel.write` and resolves at once unless
 *   the channel asks to wait for `drain`. `close()` is `channel.end()`;
 *   `abort()` destroys the channel. An abort cuts a wait for `drain` short,
 *   so a peer that never reads cannot hold an abort forever.
 * - `close()` destroys the channel; the streams then fail with
 *   `StreamError('connection closed locally')` if still open.
 */
export function connectionFromChannel(channel: ByteChannel, options: ChannelConnectionOptions): Connection {
  const { remoteAddress, direction } = options
  let streams: ReturnType<typeof channelStreams> | undefined
  let taken = false
  const materialize = () => {
    if (taken) throw new TypeError(`${remoteAddress}: this connection's channel was taken by a transform; use the connection it returned`)
    return (streams ??= channelStreams(channel, remoteAddress, options.readableHighWaterMark ?? STREAM_QUEUE))
  }
  let closing: Promise<void> | undefined
  const connection: Connection = {
    get readable() {
      return materialize().readable
    },
    get writable() {
      return materialize().writable
    },
    remoteAddress,
    direction,
    info: options.info ?? {},
    close(reason?: unknown) {
      closing ??= (() => {
        // Only streams still in use need to learn why they failed; the
        // common case (both directions done) builds no error at all.
        channel.destroy(streams?.inUse() ? () => new StreamError('connection closed locally', { address: remoteAddress, cause: reason }) : undefined)
        return channel.closed
      })()
      return closing
    },
    closed: channel.closed,
    takeChannel() {
      if (streams || taken) return undefined
      taken = true
      return channel
    },
  }
  if (!channel.halfClose) Object.defineProperty(connection, 'halfClose', { value: false, enumerable: true })
  return connection
}

/** WHATWG streams over a channel: see `connectionFromChannel`. */
function channelStreams(
  channel: ByteChannel,
  address: string,
  readableHwm: number,
): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array>; inUse(): boolean } {
  let failure: MsError | undefined
  let readableDone = false
  let writableDone = false
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let writeController!: WritableStreamDefaultController
  // While the channel flows, `pull` returns a promise that stays pending
  // until we pause; the stream does not call `pull` again meanwhile, which
  // saves a call and a promise per chunk. Resolved on pause and teardown.
  let pullWaiter: (() => void) | undefined
  const releasePull = () => {
    const waiter = pullWaiter
    pullWaiter = undefined
    waiter?.()
  }
  // The write waiting for `drain`, if any.
  let drainWaiter: { resolve: () => void; reject: (error: unknown) => void } | undefined
  const inUse = () => !readableDone || !writableDone || drainWaiter !== undefined
  // Tearing down the channel from here (abort): the readable, if still
  // open, learns that the connection is gone.
  const destroy = () => {
    writableDone = true
    channel.destroy(inUse() ? () => new StreamError('connection closed', { address }) : undefined)
  }
  // We paused the channel because the readable's queue was full.
  let paused = false

  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readController = controller
      },
      pull() {
        if (readableDone) return
        if (paused) {
          paused = false
          channel.resume()
          return
        }
        return new Promise<void>((resolve) => (pullWaiter = resolve))
      },
      cancel() {
        readableDone = true
        releasePull()
        channel.stopReading()
      },
    },
    { highWaterMark: readableHwm, size: (chunk) => chunk.byteLength },
  )

  const writable = new WritableStream<Uint8Array>(
    {
      start(controller) {
        writeController = controller
      },
      write(chunk) {
        if (failure) throw failure
        if (!(chunk instanceof Uint8Array)) throw new TypeError('write Uint8Array chunks only')
        if (chunk.byteLength === 0) return
        if (channel.write(chunk)) return
        if (failure) throw failure
        const signal = writeController.signal as AbortSignal | undefined
        return new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            drainWaiter = undefined
            destroy()
            reject(signal!.reason)
          }
          signal?.addEventListener('abort', onAbort, { once: true })
          drainWaiter = {
            resolve: () => {
              signal?.removeEventListener('abort', onAbort)
              resolve()
            },
            reject: (error: unknown) => {
              signal?.removeEventListener('abort', onAbort)
              reject(error)
            },
          }
        })
      },
      async close() {
        if (failure) throw failure
        try {
          await channel.end()
        } finally {
          writableDone = true
        }
      },
      abort() {
        destroy()
      },
    },
    // The channel does the buffering (a socket's writableHighWaterMark). The
    // stream's queue is byte-counted and larger than a typical chunk so that
    // `writer.ready` stays resolved while the channel keeps up, rather than
    // flipping to a fresh pending promise after every write.
    // Non-Uint8Array chunks count as 0 here and are refused by write().
    { highWaterMark: STREAM_QUEUE, size: (chunk) => (chunk as Uint8Array | undefined)?.byteLength ?? 0 },
  )

  channel.start({
    data(chunk) {
      if (readableDone) return
      readController.enqueue(chunk)
      if ((readController.desiredSize ?? 0) <= 0 && !paused) {
        paused = true
        channel.pause()
        releasePull()
      }
    },
    end() {
      if (readableDone) return
      readableDone = true
      releasePull()
      try {
        readController.close()
      } catch {
        // already closed or errored
      }
    },
    drain() {
      const waiter = drainWaiter
      drainWaiter = undefined
      waiter?.resolve()
    },
    readError(error) {
      releasePull()
      if (readableDone) return
      readableDone = true
      try {
        readController.error(error)
      } catch {
        // already closed or errored
      }
    },
    error(error) {
      releasePull()
      failure ??= error
      if (!readableDone) {
        readableDone = true
        try {
          readController.error(failure)
        } catch {
          // already closed or errored
        }
      }
      if (!writableDone) {
        writableDone = true
        try {
          writeController.error(failure)
        } catch {
          // already closed or errored
        }
      }
      const waiter = drainWaiter
      drainWaiter = undefined
      waiter?.reject(failure)
    },
  })
  return { readable, writable, inUse }
}

/** Reports `error` (an MsError or a thunk making one) as an MsError. */
export function resolveChannelError(error: MsError | (() => MsError)): MsError {
  return typeof error === 'function' ? error() : error
}
