import { StreamError, type ByteChannel, type ChannelSink, type Connection, type MsError } from '@ms/core'
import { asBuffer, toBytes, toError, type Bytes, type PullBackend, type PullCallback, type PullChunk, type PullSource } from './pull-bytes.js'

const noop = () => {}

/**
 * `toPullDuplex` over a connection's `ByteChannel` (`channelOf`): the
 * pull-stream duplex sits directly on the socket (or on shs's box channel),
 * with no WHATWG stream in between, or on the channel `@ms/core` bridges
 * over the streams of a connection that offers none.
 *
 * Reading: the channel flows while a read is pending; a chunk that arrives
 * with nobody reading is kept and the channel paused until the next read.
 * Writing: `channel.write` until it asks for `drain`.
 */
export class ChannelPull implements PullBackend, ChannelSink {
  readonly #channel: ByteChannel
  readonly #connection: Connection
  readonly #address: string
  readonly #halfOpen: boolean

  // ---- reading
  #pending: PullCallback<Bytes> | undefined
  // Chunks that arrived while no read was pending (usually none or one).
  #queue: Bytes[] = []
  // How the incoming direction ended (`true` or the error), once it did;
  // handed to reads after the queue is empty.
  #incomingEnd: true | Error | undefined
  // Set once the source has finished (ended, failed or aborted): every later read gets it.
  #sourceEnded: true | Error | undefined

  // ---- writing
  #upstream: PullSource<PullChunk> | undefined
  // Set once the writing side is finished: nothing more is read upstream.
  #writeFinished = false
  #awaitingDrain = false
  #looping = false
  #again = false

  constructor(channel: ByteChannel, connection: Connection, address: string, halfOpen: boolean) {
    this.#channel = channel
    this.#connection = connection
    this.#address = address
    this.#halfOpen = halfOpen
    channel.start(this)
    // Flow only while a read is pending, and none is yet.
    channel.pause()
    void channel.closed.then(() => this.#onClosed())
  }

  // ---- ChannelSink (called by the channel)

  data(chunk: Uint8Array): void {
    if (this.#sourceEnded || this.#incomingEnd) return
    const cb = this.#pending
    if (cb && this.#queue.length === 0) {
      this.#pending = undefined
      cb(null, asBuffer(chunk))
      return
    }
    this.#queue.push(chunk)
    this.#channel.pause()
  }

  end(): void {
    this.#incomingEnded(true)
  }

  readError(error: MsError): void {
    this.#incomingEnded(error)
  }

  error(error: MsError): void {
    this.#incomingEnded(error)
    this.#abortUpstream(error)
  }

  drain(): void {
    if (!this.#awaitingDrain) return
    this.#awaitingDrain = false
    if (!this.#writeFinished) this.#next()
  }

  // ---- the source

  readonly source: PullSource<Bytes> = (abort, cb) => {
    if (this.#sourceEnded) return cb(this.#sourceEnded)
    if (abort) return this.#abortSource(abort, cb)
    const chunk = this.#queue.shift()
    if (chunk) return cb(null, asBuffer(chunk))
    if (this.#incomingEnd) return this.#finishSource(this.#incomingEnd, cb)
    this.#pending = cb
    this.#channel.resume()
  }

  #incomingEnded(end: true | Error): void {
    if (this.#incomingEnd || this.#sourceEnded) return
    this.#incomingEnd = end
    const cb = this.#pending
    if (cb && this.#queue.length === 0) {
      this.#pending = undefined
      this.#finishSource(end, cb)
    }
  }

  #finishSource(end: true | Error, cb: PullCallback<Bytes>): void {
    this.#sourceEnded = end
    // The peer ended its side; without half-open we end ours too.
    if (end === true && !this.#halfOpen) this.#endWriting()
    cb(end)
  }

  #abortSource(abort: unknown, cb: PullCallback<Bytes>): void {
    const end = abort === true ? true : abort instanceof Error ? abort : toError(abort, this.#address, 'aborted')
    this.#sourceEnded = end
    this.#queue.length = 0
    // A pending read learns of the abort first, as with a cancelled reader.
    const pending = this.#pending
    this.#pending = undefined
    pending?.(end)
    if (end === true && this.#halfOpen) {
      this.#channel.stopReading()
      return cb(end)
    }
    // As the original destroys the socket: both directions go.
    this.#writeFinished = true
    this.#upstream?.(end, noop)
    const done = () => cb(end)
    this.#connection.close(end === true ? undefined : end).then(done, done)
  }

  // ---- the sink

  sink(read: PullSource<PullChunk>): void {
    if (this.#writeFinished) {
      // Our side already ended (the peer ended, or the source was aborted): take nothing.
      read(true, noop)
      return
    }
    this.#upstream = read
    this.#next()
  }

  // A loop rather than recursion: a synchronous source (pull.values) would
  // otherwise grow the stack by one frame per chunk.
  #next(): void {
    this.#again = true
    if (this.#looping) return
    this.#looping = true
    while (this.#again && !this.#writeFinished && !this.#awaitingDrain) {
      this.#again = false
      this.#upstream!(null, this.#onChunk)
    }
    this.#looping = false
  }

  readonly #onChunk = (end: unknown, data?: PullChunk): void => {
    if (this.#writeFinished) return
    if (end) {
      this.#writeFinished = true
      if (end === true) this.#channel.end().catch(noop)
      else this.#failWriting(end instanceof Error ? end : toError(end, this.#address, 'aborted'))
      return
    }
    let chunk: Bytes
    try {
      chunk = toBytes(data)
    } catch (error) {
      this.#writeFinished = true
      this.#upstream!(error as Error, noop)
      this.#failWriting(error as Error)
      return
    }
    if (chunk.byteLength > 0 && !this.#channel.write(chunk)) {
      this.#awaitingDrain = true
      return
    }
    this.#next()
  }

  /** An error end (or bad chunk) from upstream: the whole connection goes. */
  #failWriting(reason: Error): void {
    this.#incomingEnded(new StreamError('connection closed locally', { address: this.#address, cause: reason }))
    void this.#connection.close(reason)
  }

  /** Ends our writing side gracefully: queued chunks flush, then the half-close. */
  #endWriting(): void {
    if (this.#writeFinished) return
    this.#writeFinished = true
    this.#awaitingDrain = false
    this.#channel.end().catch(noop)
    this.#upstream?.(true, noop)
  }

  /** The connection broke, or was closed, while the sink still read: tell its source. */
  #abortUpstream(reason: true | Error): void {
    if (this.#writeFinished) return
    this.#writeFinished = true
    this.#awaitingDrain = false
    this.#upstream?.(reason, noop)
  }

  /**
   * The channel released its resource. After a clean finish of both sides
   * nothing is open any more; otherwise someone closed the connection
   * (`stream.connection.close()`), which a channel reports to nobody.
   */
  #onClosed(): void {
    const error = new StreamError('connection closed locally', { address: this.#address })
    this.#incomingEnded(error)
    this.#abortUpstream(error)
  }
}
