import type { Socket } from 'node:net'
import { MsError, StreamError, TimeoutError, isMsError } from '../errors.js'
import { QUEUED_CHUNK_OVERHEAD, connectionFromChannel, type ByteChannel, type ChannelSink } from '../channel.js'
import type { Connection } from '../types.js'

export interface FromNodeSocketOptions {
  /**
   * `false` for sockets whose far end cannot carry a half-close (a Tor
   * stream ends both directions on the first FIN); copied to the
   * Connection's `halfClose`. Default `true`.
   */
  halfClose?: boolean
  /** The full address of the other end, e.g. `net:127.0.0.1:51234`. */
  remoteAddress: string
  /** `outbound` for sockets we dialled, `inbound` for accepted ones. */
  direction: 'inbound' | 'outbound'
  /**
   * Bytes the readable side buffers before the socket is paused (TCP
   * backpressure then reaches the peer). Default 256 KiB.
   */
  readableHighWaterMark?: number
  /**
   * Bytes queued in the socket before a write waits for `drain`. Node's own
   * threshold (16 KiB) makes every large chunk wait for a full drain, which
   * empties the pipeline between chunks; a larger window keeps the kernel
   * busy. Default 1 MiB.
   */
  writableHighWaterMark?: number
  /**
   * Milliseconds without a byte moving in either direction after which the
   * connection fails with `TimeoutError` and the socket is destroyed. This
   * is how a peer that stops reading (or vanishes without a FIN) is noticed
   * and dropped. Default: none.
   */
  idleTimeout?: number
}

/** A socket-level failure after the connection was established. */
function streamError(error: unknown, address: string): MsError {
  if (isMsError(error)) return error
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : String(error)
  return new StreamError(`${typeof code === 'string' ? code + ': ' : ''}${message}`, {
    address,
    cause: error,
    code: typeof code === 'string' ? code : undefined,
  })
}

/**
 * Adapts a connected Node socket (TCP, unix, or anything that behaves like
 * `net.Socket`, such as a SOCKS tunnel) to the `Connection` contract.
 *
 * The socket must have been created with `allowHalfOpen: true`, or closing
 * the peer's writable would tear down ours as well.
 *
 * The connection's streams are built on first use (see
 * `connectionFromChannel`); a transform that works on bytes directly takes
 * the socket's channel instead (`takeChannel()`, see `socketChannel`), and
 * then no stream is ever built for this layer.
 *
 * - `readable` yields the socket's chunks as they are (`Buffer`s, which are
 *   `Uint8Array`s; no copy), pausing the socket once `readableHighWaterMark`
 *   bytes are queued.
 * - `writable` hands chunks straight to `socket.write`; it resolves at once
 *   while less than `writableHighWaterMark` bytes are queued, otherwise on
 *   `drain`. The socket keeps a reference to each chunk until it is sent, so
 *   callers must not mutate a chunk after writing it. `close()` half-closes
 *   (`socket.end()`) and resolves once the data is flushed; `abort()`
 *   resets it (RST, so the peer's readable errors; a unix socket is just
 *   destroyed, its peer sees an end). `Connection.close()` destroys it:
 *   the peer sees an orderly end (FIN).
 * - Socket errors become `StreamError`s carrying `remoteAddress`, with the
 *   errno code (e.g. `ECONNRESET`) as `code` and the Node error as `cause`.
 */
export function fromNodeSocket(socket: Socket, options: FromNodeSocketOptions): Connection {
  return connectionFromChannel(socketChannel(socket, options), {
    remoteAddress: options.remoteAddress,
    direction: options.direction,
    readableHighWaterMark: options.readableHighWaterMark,
  })
}

/**
 * A `ByteChannel` over a connected Node socket (created with
 * `allowHalfOpen: true`). Options as for `fromNodeSocket`; only
 * `remoteAddress` (for errors), `halfClose`, `idleTimeout` and
 * `writableHighWaterMark` apply.
 */
export function socketChannel(socket: Socket, options: Omit<FromNodeSocketOptions, 'direction' | 'readableHighWaterMark'>): ByteChannel {
  return new SocketChannel(socket, options)
}

// The channel a socket feeds: the socket's listeners below are shared by
// every socket (an EventEmitter calls them with the socket as `this`), so
// an idle connection holds no listener closures of its own.
const CHANNEL = Symbol('ms.socketChannel')
type ChannelSocket = Socket & { [CHANNEL]: SocketChannel }

function onData(this: ChannelSocket, chunk: Buffer): void {
  this[CHANNEL].onData(chunk)
}
function onEnd(this: ChannelSocket): void {
  this[CHANNEL].onEnd()
}
function onDrain(this: ChannelSocket): void {
  this[CHANNEL].onDrain()
}
function onError(this: ChannelSocket, error: Error): void {
  this[CHANNEL].onError(error)
}
function onClose(this: ChannelSocket): void {
  this[CHANNEL].onClose()
}
function onTimeout(this: ChannelSocket): void {
  this[CHANNEL].onTimeout()
}

/**
 * A class rather than closures: thousands of idle connections each hold one
 * instance (and their sockets the shared listeners above).
 */
class SocketChannel implements ByteChannel {
  readonly closed: Promise<void>
  readonly halfClose: boolean
  readonly #socket: ChannelSocket
  readonly #address: string
  readonly #writableHwm: number
  readonly #idleTimeout: number
  #resolveClosed!: () => void
  #isClosed: boolean
  #sink: ChannelSink | undefined
  // Set once the socket failed or was torn down: nothing is delivered after it.
  #failed = false
  // What the sink is told when the socket fails before `start`.
  #failure: MsError | undefined
  #readOpen = true
  #writeOpen = true
  // A write returned false and its drain has not come yet.
  #waitingForDrain = false
  // Writes handed to the socket since its queue was last seen empty: at
  // least as many as are still queued (a per-write callback would count
  // them exactly, at a closure per channel and a callback per write).
  #unsent = 0

  onData(chunk: Buffer): void {
    if (this.#readOpen) this.#sink!.data(chunk)
  }
  onEnd(): void {
    if (!this.#readOpen) return
    this.#readOpen = false
    this.#sink!.end()
  }
  onDrain(): void {
    this.#unsent = 0
    if (!this.#waitingForDrain) return
    this.#waitingForDrain = false
    this.#sink!.drain()
  }
  onError(error: Error): void {
    this.#fail(streamError(error, this.#address))
  }
  onClose(): void {
    const address = this.#address
    // A close without an error while a direction is still open means the
    // socket went away under us (destroyed elsewhere): report it as a reset.
    this.#fail(() => new StreamError('connection closed', { address }))
    this.#isClosed = true
    const socket = this.#socket
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('drain', onDrain)
    socket.off('close', onClose)
    // onError stays attached: a late 'error' must not crash the process.
    this.#resolveClosed()
  }
  onTimeout(): void {
    this.#fail(new TimeoutError(this.#idleTimeout, { address: this.#address, what: 'idle connection' }))
    this.#socket.destroy()
  }

  constructor(socket: Socket, options: Omit<FromNodeSocketOptions, 'direction' | 'readableHighWaterMark'>) {
    this.#socket = socket as ChannelSocket
    this.#address = options.remoteAddress
    this.#writableHwm = options.writableHighWaterMark ?? 1024 * 1024
    this.#idleTimeout = options.idleTimeout ?? 0
    this.halfClose = options.halfClose !== false
    this.closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve))
    this.#isClosed = socket.destroyed && socket.closed
    if (this.#isClosed) {
      this.#resolveClosed()
      this.#fail(new StreamError('connection closed', { address: this.#address }))
      return
    }
    this.#socket[CHANNEL] = this
    // Bytes wait in the socket until `start` (a socket that was flowing, say
    // after a SOCKS exchange, would otherwise drop them on the floor).
    socket.pause()
    // Errors and the close are watched from the start, so that a socket
    // failing before anyone took its streams or channel neither crashes the
    // process (an unhandled 'error') nor goes unreported.
    socket.on('error', onError)
    socket.on('close', onClose)
    if (this.#idleTimeout > 0) socket.setTimeout(this.#idleTimeout, onTimeout)
  }

  #fail(error: MsError | (() => MsError)): void {
    if (this.#failed) return
    this.#failed = true
    // The common case, a socket closing after both directions ended
    // cleanly, builds no error (and no stack trace) at all.
    if (!this.#readOpen && !this.#writeOpen && !this.#waitingForDrain) return
    this.#readOpen = this.#writeOpen = this.#waitingForDrain = false
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
    // Until now the socket buffered what arrived (paused).
    const socket = this.#socket
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('drain', onDrain)
    socket.resume()
  }

  pause(): void {
    this.#socket.pause()
  }

  resume(): void {
    this.#socket.resume()
  }

  write(chunk: Uint8Array): boolean {
    if (!this.#writeOpen || this.#failed) return true
    const socket = this.#socket
    if (socket.writableLength === 0) this.#unsent = 0
    this.#unsent++
    if (socket.write(chunk)) return true
    // Each chunk waiting in the socket costs its bytes plus the objects that
    // hold it: counted in bytes alone, 1-byte writes (an echo of a peer's
    // 1-byte segments that never reads its answers) would queue a million
    // objects, some 150 MB, under a 1 MiB mark.
    if (socket.writableLength + this.#unsent * QUEUED_CHUNK_OVERHEAD < this.#writableHwm) return true
    this.#waitingForDrain = true
    return false
  }

  end(): Promise<void> {
    const address = this.#address
    if (this.#failed) return Promise.reject(new StreamError('connection closed', { address }))
    const socket = this.#socket
    return new Promise<void>((resolve, reject) => {
      socket.end((error?: Error | null) => {
        this.#writeOpen = false
        if (error) reject(streamError(error, address))
        else resolve()
        // Both directions are done on our side (the reading one ended or
        // was given up): release the socket, as the contract says for a
        // cancelled readable followed by a closed writable.
        if (!this.#readOpen && !socket.destroyed) socket.destroy()
      })
    })
  }

  stopReading(): void {
    if (!this.#readOpen) return
    this.#readOpen = false
    const socket = this.#socket
    socket.off('data', onData)
    // Node cannot shut down only the read side of a socket. Once both
    // directions are done nothing remains, so release it; otherwise keep
    // draining (and dropping) incoming bytes so the peer is not stalled.
    if (!this.#writeOpen) socket.destroy()
    else socket.resume()
  }

  destroy(error?: MsError | (() => MsError), reset?: boolean): void {
    if (this.#isClosed) return
    if (error) this.#fail(error)
    else this.#failed = true
    const socket = this.#socket
    if (reset) {
      // An abort must reach the peer as an error: a TCP reset (RST) does.
      // Unix sockets have none; there the peer sees an end.
      try {
        socket.resetAndDestroy()
        return
      } catch {
        // not a TCP socket
      }
    }
    socket.destroy()
  }
}
