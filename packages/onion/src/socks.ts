import { isIPv6, type Socket } from 'node:net'
import { ExactReader, abortReason, isMsError, throwIfAborted } from '@ms/core'
import { dialSocket } from '@ms/core/node'
import { ProxyUnreachableError, SocksProtocolError, SocksReplyError, type ProxyAttempt } from './errors.js'

/** Where a SOCKS5 proxy (Tor's SocksPort) listens. */
export interface SocksProxy {
  host: string
  port: number
}

/** RFC 1929 username/password; Tor uses them only to keep circuits apart. */
export interface SocksCredentials {
  username: string
  password: string
}

/** Tor's daemon first, then Tor Browser's bundled tor. */
export const DEFAULT_PROXIES: readonly SocksProxy[] = Object.freeze([
  Object.freeze({ host: '127.0.0.1', port: 9050 }),
  Object.freeze({ host: '127.0.0.1', port: 9150 }),
])

/**
 * Normalises one proxy: `{ host, port }`, `'host:port'`, `'[v6]:port'`,
 * `'socks5://host:port'` or `'socks5h://host:port'`. Throws `TypeError` on
 * anything else (a configuration mistake, found when the transport is made).
 */
export function parseProxy(spec: string | SocksProxy): SocksProxy {
  if (typeof spec === 'object' && spec !== null) {
    const { host, port } = spec
    if (typeof host !== 'string' || host === '' || !isPort(port)) {
      throw new TypeError(`a SOCKS proxy needs a host and a port 1-65535, got ${JSON.stringify(spec)}`)
    }
    return { host, port }
  }
  if (typeof spec === 'string') {
    const m = /^(?:socks5h?:\/\/)?(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]]+)):(\d{1,5})\/?$/.exec(spec)
    const port = m ? Number(m[3]) : NaN
    if (m && isPort(port)) return { host: (m[1] ?? m[2])!, port }
  }
  throw new TypeError(`a SOCKS proxy is "host:port" or { host, port }, got ${JSON.stringify(spec)}`)
}

/** An integer 1-65535. */
export function isPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535
}

/** `host:port`, with brackets around IPv6 hosts. */
export function proxyName(proxy: SocksProxy): string {
  return isIPv6(proxy.host) ? `[${proxy.host}]:${proxy.port}` : `${proxy.host}:${proxy.port}`
}

export interface SocksConnectOptions {
  /** Tried in order; the first that accepts a TCP connection is used. */
  proxies: readonly SocksProxy[]
  /** Sent to the proxy as a domain name (address type 3); never resolved here. */
  host: string
  port: number
  credentials?: SocksCredentials
  /** Aborting destroys the socket and rejects with the signal's reason. */
  signal: AbortSignal
  /** The address being dialled, for errors. */
  address: string
}

/**
 * Opens a TCP connection through a SOCKS5 proxy (RFC 1928 CONNECT with a
 * domain name, RFC 1929 authentication when credentials are given).
 * Resolves to the socket, paused, positioned at the first byte from the
 * destination; bytes that arrived with the proxy's reply are pushed back
 * into it. Only a failure to reach a proxy moves on to the next one: once a
 * proxy answers, its answer is final.
 *
 * We speak SOCKS5 ourselves rather than through npm `socks`, which reports
 * a refusal only as text (so Tor's extended replies 0xF0-0xF7 would all read
 * "undefined") and leaves its handshake timer running after success.
 */
export async function socksConnect(options: SocksConnectOptions): Promise<Socket> {
  const { proxies, signal, address } = options
  if (proxies.length === 0) throw new TypeError('at least one SOCKS proxy is needed')
  if (Buffer.byteLength(options.host) > 255) throw new TypeError('a SOCKS5 domain name has at most 255 bytes')
  const attempts: ProxyAttempt[] = []
  for (const proxy of proxies) {
    throwIfAborted(signal, address)
    const socket = await tcpConnect(proxy, signal, address).catch((error: unknown) => {
      if (signal.aborted) throw abortReason(signal, address)
      attempts.push({ proxy: proxyName(proxy), error })
      return undefined
    })
    if (socket) return handshake(socket, proxy, options)
  }
  throw new ProxyUnreachableError(address, attempts)
}

function tcpConnect(proxy: SocksProxy, signal: AbortSignal, address: string): Promise<Socket> {
  // allowHalfOpen: fromNodeSocket's half-close semantics need it (Tor
  // itself closes a stream entirely on the first FIN; see the README).
  return dialSocket({
    connect: { host: proxy.host, port: proxy.port, noDelay: true, allowHalfOpen: true },
    address,
    target: `the SOCKS proxy ${proxyName(proxy)}`,
    signal,
  })
}

/** Core's exact-length reader over a socket in flowing mode, for the handshake. */
function socketReader(socket: Socket, address: string) {
  const exact = new ExactReader({ address })
  const onData = (chunk: Buffer) => exact.push(chunk)
  const onEnd = () => exact.end()
  const onError = (error: Error) => exact.fail(error)
  socket.on('data', onData)
  socket.on('end', onEnd)
  socket.on('close', onEnd)
  socket.on('error', onError)
  return {
    read: (n: number) => exact.readExactly(n),
    /** Stops reading; with `keep`, unread bytes go back into the socket for the next reader. */
    detach(keep: boolean): void {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.off('error', onError)
      socket.pause()
      const rest = exact.drain()
      if (keep && rest.length > 0) socket.unshift(rest.length === 1 ? rest[0]! : Buffer.concat(rest))
    },
  }
}

async function handshake(socket: Socket, proxy: SocksProxy, options: SocksConnectOptions): Promise<Socket> {
  const { signal, address, credentials } = options
  const name = proxyName(proxy)
  const reader = socketReader(socket, address)
  // Destroying the socket wakes a pending read with a failure; the catch
  // below then reports the abort reason instead of that failure.
  const onAbort = () => socket.destroy()
  signal.addEventListener('abort', onAbort, { once: true })
  const protocolError = (message: string, code = 'SOCKS_PROTOCOL', cause?: unknown) =>
    new SocksProtocolError(message, { address, proxy: name, code, cause })
  try {
    // Greeting: offer exactly one method, so a proxy cannot pick "no
    // authentication" when the caller asked for circuit isolation.
    socket.write(Uint8Array.of(5, 1, credentials ? 2 : 0))
    const [version, method] = await reader.read(2)
    if (version !== 5) throw protocolError(`not a SOCKS5 proxy (version byte ${version})`)
    if (method === 0xff) {
      throw protocolError(`accepts none of our authentication methods (${credentials ? 'username/password' : 'none'})`, 'SOCKS_AUTH_METHOD')
    }
    if (method !== (credentials ? 2 : 0)) throw protocolError(`chose authentication method ${method}, which we did not offer`)
    if (credentials) {
      const user = Buffer.from(credentials.username)
      const pass = Buffer.from(credentials.password)
      socket.write(Buffer.concat([Uint8Array.of(1, user.length), user, Uint8Array.of(pass.length), pass]))
      const [, status] = await reader.read(2)
      if (status !== 0) throw protocolError('rejected our username/password', 'SOCKS_AUTH_FAILED')
    }
    const host = Buffer.from(options.host)
    const port = Buffer.alloc(2)
    port.writeUInt16BE(options.port)
    socket.write(Buffer.concat([Uint8Array.of(5, 1, 0, 3, host.length), host, port]))
    const [replyVersion, reply] = await reader.read(2)
    if (replyVersion !== 5) throw protocolError(`answered CONNECT with version byte ${replyVersion}`)
    if (reply !== 0) throw new SocksReplyError(reply!, { address, proxy: name })
    const [, type] = await reader.read(2)
    const length = type === 1 ? 4 : type === 4 ? 16 : type === 3 ? (await reader.read(1))[0]! : -1
    if (length < 0) throw protocolError(`answered with unknown address type ${type}`)
    await reader.read(length + 2)
    reader.detach(true)
    return socket
  } catch (error) {
    reader.detach(false)
    socket.on('error', () => {})
    socket.destroy()
    if (signal.aborted) throw abortReason(signal, address)
    if (error instanceof SocksReplyError || error instanceof SocksProtocolError) throw error
    if (isMsError(error, 'StreamError')) throw protocolError(`closed the connection during the SOCKS handshake (${error.message})`, 'SOCKS_PROTOCOL', error)
    throw protocolError((error as Error).message ?? String(error), 'SOCKS_PROTOCOL', error)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
