import type { Connection, ConnectionInfo } from '@ms/core'
import { createWsConnection, type WsDriver } from './connection.js'

/** The parts of the DOM `WebSocket` we use; npm `ws`'s client has them too, which the tests rely on. */
export interface DomWebSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  binaryType: string
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  addEventListener(type: string, listener: (event: never) => void, options?: { once?: boolean }): void
  removeEventListener(type: string, listener: (event: never) => void): void
}

export type DomWebSocketConstructor = new (url: string, protocols?: string | string[]) => DomWebSocket

export interface DomConnectionOptions {
  remoteAddress: string
  info: ConnectionInfo
  highWaterMark: number
  closeTimeout: number
  /** How often to look at `bufferedAmount` while a writer waits (browsers fire no drain event). */
  pollInterval: number
}

/**
 * A `Connection` over an open DOM WebSocket. Browsers give no way to pause
 * incoming messages, so inbound data is queued as fast as it arrives;
 * outbound backpressure watches `bufferedAmount`.
 */
export function fromDomWebSocket(socket: DomWebSocket, options: DomConnectionOptions): Connection {
  socket.binaryType = 'arraybuffer'
  let timer: ReturnType<typeof setTimeout> | undefined
  let gone = false
  let waiter: (() => void) | undefined
  let low = 0
  const poll = () => {
    timer = undefined
    if (!waiter) return
    if (gone || socket.readyState !== 1 || socket.bufferedAmount <= low) {
      const callback = waiter
      waiter = undefined
      callback()
    } else {
      timer = setTimeout(poll, options.pollInterval)
    }
  }
  const driver: WsDriver = {
    get open() {
      return !gone && socket.readyState === 1
    },
    get bufferedAmount() {
      return socket.bufferedAmount
    },
    // The DOM WebSocket copies the bytes before send() returns.
    send: (data) => socket.send(data),
    onDrain(threshold, callback) {
      if (gone || socket.readyState !== 1 || socket.bufferedAmount <= threshold) return callback()
      low = threshold
      waiter = callback
      timer ??= setTimeout(poll, options.pollInterval)
    },
    pause() {},
    resume() {},
    close: (code, reason) => socket.close(code, reason),
    // Browsers cannot drop a socket without the closing handshake; ask again and stop waiting.
    terminate: () => {
      socket.close()
      finish(1006, 'terminated')
    },
  }
  const { connection, sink } = createWsConnection(driver, { ...options, direction: 'outbound' })
  const onMessage = (event: MessageEvent) => {
    const data: unknown = event.data
    if (typeof data === 'string') return sink.text()
    if (data instanceof ArrayBuffer) return sink.message(new Uint8Array(data))
    // Some implementations (npm `ws` with binaryType 'arraybuffer' included) may still hand over views.
    if (ArrayBuffer.isView(data)) return sink.message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    sink.text()
  }
  const onClose = (event: CloseEvent) => finish(event.code, event.reason)
  function finish(code: number, reason: string) {
    if (gone) return
    gone = true
    socket.removeEventListener('message', onMessage as (event: never) => void)
    socket.removeEventListener('close', onClose as (event: never) => void)
    socket.removeEventListener('error', ignore)
    poll()
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    sink.closed(code, reason)
  }
  socket.addEventListener('message', onMessage as (event: never) => void)
  socket.addEventListener('close', onClose as (event: never) => void)
  // 'close' always follows 'error' and says all we need; listening keeps
  // EventEmitter-based implementations (npm `ws`) from throwing.
  socket.addEventListener('error', ignore)
  return connection
}

function ignore() {}
