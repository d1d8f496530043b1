import type { Connection, ConnectionInfo } from '@ms/core'
import { createWsConnection, type WsDriver } from './connection.js'

export interface NodeConnectionOptions {
  remoteAddress: string
  direction: 'inbound' | 'outbound'
  info: ConnectionInfo
  highWaterMark: number
  closeTimeout: number
  /** While our readable is full and the socket paused, milliseconds between pings that notice a peer that left. Default 5000. */
  pausedProbeInterval?: number
}

/**
 * The part of an npm `ws` (v8) WebSocket that `fromNodeWebSocket` uses.
 * Declared here rather than imported from `ws`, so our published types do
 * not need `@types/ws` (a strict TypeScript consumer without skipLibCheck
 * would otherwise fail on a type import it cannot resolve). A `ws`
 * WebSocket is assignable to it.
 */
export interface NodeWebSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: Uint8Array, options: { binary: boolean }, callback: (error?: Error) => void): void
  ping(): void
  pause(): void
  resume(): void
  close(code?: number, reason?: string): void
  terminate(): void
  on(event: 'message', listener: (data: unknown, isBinary: boolean) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  once(event: 'close', listener: (code: number, reason: { toString(): string }) => void): unknown
}

/**
 * A `Connection` over an open npm `ws` WebSocket. Inbound backpressure is
 * real: the socket is paused while our readable's queue is full, so TCP
 * flow control reaches the sender.
 */
export function fromNodeWebSocket(socket: NodeWebSocket, options: NodeConnectionOptions): Connection {
  // A server's frames are not masked, so `ws` writes our bytes by
  // reference after send() returns; the caller may reuse its buffer once
  // the write resolves, so we copy. A client masks into a fresh buffer.
  const copy = options.direction === 'inbound'
  let drainLow = -1
  let onDrained: (() => void) | undefined
  // One shared callback for every send (no closure per message): checks
  // whether a waiting writer can go on.
  const sent = () => {
    if (onDrained !== undefined && (socket.bufferedAmount <= drainLow || socket.readyState !== 1)) {
      const callback = onDrained
      onDrained = undefined
      callback()
    }
  }
  const driver: WsDriver = {
    get open() {
      return socket.readyState === 1
    },
    get bufferedAmount() {
      return socket.bufferedAmount
    },
    send(data) {
      socket.send(copy ? Buffer.from(data) : data, { binary: true }, sent)
    },
    onDrain(low, callback) {
      if (socket.bufferedAmount <= low || socket.readyState !== 1) return callback()
      drainLow = low
      onDrained = callback
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    probe: () => {
      // A write to a connection the peer has torn down fails (EPIPE or
      // ECONNRESET); ws then closes the socket and we learn of it.
      if (socket.readyState === 1) socket.ping()
    },
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
  }
  const { connection, sink } = createWsConnection(driver, options)
  let cause: unknown
  socket.on('message', (data, isBinary) => {
    if (!isBinary) return sink.text()
    const bytes = data as Buffer
    sink.message(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  })
  // Errors are followed by 'close'; keep the first as the cause.
  socket.on('error', (error) => {
    cause ??= error
  })
  socket.once('close', (code, reason) => {
    sent()
    // The close frame's code describes the peer's view; a local error
    // (a message over maxPayload, a protocol violation, a reset) is what
    // actually ended this connection.
    const errorCode = (cause as { code?: string } | undefined)?.code
    if (errorCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') code = 1009
    else if (cause !== undefined && (code === 1000 || code === 1005)) code = 1006
    sink.closed(code, reason.toString(), cause)
  })
  return connection
}
