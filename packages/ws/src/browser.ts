import { DialError, raceSignal, throwIfAborted, type Connection, type Segment, type Transport } from '@ms/core'
import { formatWsUrl, parseWsSegment, wsSegment, type WsAddress } from './address.js'
import { fromDomWebSocket, type DomWebSocket, type DomWebSocketConstructor } from './browser-driver.js'
import './info.js'

export { canonicalPath, formatWsUrl, parseWsSegment, wsSegment, type WsAddress } from './address.js'
export type { DomWebSocket, DomWebSocketConstructor } from './browser-driver.js'
export type { WsInfo } from './info.js'

/** Options of the browser build: a client only. */
export interface WsBrowserOptions {
  /** Bytes queued for sending before a write waits. Default 256 KiB. */
  highWaterMark?: number
  /** Milliseconds to wait for the peer's close frame. Default 2000. */
  closeTimeout?: number
  /** Milliseconds between looks at `bufferedAmount` while a writer waits. Default 5. */
  pollInterval?: number
  /** The WebSocket implementation. Default `globalThis.WebSocket`. */
  WebSocket?: DomWebSocketConstructor
  /** Listening options of the Node build are accepted and ignored, so one config serves both. */
  [option: string]: unknown
}

const DEFAULTS = { highWaterMark: 256 * 1024, closeTimeout: 2000, pollInterval: 5 }

/**
 * The `ws` transport for browsers (and any runtime with a standard global
 * `WebSocket`): dials `ws://` and `wss://` addresses; cannot listen.
 */
export function ws(options: WsBrowserOptions = {}): Transport<WsAddress> {
  const highWaterMark = options.highWaterMark ?? DEFAULTS.highWaterMark
  const closeTimeout = options.closeTimeout ?? DEFAULTS.closeTimeout
  const pollInterval = options.pollInterval ?? DEFAULTS.pollInterval
  return {
    name: 'ws',
    parse: (segment: Segment) => parseWsSegment(segment),
    stringify: (address: WsAddress) => wsSegment(address),
    dial(address: WsAddress, { signal } = {}) {
      const url = formatWsUrl(address)
      const Impl = options.WebSocket ?? (globalThis as { WebSocket?: DomWebSocketConstructor }).WebSocket
      return raceSignal(
        (async () => {
          throwIfAborted(signal, url)
          if (!Impl) throw new DialError('this runtime has no global WebSocket; pass one as the WebSocket option', { address: url, code: 'ENOWEBSOCKET' })
          return dialDom(Impl, address, url, { highWaterMark, closeTimeout, pollInterval }, signal)
        })(),
        signal,
        (late) => void late.close(),
        url,
      )
    },
  }
}

function dialDom(
  Impl: DomWebSocketConstructor,
  address: WsAddress,
  url: string,
  settings: { highWaterMark: number; closeTimeout: number; pollInterval: number },
  signal: AbortSignal | undefined,
): Promise<Connection> {
  return new Promise<Connection>((resolve, reject) => {
    let socket: DomWebSocket
    try {
      socket = new Impl(url)
    } catch (error) {
      reject(new DialError(`cannot open ${url}: ${(error as Error)?.message ?? String(error)}`, { address: url, code: 'EINVAL', cause: error }))
      return
    }
    socket.binaryType = 'arraybuffer'
    const cleanup = () => {
      socket.removeEventListener('open', onOpen)
      socket.removeEventListener('close', onClose)
      socket.removeEventListener('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onOpen = () => {
      cleanup()
      resolve(fromDomWebSocket(socket, { remoteAddress: url, info: { ws: { path: address.path, secure: address.secure } }, ...settings }))
    }
    let errorCause: unknown
    const onError = (event: Event) => {
      errorCause = (event as { error?: unknown }).error ?? errorCause
    }
    const onClose = (event: CloseEvent) => {
      cleanup()
      // Browsers hide why a WebSocket failed (refused, TLS, HTTP status): 1006 is all we learn.
      const detail = errorCause instanceof Error ? `: ${errorCause.message}` : ''
      reject(new DialError(`could not open ${url} (close code ${event.code})${detail}`, { address: url, code: codeOf(errorCause) ?? `WS_${event.code}`, cause: errorCause }))
    }
    const onAbort = () => {
      cleanup()
      // Ends the attempt; the raceSignal around us reports the abort.
      socket.addEventListener('error', () => {})
      socket.close()
      reject(new DialError(`dialling ${url} was aborted`, { address: url, code: 'ABORT_ERR' }))
    }
    socket.addEventListener('open', onOpen)
    socket.addEventListener('close', onClose as (event: never) => void)
    socket.addEventListener('error', onError as (event: never) => void)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}
