import { createConnection, type NetConnectOpts, type Socket } from 'node:net'
import { DialError } from '../errors.js'
import { Deadline } from '../signal.js'
import { describeError, errorCode } from './errors.js'

export interface DialSocketOptions {
  /** What `net.createConnection` takes: `{ host, port }` or `{ path }`, plus socket options. */
  connect: NetConnectOpts
  /** The address being dialled, carried by every error. */
  address: string
  /** What is being reached, for the `DialError`'s sentence. Default: `address`. */
  target?: string
  /** Aborting destroys the socket and rejects with the reason (an `MsError`). */
  signal?: AbortSignal
  /** Milliseconds the connect may take before it fails with `TimeoutError` (`what: 'connect'`). Default: none. */
  timeout?: number
}

/**
 * Opens a Node socket and resolves once it is connected; the one dial of
 * every socket transport (net, unix, onion's SOCKS and control clients).
 * Settles exactly once: with the connected socket, with a `DialError`
 * carrying the errno `code` (`ECONNREFUSED`, `ENOENT`, ...) and the Node
 * error as `cause`, or, when the signal aborts or the timeout passes first,
 * with the deadline's reason; the socket is destroyed then and anything it
 * still emits is swallowed.
 */
export function dialSocket(options: DialSocketOptions): Promise<Socket> {
  const { address } = options
  const deadline = new Deadline({ signal: options.signal, timeout: options.timeout, address, what: 'connect' })
  if (deadline.aborted) return Promise.reject(deadline.reason)
  const failure = (error: unknown) =>
    new DialError(`could not connect to ${options.target ?? address}: ${describeError(error)}`, { address, code: errorCode(error), cause: error })
  return new Promise<Socket>((resolve, reject) => {
    let socket: Socket
    try {
      socket = createConnection(options.connect)
    } catch (error) {
      // Node validates some options synchronously (a port out of range).
      deadline.dispose()
      reject(failure(error))
      return
    }
    let removeAbort = () => {}
    const cleanup = () => {
      deadline.dispose()
      removeAbort()
      socket.off('connect', onConnect)
      socket.off('error', onError)
    }
    const fail = (error: unknown) => {
      cleanup()
      // Swallow anything the dying socket still emits.
      socket.on('error', () => {})
      socket.destroy()
      reject(error)
    }
    const onError = (error: Error) => fail(failure(error))
    const onConnect = () => {
      cleanup()
      resolve(socket)
    }
    socket.once('connect', onConnect)
    socket.once('error', onError)
    removeAbort = deadline.onAbort(fail)
  })
}
