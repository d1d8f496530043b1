import type { Socket } from 'node:net'
import { MsError, StreamError, TimeoutError } from '../errors.js'
import { connectionFromChannel, resolveChannelError, type ByteChannel } from '../channel.js'
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
  if (error instanceof MsError) return error
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
 *   destroys the socket.
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
  const { remoteAddress } = options
  const writableHwm = options.writableHighWaterMark ?? 1024 * 1024

  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  let isClosed = socket.destroyed && socket.closed

  let sink: ChannelSinkLike | undefined
  // Set once the socket failed or was torn down: nothing is delivered after it.
  let failed = false
  let readOpen = true
  let writeOpen = true
  // A write returned false and its drain has not come yet.
  let waitingForDrain = false

  // What the sink is told when the socket fails before `start`.
  let failure: MsError | undefined
  const fail = (error: MsError | (() => MsError)) => {
    if (failed) return
    failed = true
    // The common case, a socket closing after both directions ended
    // cleanly, builds no error (and no stack trace) at all.
    if (!readOpen && !writeOpen && !waitingForDrain) return
    readOpen = writeOpen = waitingForDrain = false
    failure = resolveChannelError(error)
    sink?.error(failure)
  }
  const onData = (chunk: Buffer) => {
    if (readOpen) sink!.data(chunk)
  }
  const onEnd = () => {
    if (!readOpen) return
    readOpen = false
    sink!.end()
  }
  const onDrain = () => {
    if (!waitingForDrain) return
    waitingForDrain = false
    sink!.drain()
  }
  const onError = (error: Error) => fail(streamError(error, remoteAddress))
  const onClose = () => {
    // A close without an error while a direction is still open means the
    // socket went away under us (destroyed elsewhere): report it as a reset.
    fail(() => new StreamError('connection closed', { address: remoteAddress }))
    isClosed = true
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('drain', onDrain)
    socket.off('close', onClose)
    // onError stays attached: a late 'error' must not crash the process.
    resolveClosed()
  }

  if (isClosed) {
    resolveClosed()
    fail(new StreamError('connection closed', { address: remoteAddress }))
  } else {
    // Bytes wait in the socket until `start` (a socket that was flowing, say
    // after a SOCKS exchange, would otherwise drop them on the floor).
    socket.pause()
    // Errors and the close are watched from the start, so that a socket
    // failing before anyone took its streams or channel neither crashes the
    // process (an unhandled 'error') nor goes unreported.
    socket.on('error', onError)
    socket.on('close', onClose)
    const idle = options.idleTimeout
    if (idle !== undefined && idle > 0) {
      socket.setTimeout(idle, () => {
        fail(new TimeoutError(idle, { address: remoteAddress, what: 'idle connection' }))
        socket.destroy()
      })
    }
  }

  return {
    closed,
    halfClose: options.halfClose !== false,
    start(target) {
      if (sink) throw new Error('channel already started')
      sink = target
      if (failed) {
        if (failure) sink.error(failure)
        return
      }
      // Until now the socket buffered what arrived (paused).
      socket.on('data', onData)
      socket.on('end', onEnd)
      socket.on('drain', onDrain)
      socket.resume()
    },
    pause() {
      socket.pause()
    },
    resume() {
      socket.resume()
    },
    write(chunk) {
      if (!writeOpen || failed) return true
      if (socket.write(chunk) || socket.writableLength < writableHwm) return true
      waitingForDrain = true
      return false
    },
    end() {
      if (failed) return Promise.reject(new StreamError('connection closed', { address: remoteAddress }))
      return new Promise<void>((resolve, reject) => {
        socket.end((error?: Error | null) => {
          writeOpen = false
          if (error) reject(streamError(error, remoteAddress))
          else resolve()
          if (!readOpen && !socket.destroyed && socket.readableEnded) socket.destroy()
        })
      })
    },
    stopReading() {
      if (!readOpen) return
      readOpen = false
      socket.off('data', onData)
      // Node cannot shut down only the read side of a socket. Once both
      // directions are done nothing remains, so release it; otherwise keep
      // draining (and dropping) incoming bytes so the peer is not stalled.
      if (!writeOpen) socket.destroy()
      else socket.resume()
    },
    destroy(error) {
      if (isClosed) return
      if (error) fail(error)
      else failed = true
      socket.destroy()
    },
  }
}

type ChannelSinkLike = Parameters<ByteChannel['start']>[0]
