import type { ListenOptions as NodeListenOptions, Server, Socket } from 'node:net'
import { LimitError, ListenError, abortReason, type MsError } from '../errors.js'
import { describeError, errorCode } from './errors.js'

export interface ListenServerOptions {
  /** What `server.listen` takes: `{ host, port }` or `{ path }`. */
  listen: NodeListenOptions
  /** The address being bound, carried by every error. */
  address: string
  /** Aborting during the bind closes the server and rejects with the reason (an `MsError`). */
  signal?: AbortSignal
}

/**
 * Binds a Node server; the one bind of every socket transport. Settles
 * exactly once: when listening, with a `ListenError` carrying the errno
 * `code` (`EADDRINUSE`, `EACCES`, ...), or, when the signal aborts first,
 * with its reason, the server closed. It adds no listener that outlives
 * the bind: see `reportAcceptErrors` for errors after it.
 */
export function listenServer(server: Server, options: ListenServerOptions): Promise<void> {
  const { signal, address } = options
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal, address))
    const cleanup = () => {
      server.off('error', onError)
      server.off('listening', onListening)
      signal?.removeEventListener('abort', onAbort)
    }
    const onError = (error: Error) => {
      cleanup()
      reject(new ListenError(`could not listen on ${address}: ${describeError(error)}`, { address, code: errorCode(error), cause: error }))
    }
    const onListening = () => {
      cleanup()
      resolve()
    }
    const onAbort = () => {
      cleanup()
      server.on('error', () => {})
      server.close()
      reject(abortReason(signal!, address))
    }
    server.once('error', onError)
    server.once('listening', onListening)
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      server.listen(options.listen)
    } catch (error) {
      onError(error as Error)
    }
  })
}

/**
 * After the bind, a server's errors concern accepting (EMFILE and the
 * like), not the listener as a whole: report each as a `ListenError` and
 * carry on. Without `onError` they are swallowed, never thrown.
 */
export function reportAcceptErrors(server: Server, address: string, onError: ((error: MsError) => void) | undefined): void {
  server.on('error', (error) => {
    onError?.(new ListenError(`error while accepting on ${address}: ${describeError(error)}`, { address, code: errorCode(error), cause: error }))
  })
}

/**
 * Counts a listener's open inbound sockets. `admit(socket, from)` (`from`
 * is the connection's remote address) returns
 * `true` and counts the socket until it closes, or, at `max` open, destroys
 * it, reports a `LimitError` to `onError` and returns `false`. With `max`
 * undefined every socket is admitted.
 */
export function connectionLimit(max: number | undefined, onError: ((error: MsError) => void) | undefined): (socket: Socket, from: string) => boolean {
  let open = 0
  const closed = () => void open--
  return (socket, from) => {
    if (max === undefined) return true
    if (open >= max) {
      socket.destroy()
      onError?.(new LimitError(`too many open connections (${max}); closed one from ${from}`, { address: from }))
      return false
    }
    open++
    socket.once('close', closed)
    return true
  }
}

