import { MsError, StreamError } from './errors.js'
import { writeOrAbort } from './signal.js'
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
 * through `Connection.takeChannel`, and transforms written on it (shs)
 * stack on it directly, so a `net~shs` connection builds a single pair of
 * WHATWG streams, at the top, instead of one pair per layer. A plugin is
 * written on this contract or on the streams, never both: `channelOf`
 * (bridge.ts) gives a channel plugin a channel over any connection, and
 * `connectionFromChannel` gives everyone else streams over a channel.
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
   *
   * `reset` says what the peer must see (see `Connection`): `false` or
   * absent for `Connection.close()`, an orderly end (a socket's FIN, a
   * transform's end marker sent first); `true` for `writable.abort()`, a
   * failure (a TCP reset; a transform skips its end marker so the peer
   * sees the stream cut short).
   */
  destroy(error?: MsError | (() => MsError), reset?: boolean): void
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
   * What the readable side buffers before the channel is paused: bytes
   * plus `QUEUED_CHUNK_OVERHEAD` per chunk. Default 256 KiB.
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
 *   the channel delivers them (no copy, except a small view into a much
 *   larger buffer, see `retainable`), each counted as its length plus
 *   `QUEUED_CHUNK_OVERHEAD`; the channel is paused once the queue holds
 *   `readableHighWaterMark` and resumed on the next pull.
 *   Cancelling it is `stopReading()`.
 * - `writable` hands chunks to `channel.write` and resolves at once unless
 *   the channel asks to wait for `drain`. `close()` is `channel.end()`;
 *   `abort()` destroys the channel with `reset`. An abort cuts a wait for `drain` short,
 *   so a peer that never reads cannot hold an abort forever.
 * - `close()` destroys the channel; the streams then fail with
 *   `StreamError('connection closed locally')` if still open.
 */
export function connectionFromChannel(channel: ByteChannel, options: ChannelConnectionOptions): Connection {
  const core = new ConnectionCore(channel, options.remoteAddress, options.readableHighWaterMark ?? STREAM_QUEUE)
  // Built as a fast-mode object whose getters are shared by every
  // connection: an object literal with getters is a dictionary-mode object
  // in V8, and with its per-connection closures it took about 600 bytes
  // more for each of thousands of idle connections (twice per `net~shs`
  // end: the socket's connection and shs's). Every member is still an own,
  // enumerable property, so wrappers written as `{ ...connection }` see
  // what they always saw, and `close`/`takeChannel` work detached.
  const connection = Object.defineProperties({}, STREAM_GETTERS) as Connection & { [CORE]: ConnectionCore }
  const c = connection as unknown as Record<string, unknown>
  c.remoteAddress = options.remoteAddress
  c.direction = options.direction
  c.info = options.info ?? {}
  c.close = core.close.bind(core)
  c.closed = channel.closed
  c.takeChannel = core.take.bind(core)
  if (!channel.halfClose) Object.defineProperty(connection, 'halfClose', { value: false, enumerable: true })
  Object.defineProperty(connection, CORE, { value: core })
  return connection
}

const CORE = Symbol('ms.channelConnection')

function readableGetter(this: { [CORE]: ConnectionCore }): ReadableStream<Uint8Array> {
  return this[CORE].streams().readable
}

function writableGetter(this: { [CORE]: ConnectionCore }): WritableStream<Uint8Array> {
  return this[CORE].streams().writable
}

// Own, enumerable and configurable, as an object literal's getters are.
const STREAM_GETTERS: PropertyDescriptorMap = {
  readable: { get: readableGetter, enumerable: true, configurable: true },
  writable: { get: writableGetter, enumerable: true, configurable: true },
}

/** The state behind a `connectionFromChannel` connection (one small object rather than a closure context). */
class ConnectionCore {
  #streams: ChannelStreams | undefined
  #taken = false
  #closing: Promise<void> | undefined

  constructor(
    readonly channel: ByteChannel,
    readonly address: string,
    readonly readableHwm: number,
  ) {}

  streams(): ChannelStreams {
    if (this.#taken) throw new TypeError(`${this.address}: this connection's channel was taken by a transform; use the connection it returned`)
    return (this.#streams ??= new ChannelStreams(this.channel, this.address, this.readableHwm))
  }

  close(reason?: unknown): Promise<void> {
    if (this.#closing) return this.#closing
    // Only streams still in use need to learn why they failed; the
    // common case (both directions done) builds no error at all.
    const address = this.address
    this.channel.destroy(this.#streams?.inUse() ? () => new StreamError('connection closed locally', { address, cause: reason }) : undefined)
    return (this.#closing = this.channel.closed)
  }

  take(): ByteChannel | undefined {
    if (this.#streams || this.#taken) return undefined
    this.#taken = true
    return this.channel
  }
}

/**
 * What one chunk waiting in a readable's queue costs beyond its bytes: the
 * typed array, its `ArrayBuffer` and the queue's record. Measured on Node
 * 20 (V8 11): a queued 1-byte chunk with its own buffer takes about 260
 * bytes of heap, a view into a shared buffer about 150.
 */
export const QUEUED_CHUNK_OVERHEAD = 256

/**
 * The `size` of a readable's queuing strategy that counts what a queue
 * holds, not what it hands out: the bytes plus `QUEUED_CHUNK_OVERHEAD` per
 * chunk, so the high-water mark also bounds how many chunks wait (a peer
 * sending 1-byte messages cannot make a 256 KiB queue hold 256 Ki objects).
 * Use it with `retainable`, which makes the bytes counted the bytes held.
 */
export function queuedChunkSize(chunk: Uint8Array | undefined): number {
  return chunk === undefined ? 0 : chunk.byteLength + QUEUED_CHUNK_OVERHEAD
}

/**
 * `chunk`, or a copy of it when it is a view holding less than half of its
 * `ArrayBuffer`: what may sit in a queue without keeping alive far more
 * memory than it shows. A few bytes decrypted in place inside a 64 KiB
 * socket read, or a 1-byte WebSocket message sliced out of one, would
 * otherwise pin the whole buffer while counted as a few bytes. Whole
 * buffers and large views (socket reads, bulk box-stream plaintext) pass
 * through uncopied, so bulk data is never copied; a kept view holds at
 * most twice what it counts.
 */
export function retainable(chunk: Uint8Array): Uint8Array {
  return chunk.byteLength >= chunk.buffer.byteLength >>> 1 ? chunk : new Uint8Array(chunk)
}

// Shared by every stream: a per-connection `size` closure and strategy
// object would cost memory on each of thousands of idle connections.
const DEFAULT_READ_STRATEGY: QueuingStrategy<Uint8Array> = { highWaterMark: STREAM_QUEUE, size: queuedChunkSize }
// The channel does the buffering (a socket's writableHighWaterMark). The
// stream's queue is counted like the readable's (bytes plus a per-chunk
// overhead, so tiny writes cannot pile up by the million) and larger than a
// typical chunk so that `writer.ready` stays resolved while the channel
// keeps up, rather than flipping to a fresh pending promise after every
// write. Non-Uint8Array chunks count as the overhead here and are refused
// by write().
const WRITE_STRATEGY: QueuingStrategy<Uint8Array> = { highWaterMark: STREAM_QUEUE, size: (chunk) => (chunk?.byteLength ?? 0) + QUEUED_CHUNK_OVERHEAD }

/**
 * WHATWG streams over a channel (see `connectionFromChannel`), and the
 * channel's sink. Classes rather than closures: an idle connection holds
 * one instance of each instead of some twenty closures and their contexts.
 */
class ChannelStreams implements ChannelSink {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
  failure: MsError | undefined
  readableDone = false
  writableDone = false
  // We paused the channel because the readable's queue was full.
  paused = false
  readController!: ReadableStreamDefaultController<Uint8Array>
  writeController!: WritableStreamDefaultController
  // While the channel flows, `pull` returns a promise that stays pending
  // until we pause; the stream does not call `pull` again meanwhile, which
  // saves a call and a few promises per chunk. Resolved on pause and
  // teardown. An idle stream (nothing delivered since the last pull) gets
  // a pull that settles at once instead: the pending promise, its resolver
  // and the stream's reactions to it would cost each idle connection some
  // 500 bytes.
  pullWaiter: (() => void) | undefined
  // A chunk was enqueued since the last pull.
  delivered = false
  // The write waiting for `drain`, if any.
  drainWaiter: { resolve: () => void; reject: (error: unknown) => void } | undefined

  constructor(
    readonly channel: ByteChannel,
    readonly address: string,
    readableHwm: number,
  ) {
    const readStrategy = readableHwm === STREAM_QUEUE ? DEFAULT_READ_STRATEGY : { highWaterMark: readableHwm, size: queuedChunkSize }
    this.readable = new ReadableStream<Uint8Array>(new ChannelSource(this), readStrategy)
    this.writable = new WritableStream<Uint8Array>(new ChannelWriteSink(this), WRITE_STRATEGY)
    channel.start(this)
  }

  inUse(): boolean {
    return !this.readableDone || !this.writableDone || this.drainWaiter !== undefined
  }

  releasePull(): void {
    const waiter = this.pullWaiter
    this.pullWaiter = undefined
    waiter?.()
  }

  /** Tears the channel down from here (abort, a reset): an open readable learns that the connection is gone. */
  destroy(): void {
    this.writableDone = true
    const address = this.address
    this.channel.destroy(this.inUse() ? () => new StreamError('connection closed', { address }) : undefined, true)
  }

  data(chunk: Uint8Array): void {
    if (this.readableDone) return
    const controller = this.readController
    this.delivered = true
    // The queue counts each chunk's bytes plus a fixed overhead; copying
    // small views out keeps what it counts what it holds (see retainable).
    controller.enqueue(retainable(chunk))
    if ((controller.desiredSize ?? 0) <= 0 && !this.paused) {
      this.paused = true
      this.channel.pause()
      this.releasePull()
    }
  }

  end(): void {
    if (this.readableDone) return
    this.readableDone = true
    this.releasePull()
    try {
      this.readController.close()
    } catch {
      // already closed or errored
    }
  }

  drain(): void {
    const waiter = this.drainWaiter
    this.drainWaiter = undefined
    waiter?.resolve()
  }

  readError(error: MsError): void {
    this.releasePull()
    if (this.readableDone) return
    this.readableDone = true
    try {
      this.readController.error(error)
    } catch {
      // already closed or errored
    }
  }

  error(error: MsError): void {
    this.releasePull()
    const failure = (this.failure ??= error)
    if (!this.readableDone) {
      this.readableDone = true
      try {
        this.readController.error(failure)
      } catch {
        // already closed or errored
      }
    }
    if (!this.writableDone) {
      this.writableDone = true
      try {
        this.writeController.error(failure)
      } catch {
        // already closed or errored
      }
    }
    const waiter = this.drainWaiter
    this.drainWaiter = undefined
    waiter?.reject(failure)
  }
}

class ChannelSource implements UnderlyingDefaultSource<Uint8Array> {
  constructor(private readonly streams: ChannelStreams) {}

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.streams.readController = controller
  }

  pull(): Promise<void> | undefined {
    const streams = this.streams
    if (streams.readableDone) return
    if (streams.paused) {
      streams.paused = false
      streams.channel.resume()
      return
    }
    if (!streams.delivered) return
    streams.delivered = false
    return new Promise<void>((resolve) => (streams.pullWaiter = resolve))
  }

  cancel(): void {
    const streams = this.streams
    streams.readableDone = true
    streams.releasePull()
    streams.channel.stopReading()
  }
}

class ChannelWriteSink implements UnderlyingSink<Uint8Array> {
  constructor(private readonly streams: ChannelStreams) {}

  start(controller: WritableStreamDefaultController): void {
    this.streams.writeController = controller
  }

  write(chunk: Uint8Array, controller: WritableStreamDefaultController): Promise<void> | undefined {
    const streams = this.streams
    if (streams.failure) throw streams.failure
    if (!(chunk instanceof Uint8Array)) throw new TypeError('write Uint8Array chunks only')
    if (chunk.byteLength === 0) return
    if (streams.channel.write(chunk)) return
    if (streams.failure) throw streams.failure
    // abort() waits for the write in flight: a peer that never reads must
    // not make it wait forever, so the abort cuts the wait for drain short.
    const drained = new Promise<void>((resolve, reject) => (streams.drainWaiter = { resolve, reject }))
    return writeOrAbort(drained, controller, () => {
      streams.drainWaiter = undefined
      streams.destroy()
    })
  }

  async close(): Promise<void> {
    const streams = this.streams
    if (streams.failure) throw streams.failure
    try {
      await streams.channel.end()
    } finally {
      streams.writableDone = true
    }
  }

  abort(): void {
    this.streams.destroy()
  }
}
