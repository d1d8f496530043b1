import { LimitError, StreamError, queuedChunkSize, retainable, type Connection, type ConnectionInfo } from '@ms/core'

/**
 * What the connection adapter needs from a WebSocket, whichever
 * implementation it is (npm `ws` in Node, the DOM `WebSocket` in browsers).
 * The adapter owns the half-close protocol and the streams; a driver only
 * moves messages.
 */
export interface WsDriver {
  /** True while messages can be sent (readyState OPEN). */
  readonly open: boolean
  /** Bytes accepted by `send` and not yet handed to the network. */
  readonly bufferedAmount: number
  /** Sends one binary message. The bytes may be reused by the caller once this returns. */
  send(data: Uint8Array): void
  /** Calls `callback` once `bufferedAmount <= low` or the socket is gone. One waiter at a time. */
  onDrain(low: number, callback: () => void): void
  /** Stops delivering messages for now (no-op where the platform cannot). */
  pause(): void
  resume(): void
  /**
   * Sends something the peer must answer or fail on (a ping), so that a
   * paused socket, which reads nothing, still learns that the peer is gone:
   * writing to a dead TCP connection fails, and the driver then reports
   * `closed`. Absent where the platform cannot (browsers).
   */
  probe?(): void
  /** Starts the closing handshake with a close frame. */
  close(code: number, reason: string): void
  /** Drops the connection without a closing handshake. */
  terminate(): void
}

/** What the driver reports back. */
export interface WsSink {
  message(data: Uint8Array): void
  /** A text frame: not ours (we speak binary only). */
  text(): void
  /** The socket is closed: `code` from the close frame (1005 none, 1006 abnormal). */
  closed(code: number, reason: string, cause?: unknown): void
}

export interface WsConnectionOptions {
  remoteAddress: string
  direction: 'inbound' | 'outbound'
  info: ConnectionInfo
  /** Bytes queued in our readable before we pause the socket, and buffered for sending before a write waits. */
  highWaterMark: number
  /** Milliseconds to wait for the peer's close frame before dropping the socket. */
  closeTimeout: number
  /**
   * While the socket is paused (our readable is full), milliseconds between
   * probes (`WsDriver.probe`) that notice a peer that left. Default 5000.
   */
  pausedProbeInterval?: number
}

/**
 * Messages smaller than this that arrive after we asked the socket to pause
 * are gathered into one buffer (see `message`).
 */
const SPILL_MESSAGE = 1024
const SPILL_BUFFER = 16 * 1024

/** Close codes we send and how we read the ones we get. */
export const CLOSE = {
  /** Both sides ended, or close() without a reason. */
  NORMAL: 1000,
  /**
   * The peer sent text, which this protocol never does. Application codes
   * (4000-4999) rather than 1003/1011: browsers throw on any code they may
   * not send, which is all but 1000 and 3000-4999.
   */
  UNSUPPORTED_DATA: 4003,
  /** An aborted writable: the stream was cut short. */
  ABORTED: 4011,
} as const

/** Outgoing writes are cut into messages of at most this size, well under any peer's `maxPayload`. */
export const MAX_MESSAGE = 64 * 1024

const EMPTY = new Uint8Array(0)

/**
 * Adapts a WebSocket to a `Connection`.
 *
 * Half-close, which WebSockets lack, is carried in-band: an empty binary
 * message means "no more data from me". Closing the writable sends it;
 * receiving it ends the readable. Once both sides have sent it, each side
 * sends a normal close frame (1000). Empty writes are never sent, so user
 * data can never look like the marker. A peer that knows nothing of the
 * marker (npm `multiserver`'s ws plugin) ignores it as zero bytes, and
 * signals its own end by closing the socket, which ends our readable
 * normally (codes 1000 and 1005); any other close code errors it.
 */
export function createWsConnection(
  driver: WsDriver,
  options: WsConnectionOptions,
): { connection: Connection; sink: WsSink } {
  const { remoteAddress, highWaterMark } = options
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let writeController!: WritableStreamDefaultController
  /** Our readable is finished (ended, errored or cancelled). */
  let readDone = false
  let readCancelled = false
  /** The peer sent the end marker. */
  let remoteEnded = false
  /** We sent the end marker, or gave up writing. */
  let localEnded = false
  let writeDone = false
  let paused = false
  let socketClosed = false
  /** Why the socket closed badly, for writes that come later. */
  let failure: Error | undefined
  let closeTimer: ReturnType<typeof setTimeout> | undefined
  let probeTimer: ReturnType<typeof setInterval> | undefined
  // Counts pauses, so that a probe tick can tell a new pause from a long one.
  let pauses = 0
  let pausesAtLastTick = 0
  // Small messages that arrived while paused, not yet enqueued.
  let spill: Uint8Array | undefined
  let spillLength = 0
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))

  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readController = controller
      },
      pull(controller) {
        flushSpill()
        if (paused && (controller.desiredSize ?? 0) > 0) resume()
      },
      cancel() {
        // WebSockets cannot stop one direction: from now on we drop what
        // arrives, and close the socket once our side is done too.
        readDone = true
        readCancelled = true
        spill = undefined
        if (paused) resume()
        maybeFinish()
      },
    },
    // Each message counts its bytes plus what a queued object costs, so the
    // high-water mark bounds the number of queued messages too: 1-byte
    // messages once took ~150 bytes of heap each, 256 Ki of them per
    // connection before the socket was paused.
    { highWaterMark, size: queuedChunkSize },
  )

  function pause() {
    paused = true
    pauses++
    driver.pause()
    // A paused socket reads nothing, so it would not see the peer leave;
    // probing writes, and a write to a dead connection fails. One timer
    // outlives short pauses (a bulk transfer pauses and resumes all the
    // time): it probes only a socket paused since its previous tick, and
    // stops once it finds the socket flowing.
    if (driver.probe && probeTimer === undefined && !socketClosed) {
      pausesAtLastTick = pauses
      probeTimer = setInterval(probeTick, options.pausedProbeInterval ?? 5000)
      ;(probeTimer as { unref?: () => void }).unref?.()
    }
  }

  function probeTick() {
    if (!paused || socketClosed) return stopProbing()
    if (pauses !== pausesAtLastTick) pausesAtLastTick = pauses
    else driver.probe!()
  }

  function resume() {
    paused = false
    driver.resume()
  }

  function stopProbing() {
    if (probeTimer === undefined) return
    clearInterval(probeTimer)
    probeTimer = undefined
  }

  function flushSpill() {
    if (spillLength === 0) return
    const gathered = spill!.subarray(0, spillLength)
    spill = undefined
    spillLength = 0
    if (!readDone) readController.enqueue(retainable(gathered))
  }

  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      writeController = controller
    },
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('write Uint8Array chunks only')
      if (!driver.open) throw failure ?? new StreamError('the WebSocket is closed', { address: remoteAddress })
      const length = chunk.byteLength
      // An empty message is our end marker: empty writes send nothing.
      if (length === 0) return
      if (length <= MAX_MESSAGE) driver.send(chunk)
      else for (let offset = 0; offset < length; offset += MAX_MESSAGE) driver.send(chunk.subarray(offset, offset + MAX_MESSAGE))
      // Only a full buffer costs a promise; the common case returns at once.
      if (driver.bufferedAmount > highWaterMark) {
        // abort() waits for the write in flight; a peer that never reads
        // must not make it wait forever, so the abort cuts the wait short.
        const signal = writeController.signal as AbortSignal | undefined
        return new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal!.reason)
          signal?.addEventListener('abort', onAbort, { once: true })
          void waitForDrain(highWaterMark >>> 1).then(() => {
            signal?.removeEventListener('abort', onAbort)
            resolve()
          })
        })
      }
      return undefined
    },
    async close() {
      if (!driver.open) {
        if (failure) throw failure
        // The peer already closed the whole connection cleanly: nothing left to tell it.
        writeDone = localEnded = true
        return
      }
      driver.send(EMPTY)
      writeDone = localEnded = true
      maybeFinish()
      // Resolve once what we wrote has left, as a socket's end() does.
      await waitForDrain(0)
      if (failure) throw failure
    },
    abort(reason) {
      writeDone = localEnded = true
      // No half-abort exists in WebSockets: cutting our direction short
      // must reach the peer as an error, so the whole connection goes.
      teardown(CLOSE.ABORTED, 'writer aborted', reason)
    },
  })

  function waitForDrain(low: number): Promise<void> {
    return new Promise<void>((resolve) => driver.onDrain(low, resolve))
  }

  /** Both directions done: close the socket normally. */
  function maybeFinish() {
    if (localEnded && (remoteEnded || readCancelled) && !socketClosed) startClose(CLOSE.NORMAL, '')
  }

  function startClose(code: number, reason: string) {
    if (closeTimer !== undefined || socketClosed) return
    // A paused socket would never read the peer's answering close frame.
    if (paused) resume()
    driver.close(code, reason)
    // A peer that never answers our close frame must not hold the socket forever.
    closeTimer = setTimeout(() => driver.terminate(), options.closeTimeout)
    ;(closeTimer as { unref?: () => void }).unref?.()
  }

  function teardown(code: number, reason: string, cause: unknown) {
    const error = new StreamError('the connection was closed', { address: remoteAddress, cause })
    failure ??= error
    spill = undefined
    spillLength = 0
    if (!readDone) {
      readDone = true
      readController.error(error)
    }
    if (!writeDone) {
      writeDone = true
      writeController.error(error)
    }
    startClose(code, reason)
  }

  const sink: WsSink = {
    message(data) {
      if (readCancelled) return
      if (readDone) return // data after the end marker: the peer broke the protocol; ignore it
      const length = data.byteLength
      if (length === 0) {
        flushSpill()
        remoteEnded = true
        readDone = true
        readController.close()
        maybeFinish()
        return
      }
      if (paused && length < SPILL_MESSAGE) {
        // After pause() the rest of the socket's current read still comes
        // (npm ws parses a whole read at once: some 9,000 1-byte messages
        // in 64 KiB). Small ones are gathered into one buffer, enqueued on
        // the next pull, instead of one queued object each.
        if (spill !== undefined && spillLength + length > spill.length) flushSpill()
        spill ??= new Uint8Array(SPILL_BUFFER)
        spill.set(data, spillLength)
        spillLength += length
        return
      }
      flushSpill()
      const room = readController.desiredSize ?? 0
      // A message is often a view into the socket's 64 KiB read: one that
      // will wait in the queue (something already waits there) is copied
      // out if small, so that it does not keep the whole read alive. Into
      // an empty queue it usually goes straight to a pending read.
      const chunk = room < highWaterMark ? retainable(data) : data
      readController.enqueue(chunk)
      if (!paused && room - queuedChunkSize(chunk) <= 0) pause()
    },
    text() {
      teardown(CLOSE.UNSUPPORTED_DATA, 'binary messages only', new StreamError('the peer sent a text message', { address: remoteAddress }))
    },
    closed(code, reason, cause) {
      if (socketClosed) return
      socketClosed = true
      stopProbing()
      if (closeTimer !== undefined) clearTimeout(closeTimer)
      const clean = code === 1000 || code === 1005
      if (!clean) {
        const detail = `${code}${reason ? ` (${reason})` : ''}`
        failure ??=
          code === 1009
            ? new LimitError(`the WebSocket was closed: message too big ${detail}`, { address: remoteAddress, cause })
            : new StreamError(`the WebSocket was closed with code ${detail}`, { address: remoteAddress, cause })
      }
      if (!readDone) {
        // A clean close without our end marker is how peers without half-close end their side.
        if (clean) {
          flushSpill()
          readDone = true
          readController.close()
        } else {
          readDone = true
          readController.error(failure)
        }
      }
      if (!writeDone) {
        writeDone = true
        writeController.error(failure ?? new StreamError('the peer closed the connection', { address: remoteAddress }))
      }
      resolveClosed()
    },
  }

  const connection: Connection = {
    readable,
    writable,
    remoteAddress,
    direction: options.direction,
    info: options.info,
    closed,
    close(reason?: unknown) {
      if (!socketClosed) {
        // An orderly goodbye (with or without a reason): the peer's readable
        // ends, its writable fails; our own open streams fail. Only an
        // aborted writable reaches the peer as an error (CLOSE.ABORTED).
        const error = new StreamError('connection closed locally', { address: remoteAddress, cause: reason })
        failure ??= error
        spill = undefined
        if (!readDone) {
          readDone = true
          readController.error(error)
        }
        if (!writeDone) {
          writeDone = true
          writeController.error(error)
        }
        startClose(CLOSE.NORMAL, '')
      }
      return closed
    },
  }
  return { connection, sink }
}
