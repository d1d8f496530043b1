import type { ByteChannel, ChannelSink } from './channel.js'
import { StreamError, type MsError } from './errors.js'

/**
 * Reads exact byte counts from a ReadableStream, for handshakes and
 * framing: `await reader.readExactly(64)`. When the handshake is over,
 * `release()` hands back a ReadableStream that yields the bytes already
 * buffered and then the rest of the source, so no byte is lost.
 */
export interface ByteReader {
  /** Resolves to exactly `n` bytes; rejects with `StreamError` if the stream ends first. */
  readExactly(n: number): Promise<Uint8Array>
  /** Ends reading through this reader and returns the rest as a stream. */
  release(): ReadableStream<Uint8Array>
  /** Cancels the source. */
  cancel(reason?: unknown): Promise<void>
}

/**
 * Chunks received but not yet consumed, taken out in exact byte counts.
 * The buffering under `createByteReader`, and under any reader that gets its
 * bytes pushed (shs's handshake over a `ByteChannel`).
 */
export class ByteQueue {
  #chunks: Uint8Array[] = []
  #length = 0

  /** Bytes buffered. */
  get length(): number {
    return this.#length
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.#chunks.push(chunk)
    this.#length += chunk.byteLength
  }

  /** Removes and returns the first `n` bytes (a copy); the caller checks `length` first. */
  take(n: number): Uint8Array {
    if (n > this.#length) throw new RangeError(`${n} bytes wanted, ${this.#length} buffered`)
    const chunks = this.#chunks
    const out = new Uint8Array(n)
    let offset = 0
    while (offset < n) {
      const head = chunks[0]!
      const take = Math.min(head.byteLength, n - offset)
      out.set(head.subarray(0, take), offset)
      offset += take
      if (take === head.byteLength) chunks.shift()
      else chunks[0] = head.subarray(take)
    }
    this.#length -= n
    return out
  }

  /** Removes and returns everything buffered, as it arrived. */
  drain(): Uint8Array[] {
    const all = this.#chunks
    this.#chunks = []
    this.#length = 0
    return all
  }
}

export interface ExactReaderOptions {
  /** Carried by the `StreamError` for an early end. */
  address?: string
  /**
   * Called whenever a read waits for more bytes than are buffered, once per
   * shortfall: a pulled source (a stream reader) fetches one more chunk and
   * `push`es it. Pushed sources (a channel, a socket) leave it out.
   */
  pull?: () => void
  /** Called once `highWaterMark` bytes are buffered and unread, to stop a pushed source. */
  pause?: () => void
  /** Called when a read wants bytes (or the rest is drained) after `pause`. */
  resume?: () => void
  /** Bytes buffered before `pause` is called. Default 64 KiB. */
  highWaterMark?: number
}

/**
 * The one exact-length reader: bytes come in by `push` (from a channel sink,
 * a socket's `data` events, or a stream through `pull`) and go out in exact
 * counts by `readExactly`. `end()` and `fail()` settle the read that waits;
 * `drain()` hands what is left to whoever reads next (the framing layer
 * after a handshake), so no byte is lost. One read at a time.
 */
export class ExactReader {
  readonly #queue = new ByteQueue()
  readonly #options: ExactReaderOptions
  #waiter: { n: number; resolve: (bytes: Uint8Array) => void; reject: (error: unknown) => void } | undefined
  // Why reading cannot go on: a failure, or `true` for a clean end.
  #stopped: unknown
  #paused = false

  constructor(options: ExactReaderOptions = {}) {
    this.#options = options
  }

  /** Bytes buffered and not yet read. */
  get buffered(): number {
    return this.#queue.length
  }

  push(chunk: Uint8Array): void {
    this.#queue.push(chunk)
    const waiter = this.#waiter
    if (waiter) {
      if (this.#queue.length >= waiter.n) {
        this.#waiter = undefined
        waiter.resolve(this.#queue.take(waiter.n))
      } else this.#options.pull?.()
    }
    if (!this.#paused && this.#options.pause && this.#queue.length >= (this.#options.highWaterMark ?? 64 * 1024)) {
      this.#paused = true
      this.#options.pause()
    }
  }

  /** The source ended: a waiting read (and any later one that is short) rejects with `StreamError`. */
  end(): void {
    this.#stop(true)
  }

  /** The source failed or the read was abandoned (timeout, abort): a waiting read and all short later ones reject with `reason`. */
  fail(reason: unknown): void {
    this.#stop(reason)
  }

  #stop(reason: unknown): void {
    if (this.#stopped !== undefined) return
    this.#stopped = reason
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.reject(this.#failure(waiter.n))
  }

  #failure(n: number): unknown {
    if (this.#stopped !== true) return this.#stopped
    return new StreamError(`stream ended after ${this.#queue.length} of ${n} expected bytes`, { address: this.#options.address })
  }

  /** Resolves to exactly `n` bytes; rejects with `StreamError` if the source ends first, or with the reason given to `fail`. */
  readExactly(n: number): Promise<Uint8Array> {
    if (this.#waiter) return Promise.reject(new Error('one read at a time'))
    if (this.#queue.length >= n) return Promise.resolve(this.#queue.take(n))
    if (this.#stopped !== undefined) return Promise.reject(this.#failure(n))
    const promise = new Promise<Uint8Array>((resolve, reject) => {
      this.#waiter = { n, resolve, reject }
    })
    this.#wantMore()
    return promise
  }

  #wantMore(): void {
    if (this.#paused) {
      this.#paused = false
      this.#options.resume?.()
    }
    this.#options.pull?.()
  }

  /** Whether `pause` was called and no `resume` since: whoever takes over the source resumes it. */
  get paused(): boolean {
    return this.#paused
  }

  /**
   * Removes and returns everything buffered, as it arrived, for whoever
   * reads next. The reader is done with the source: it is not resumed here
   * (see `paused`), so that the new reader can take its place first.
   */
  drain(): Uint8Array[] {
    return this.#queue.drain()
  }
}

export function createByteReader(source: ReadableStream<Uint8Array>, address?: string): ByteReader {
  const reader = source.getReader()
  let reading = false
  let released = false
  const exact = new ExactReader({
    address,
    // One stream read per shortfall, and never ahead of a read: what
    // `release` hands back must still be in the stream.
    pull() {
      if (reading) return
      reading = true
      reader.read().then(
        ({ value, done }) => {
          reading = false
          if (done) exact.end()
          else exact.push(value)
        },
        (error: unknown) => {
          reading = false
          exact.fail(error)
        },
      )
    },
  })

  function readExactly(n: number): Promise<Uint8Array> {
    if (released) return Promise.reject(new Error('reader already released'))
    return exact.readExactly(n)
  }

  function release(): ReadableStream<Uint8Array> {
    if (released) throw new Error('reader already released')
    released = true
    const leftover = exact.drain()
    reader.releaseLock()
    if (leftover.length === 0) return source
    const rest = source.getReader()
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = leftover.shift()
        if (next) return controller.enqueue(next)
        return rest.read().then(({ value, done }) => {
          if (done) controller.close()
          else controller.enqueue(value)
        })
      },
      cancel: (reason) => rest.cancel(reason),
    })
  }

  return { readExactly, release, cancel: (reason) => reader.cancel(reason) }
}

/**
 * An `ExactReader` over a `ByteChannel`, for a transform's handshake: it
 * starts the channel, reads exact byte counts (pausing the channel once
 * `highWaterMark` unread bytes are buffered), then `handOver(sink)` sends
 * the channel's events to the framing layer, the bytes that came after the
 * handshake first, then an end or failure that came meanwhile.
 */
export class ChannelReader implements ChannelSink {
  readonly #channel: ByteChannel
  // Released once handed over: a connection keeps its ChannelReader (the
  // channel's one sink) for life, but not the handshake's buffers and closures.
  #exact: ExactReader | undefined
  // After handOver, events go here.
  #next: ChannelSink | undefined
  // What the channel reported before the handover, replayed to the new sink.
  #ended = false
  #error: MsError | undefined
  #readError: MsError | undefined

  constructor(channel: ByteChannel, options: { address?: string; highWaterMark?: number } = {}) {
    this.#channel = channel
    this.#exact = new ExactReader({
      address: options.address,
      highWaterMark: options.highWaterMark,
      pause: () => channel.pause(),
      resume: () => channel.resume(),
    })
    // One sink for the channel's whole life: it forwards once handed over.
    channel.start(this)
  }

  // ChannelSink: buffered for readExactly until handOver, then forwarded.
  data(chunk: Uint8Array): void {
    if (this.#next) this.#next.data(chunk)
    else this.#exact!.push(chunk)
  }

  end(): void {
    if (this.#next) return this.#next.end()
    this.#ended = true
    this.#exact!.end()
  }

  drain(): void {
    this.#next?.drain()
  }

  error(error: MsError): void {
    if (this.#next) return this.#next.error(error)
    this.#error = error
    this.#exact!.fail(error)
  }

  readError(error: MsError): void {
    if (this.#next) return this.#next.readError(error)
    this.#readError = error
    this.#exact!.fail(error)
  }

  /** Rejects the pending read (and all later ones) with `reason`: the handshake's timeout or abort. */
  abort(reason: unknown): void {
    this.#exact?.fail(reason)
  }

  /** Resolves to exactly `n` bytes; rejects with `StreamError` if the channel ends first. */
  readExactly(n: number): Promise<Uint8Array> {
    if (!this.#exact) return Promise.reject(new StreamError('read after the channel was handed over'))
    return this.#exact.readExactly(n)
  }

  /** From now on the channel's events go to `sink`, starting with what was buffered. */
  handOver(sink: ChannelSink): void {
    const exact = this.#exact!
    const paused = exact.paused
    const rest = exact.drain()
    this.#next = sink
    this.#exact = undefined
    if (paused) this.#channel.resume()
    for (const chunk of rest) sink.data(chunk)
    if (this.#error) sink.error(this.#error)
    else if (this.#readError) sink.readError(this.#readError)
    else if (this.#ended) sink.end()
  }
}
