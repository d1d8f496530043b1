import type { Socket } from 'node:net'
import { MsError, StreamError, TimeoutError } from '../errors.js'
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
 * - `readable` is a default stream counted in bytes: each socket chunk is
 *   enqueued as it is (no copy), and the socket is paused once the queue
 *   holds `readableHighWaterMark` bytes and resumed on the next pull. Chunks
 *   are `Buffer`s, which are `Uint8Array`s.
 * - `writable` hands chunks straight to `socket.write` and resolves at once
 *   while less than `writableHighWaterMark` bytes are queued, otherwise on
 *   `drain`. The socket keeps a reference to each chunk until it is sent, so
 *   callers must not mutate a chunk after writing it. `close()` half-closes
 *   (`socket.end()`) and resolves once the data is flushed; `abort()`
 *   destroys the socket.
 * - Socket errors become `StreamError`s carrying `remoteAddress`, with the
 *   errno code (e.g. `ECONNRESET`) as `code` and the Node error as `cause`.
 */
export function fromNodeSocket(socket: Socket, options: FromNodeSocketOptions): Connection {
  const { remoteAddress, direction } = options
  const readableHwm = options.readableHighWaterMark ?? 256 * 1024
  const writableHwm = options.writableHighWaterMark ?? 1024 * 1024

  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  let isClosed = socket.destroyed && socket.closed
  if (isClosed) resolveClosed()

  // Set once the socket failed or was torn down; later operations fail with it.
  let failure: MsError | undefined
  let readableDone = false
  let writableDone = false
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let writeController!: WritableStreamDefaultController
  // While the socket flows, `pull` returns a promise that stays pending
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

  const onData = (chunk: Buffer) => {
    if (readableDone) return
    readController.enqueue(chunk)
    if ((readController.desiredSize ?? 0) <= 0) {
      socket.pause()
      releasePull()
    }
  }
  const onEnd = () => {
    if (readableDone) return
    readableDone = true
    releasePull()
    try {
      readController.close()
    } catch {
      // already closed or errored
    }
  }
  const onDrain = () => {
    const waiter = drainWaiter
    drainWaiter = undefined
    waiter?.resolve()
  }
  // Takes a thunk so that the common case, a socket closing after both
  // directions ended cleanly, builds no error (and no stack trace) at all.
  const fail = (error: MsError | (() => MsError)) => {
    releasePull()
    if (readableDone && writableDone && !drainWaiter) return
    failure ??= typeof error === 'function' ? error() : error
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

  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readController = controller
      },
      pull() {
        if (readableDone) return
        if (socket.isPaused()) {
          socket.resume()
          return
        }
        return new Promise<void>((resolve) => (pullWaiter = resolve))
      },
      cancel() {
        readableDone = true
        releasePull()
        socket.off('data', onData)
        // Node cannot shut down only the read side of a socket. Once both
        // directions are done nothing remains, so release it; otherwise keep
        // draining (and dropping) incoming bytes so the peer is not stalled.
        if (writableDone) socket.destroy()
        else socket.resume()
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
        if (socket.write(chunk) || socket.writableLength < writableHwm) return
        // abort() waits for the write in flight: a peer that never reads
        // must not make it wait forever, so the abort cuts the wait short.
        const signal = writeController.signal as AbortSignal | undefined
        return new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            socket.destroy()
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
      close() {
        if (failure) throw failure
        return new Promise<void>((resolve, reject) => {
          socket.end((error?: Error | null) => {
            writableDone = true
            if (failure || error) reject(failure ?? streamError(error, remoteAddress))
            else resolve()
            if (readableDone && !socket.destroyed && socket.readableEnded) socket.destroy()
          })
        })
      },
      abort() {
        writableDone = true
        socket.destroy()
      },
    },
    // The socket does the buffering (see writableHighWaterMark). The
    // stream's queue is byte-counted and larger than a typical chunk so that
    // `writer.ready` stays resolved while the socket keeps up, rather than
    // flipping to a fresh pending promise after every write.
    // Non-Uint8Array chunks count as 0 here and are refused by write().
    { highWaterMark: 256 * 1024, size: (chunk) => (chunk as Uint8Array | undefined)?.byteLength ?? 0 },
  )

  if (isClosed) {
    fail(new StreamError('connection closed', { address: remoteAddress }))
  } else {
    const idle = options.idleTimeout
    if (idle !== undefined && idle > 0) {
      socket.setTimeout(idle, () => {
        fail(new TimeoutError(idle, { address: remoteAddress, what: 'idle connection' }))
        socket.destroy()
      })
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('drain', onDrain)
    socket.on('error', onError)
    socket.on('close', onClose)
  }

  let closing: Promise<void> | undefined
  const close = (reason?: unknown): Promise<void> => {
    closing ??= (() => {
      if (!isClosed) {
        fail(() => new StreamError('connection closed locally', { address: remoteAddress, cause: reason }))
        socket.destroy()
      }
      return closed
    })()
    return closing
  }

  return { readable, writable, remoteAddress, direction, info: {}, close, closed, ...(options.halfClose === false ? { halfClose: false } : {}) }
}
