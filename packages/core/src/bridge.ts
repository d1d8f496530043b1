import { StreamError, isMsError, type MsError } from './errors.js'
import type { ByteChannel, ChannelSink } from './channel.js'
import type { Connection } from './types.js'

/**
 * The byte channel of any connection, for a plugin written on the channel
 * contract: the connection's own (`takeChannel()`: Node sockets, and
 * channel plugins such as shs stacked on them), or else a channel bridged
 * over its WHATWG `readable` and `writable` (WebSockets, the memory
 * transport, a transform written on streams). Either way the connection's
 * streams are the channel's from now on: use the connection the plugin
 * returns. The reverse bridge, lazy WHATWG streams over a channel, is
 * `connectionFromChannel`.
 *
 * So a plugin implements one of the two contracts, never both, and stacks
 * above and below plugins of the other kind.
 *
 * The bridge maps each channel operation onto the connection's streams,
 * with the semantics documented on `ByteChannel`:
 *
 * - Reading flows from `start`: one `read()` at a time, each chunk handed
 *   to `sink.data` as it is (chunks read from a connection belong to the
 *   reader). `pause` holds back the next chunk until `resume`, so the
 *   readable's own queue fills and its backpressure reaches the peer. The
 *   readable's end is `sink.end`; its error is `sink.readError` (only the
 *   incoming direction is known to have failed).
 * - `write` queues the chunk on the writable's writer at once and returns
 *   `false` once more than 64 KiB are waiting for the writable to take
 *   them; `sink.drain` follows once less than half of that is. A failed
 *   write, or the writable erroring (the connection broke), is
 *   `sink.error`.
 * - `end` closes the writable (a half-close) and settles with it.
 * - `stopReading` cancels the readable: the connection's contract for that
 *   direction applies, and the writable is left alone.
 * - `destroy` is `connection.close()`, with the channel's error as the
 *   reason when a direction was still open; with `reset` (an abort) the
 *   writable is aborted first, so the peer sees an error, not an end.
 * - `closed` resolves once the connection's `closed` did and the readable
 *   has nothing more for the sink (its end or error was delivered, or
 *   reading was stopped), as a socket closes only after its `end`: a sink
 *   may take `closed` to mean that whatever is still open was torn down.
 * - `halfClose` is the connection's (absent means `true`).
 *
 * Browser-safe: WHATWG streams only.
 */
export function channelOf(connection: Connection): ByteChannel {
  return connection.takeChannel?.() ?? new StreamsChannel(connection)
}

/** Bytes waiting for the writable beyond which `write` asks to wait for `drain`. */
const WRITE_WINDOW = 64 * 1024

const noop = () => {}

function asMsError(error: unknown, address: string, what: string): MsError {
  return isMsError(error) ? error : new StreamError(what, { address, cause: error })
}

/** A `ByteChannel` over a connection's WHATWG streams (see `channelOf`). */
class StreamsChannel implements ByteChannel {
  readonly closed: Promise<void>
  readonly halfClose: boolean
  readonly #connection: Connection
  readonly #address: string
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>
  #sink: ChannelSink | undefined
  // ---- reading
  #readOpen = true
  #paused = false
  // A read() is in flight.
  #reading = false
  // A chunk that arrived after pause(), delivered on resume.
  #held: Uint8Array | undefined
  #scheduled = false
  #readingDone!: () => void
  // ---- writing
  #writeOpen = true
  #ending: Promise<void> | undefined
  // Bytes handed to the writer that it has not taken yet.
  #queued = 0
  #waitingForDrain = false
  // ---- teardown
  // Set once the connection failed or was torn down: nothing is delivered after it.
  #failed = false
  // What the sink is told when the connection fails before `start`.
  #failure: MsError | undefined
  #destroyed = false

  readonly #onRead = (result: ReadableStreamReadResult<Uint8Array>): void => {
    this.#reading = false
    if (!this.#readOpen) return
    if (result.done) {
      this.#finishReading()
      this.#sink!.end()
      return
    }
    const chunk = result.value
    if (!(chunk instanceof Uint8Array)) {
      this.#readFailed(new StreamError(`the connection's readable yielded a ${chunk === null ? 'null' : typeof chunk}, not a Uint8Array`, { address: this.#address }))
      this.#reader.cancel().catch(noop)
      return
    }
    if (this.#paused) this.#held = chunk
    else this.#deliver(chunk)
    this.#pump()
  }

  readonly #onReadError = (error: unknown): void => {
    this.#reading = false
    if (this.#readOpen) this.#readFailed(asMsError(error, this.#address, 'reading from the connection failed'))
  }

  readonly #onWriteError = (error: unknown): void => {
    this.#fail(asMsError(error, this.#address, 'writing to the connection failed'))
  }

  readonly #run = (): void => {
    this.#scheduled = false
    this.#pump()
  }

  constructor(connection: Connection) {
    this.#connection = connection
    this.#address = connection.remoteAddress
    this.halfClose = connection.halfClose !== false
    const readingDone = new Promise<void>((resolve) => (this.#readingDone = resolve))
    this.closed = connection.closed.then(() => {
      // Released: the readable is finished too, or holds its last chunks.
      // Look (even while paused), so that its end or error is delivered
      // before `closed`, and only unread data keeps `closed` waiting.
      if (this.#readOpen && !this.#reading && !this.#held && this.#sink) this.#read()
      return readingDone
    })
    // Both streams are locked to the channel from now on, as a taken
    // channel leaves the connection's streams unusable.
    this.#reader = connection.readable.getReader()
    this.#writer = connection.writable.getWriter()
    // The writable erroring is how a broken connection shows while we are
    // not writing (an ended writer's `closed` just resolves).
    this.#writer.closed.then(noop, this.#onWriteError)
  }

  #deliver(chunk: Uint8Array): void {
    // Empty chunks carry nothing (a socket never delivers one).
    if (chunk.byteLength > 0) this.#sink!.data(chunk)
  }

  #readFailed(error: MsError): void {
    this.#finishReading()
    if (!this.#failed) this.#sink!.readError(error)
  }

  #finishReading(): void {
    this.#readOpen = false
    this.#held = undefined
    this.#readingDone()
  }

  #pump(): void {
    if (!this.#readOpen || this.#paused || this.#reading || this.#failed) return
    const held = this.#held
    if (held) {
      this.#held = undefined
      this.#deliver(held)
      // The sink may have paused or stopped reading again.
      if (!this.#readOpen || this.#paused || this.#failed) return
    }
    this.#read()
  }

  #read(): void {
    this.#reading = true
    this.#reader.read().then(this.#onRead, this.#onReadError)
  }

  #fail(error: MsError | (() => MsError)): void {
    if (this.#failed) return
    this.#failed = true
    // Both directions finished cleanly: nothing to report (the same rule as a socket channel).
    if (!this.#readOpen && !this.#writeOpen && !this.#waitingForDrain) return
    this.#finishReading()
    this.#writeOpen = this.#waitingForDrain = false
    this.#failure = typeof error === 'function' ? error() : error
    this.#sink?.error(this.#failure)
  }

  start(sink: ChannelSink): void {
    if (this.#sink) throw new Error('channel already started')
    this.#sink = sink
    if (this.#failed) {
      if (this.#failure) sink.error(this.#failure)
      return
    }
    this.#pump()
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    // Never synchronously: the sink calling resume() is not ready for data
    // until it returns (a socket's resume delivers later too).
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(this.#run)
    }
  }

  write(chunk: Uint8Array): boolean {
    if (!this.#writeOpen || this.#ending || this.#failed) return true
    const length = chunk.byteLength
    if (length === 0) return true
    this.#queued += length
    this.#writer.write(chunk).then(() => this.#taken(length), this.#onWriteError)
    if (this.#queued <= WRITE_WINDOW) return true
    this.#waitingForDrain = true
    return false
  }

  #taken(length: number): void {
    this.#queued -= length
    if (this.#waitingForDrain && this.#queued <= WRITE_WINDOW / 2) {
      this.#waitingForDrain = false
      if (!this.#failed) this.#sink!.drain()
    }
  }

  end(): Promise<void> {
    if (this.#ending) return this.#ending
    if (this.#failed || !this.#writeOpen) return Promise.reject(new StreamError('connection closed', { address: this.#address }))
    this.#ending = this.#writer.close().then(
      () => {
        this.#writeOpen = false
      },
      (error: unknown) => {
        const failure = asMsError(error, this.#address, 'closing the connection failed')
        this.#fail(failure)
        throw failure
      },
    )
    return this.#ending
  }

  stopReading(): void {
    if (!this.#readOpen) return
    this.#finishReading()
    // A pending read resolves as done, which #onRead then ignores.
    this.#reader.cancel().catch(noop)
  }

  destroy(error?: MsError | (() => MsError), reset?: boolean): void {
    if (this.#destroyed) return
    this.#destroyed = true
    if (error) this.#fail(error)
    else this.#failed = true
    this.#finishReading()
    const writing = this.#writeOpen
    this.#writeOpen = false
    // An abort (reset) aborts the writable, which the peer sees as an
    // error; otherwise close(), an orderly end at the peer (the Connection
    // contract). The reason is the cause our own streams report.
    if (reset && writing) this.#writer.abort(this.#failure).then(noop, noop)
    this.#connection.close(this.#failure).then(noop, noop)
  }
}
