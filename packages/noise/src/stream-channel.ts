import { MsError, StreamError, isMsError, type ByteChannel, type ChannelSink, type Connection } from '@ms/core'

/**
 * A `ByteChannel` over a connection's WHATWG streams, for inner
 * connections that offer no channel of their own (memory, ws), so the
 * transform has one implementation. This is the core bridge of the
 * plugin-platform work (`channelOf`), kept here until core ships it.
 */
export function channelFromStreams(connection: Connection): ByteChannel {
  return new StreamChannel(connection)
}

function toMsError(error: unknown, address: string, what: string): MsError {
  return isMsError(error) ? error : new StreamError(`${what} failed`, { address, cause: error })
}

class StreamChannel implements ByteChannel {
  readonly closed: Promise<void>
  readonly halfClose: boolean
  readonly #connection: Connection
  readonly #address: string
  #sink: ChannelSink | undefined
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined
  #paused = false
  #resumeWaiter: (() => void) | undefined
  // After stopReading: the peer's bytes are read and dropped.
  #dropping = false
  #readDone = false
  #writeDone = false
  // The inner writable's close resolved: everything we wrote was handed on.
  #writeFlushed = false
  #destroyed = false
  #waitingDrain = false

  constructor(connection: Connection) {
    this.#connection = connection
    this.#address = connection.remoteAddress
    this.halfClose = connection.halfClose !== false
    this.closed = connection.closed.then(
      () => {},
      () => {},
    )
  }

  start(sink: ChannelSink): void {
    if (this.#sink) throw new Error('channel already started')
    this.#sink = sink
    this.#reader = this.#connection.readable.getReader()
    this.#writer = this.#connection.writable.getWriter()
    void this.#pump()
  }

  async #pump(): Promise<void> {
    const reader = this.#reader!
    try {
      for (;;) {
        while (this.#paused && !this.#dropping && !this.#destroyed) await new Promise<void>((resolve) => (this.#resumeWaiter = resolve))
        if (this.#destroyed) return
        const { done, value } = await reader.read()
        if (this.#destroyed) return
        if (done) {
          this.#readDone = true
          if (!this.#dropping) this.#sink!.end()
          this.#maybeRelease()
          return
        }
        if (!this.#dropping && value.length > 0) this.#sink!.data(value)
      }
    } catch (error) {
      this.#readDone = true
      if (this.#destroyed) return
      this.#fail(toMsError(error, this.#address, 'reading'))
    }
  }

  #fail(error: MsError): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#wake()
    this.#sink!.error(error)
    void this.#connection.close(error).catch(() => {})
  }

  #wake(): void {
    const waiter = this.#resumeWaiter
    this.#resumeWaiter = undefined
    waiter?.()
  }

  // Both directions done (reading ended or given up): nothing more will
  // use the connection, release it (the Connection contract).
  #maybeRelease(): void {
    if (this.#writeFlushed && (this.#readDone || this.#dropping)) void this.#connection.close().catch(() => {})
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    this.#wake()
  }

  write(chunk: Uint8Array): boolean {
    if (this.#destroyed || this.#writeDone) return true
    const writer = this.#writer!
    writer.write(chunk).catch((error: unknown) => this.#fail(toMsError(error, this.#address, 'writing')))
    const ok = (writer.desiredSize ?? 1) > 0
    if (!ok && !this.#waitingDrain) {
      this.#waitingDrain = true
      writer.ready.then(
        () => {
          this.#waitingDrain = false
          if (!this.#destroyed) this.#sink!.drain()
        },
        () => {
          this.#waitingDrain = false
        },
      )
    }
    return ok
  }

  end(): Promise<void> {
    if (this.#destroyed) return Promise.resolve()
    if (this.#writeDone) return Promise.resolve()
    this.#writeDone = true
    return this.#writer!.close().then(
      () => {
        this.#writeFlushed = true
        this.#maybeRelease()
      },
      (error: unknown) => {
        const failure = toMsError(error, this.#address, 'ending')
        this.#fail(failure)
        throw failure
      },
    )
  }

  stopReading(): void {
    this.#dropping = true
    this.#wake()
    this.#maybeRelease()
  }

  destroy(error?: MsError | (() => MsError), reset?: boolean): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#wake()
    const open = !this.#readDone || !this.#writeDone
    if (error && open) this.#sink?.error(typeof error === 'function' ? error() : error)
    this.#reader?.cancel().catch(() => {})
    // Only an abort (reset) aborts the inner writable: the peer must see
    // an error then; a close is an orderly end at the peer.
    if (reset) this.#writer?.abort().catch(() => {})
    void this.#connection.close().catch(() => {})
  }
}
