import * as http from 'node:http'
import * as https from 'node:https'
import * as tls from 'node:tls'
import { isIP, type AddressInfo, type Socket as NetSocket } from 'node:net'
import type { Duplex } from 'node:stream'
import WebSocket, { WebSocketServer } from 'ws'
import {
  AbortError,
  DialError,
  ListenError,
  abortReason,
  createAdmission,
  isLoopback,
  isPrivate,
  isWildcardHost,
  scopeList,
  stripZone,
  type AdmissionTicket,
  type CanonicalScope,
  type Connection,
  type ListenOptions,
  type Scope,
  type Segment,
  type Transport,
  type TransportListener,
} from '@ms/core'
import { interfaceAddresses, listenServer, reportAcceptErrors } from '@ms/core/node'
import { canonicalPath, canonicalPathname, formatWsUrl, parseWsSegment, parseWsUrl, wsSegment, type WsAddress } from './address.js'
import { fromNodeWebSocket } from './node-driver.js'
import { clientPeer, trustPredicate, type TrustedProxies } from './proxy.js'
import { addRoute, reject } from './router.js'
import './info.js'

export { canonicalPath, formatWsUrl, parseWsSegment, parseWsUrl, wsSegment, type WsAddress } from './address.js'
export { fromNodeWebSocket, type NodeWebSocket } from './node-driver.js'
export type { TrustedProxies } from './proxy.js'
export type { WsInfo } from './info.js'

export interface WsTlsOptions {
  /** Server private key (PEM). With `cert`, our own listener serves `wss`. */
  key?: string | Buffer | Array<string | Buffer>
  /** Server certificate chain (PEM). */
  cert?: string | Buffer | Array<string | Buffer>
  /** Extra certificate authorities trusted when dialling `wss` (e.g. a self-signed certificate). */
  ca?: string | Buffer | Array<string | Buffer>
  /** Set `false` to dial `wss` servers whose certificate does not verify. Default `true`. */
  rejectUnauthorized?: boolean
}

export interface WsOptions {
  /** Interface to bind our own server to. Default: `127.0.0.1` when the only scope is `device`, else every interface. */
  host?: string
  /** Port for our own server; 0 or absent picks a free one. */
  port?: number
  /**
   * Scopes the listener advertises in. Default, as @ms/net: `device` with
   * no host or a loopback host, every scope for a wildcard, an address's
   * own scope (`local` or `public`), `public` for a host name.
   */
  scope?: Scope | readonly Scope[]
  /**
   * Public names advertised instead of the bound host in the `public`
   * scope: host names (our port and path are added) or full URLs such as
   * `wss://example.com/ms` for a listener behind a TLS-terminating proxy.
   */
  external?: string | readonly string[]
  /** The path this listener serves (and advertises). Default `/`. */
  path?: string
  /**
   * An existing `http`/`https` server to attach to instead of listening on
   * our own port. We add an `upgrade` listener for our path and never
   * close the server; several ws listeners can share it under different paths.
   */
  server?: http.Server | https.Server
  /** Whether an attached `server` is reached over TLS (advertise `wss`). Default: true for `https`/`tls` servers. */
  secure?: boolean
  /** TLS for our own listener (`key` + `cert`) and trust for `wss` dials (`ca`, `rejectUnauthorized`). */
  tls?: WsTlsOptions
  /** Largest message accepted, in bytes. Default 1 MiB (we send at most 64 KiB per message; shs frames are 4 KiB). */
  maxPayload?: number
  /**
   * Proxies (addresses or CIDR ranges, or a predicate) whose `Forwarded` /
   * `X-Forwarded-For` header names the real client. Default: none, so
   * `remoteAddress` is always the socket's peer.
   */
  trustedProxies?: TrustedProxies
  /** Bytes queued per direction before backpressure applies. Default 256 KiB. */
  highWaterMark?: number
  /** Milliseconds to wait for the peer's close frame before dropping the socket. Default 2000. */
  closeTimeout?: number
  /** TCP keep-alive on the underlying socket: `true` (probes after 60 s idle), `false`, or the delay in ms. Default `true`. */
  keepAlive?: boolean | number
  /** Milliseconds without a byte moving either way before the connection is dropped. Default: none. */
  idleTimeout?: number
  /**
   * Milliseconds a client may take from connecting to completing its HTTP
   * upgrade request (our own server only; with TLS, the TLS handshake gets
   * as long again). Timed per connection, so it holds within a few ms.
   * Default 10000.
   */
  handshakeTimeout?: number
  /**
   * Connections to our own server that have not completed their upgrade
   * request yet. Over it, after one turn of the event loop, the oldest
   * are dropped (of the peer host holding the most), so connections that
   * send nothing cost a bounded amount and cannot crowd clients out.
   * Default 1024.
   */
  maxPendingRequests?: number
}

const DEFAULTS = { maxPayload: 1024 * 1024, highWaterMark: 256 * 1024, closeTimeout: 2000, keepAliveDelay: 60_000, handshakeTimeout: 10_000, maxPendingRequests: 1024 }

/**
 * The `ws` transport for Node: listens on its own HTTP(S) port or on a
 * server you pass, and dials `ws://` and `wss://` addresses with npm `ws`.
 */
export function ws(options: WsOptions = {}): Transport<WsAddress> {
  const maxPayload = options.maxPayload ?? DEFAULTS.maxPayload
  const highWaterMark = options.highWaterMark ?? DEFAULTS.highWaterMark
  const closeTimeout = options.closeTimeout ?? DEFAULTS.closeTimeout
  const keepAlive = options.keepAlive ?? true
  const keepAliveDelay = typeof keepAlive === 'number' ? keepAlive : DEFAULTS.keepAliveDelay
  /** Keep-alive and the idle timeout on the TCP socket under a WebSocket. */
  const tuneSocket = (tcp: Duplex & Partial<Pick<NetSocket, 'setKeepAlive' | 'setTimeout'>>, websocket: WebSocket) => {
    if (keepAlive !== false) tcp.setKeepAlive?.(true, keepAliveDelay)
    const idle = options.idleTimeout
    if (idle !== undefined && idle > 0) tcp.setTimeout?.(idle, () => websocket.terminate())
  }
  const scopes = options.scope === undefined ? defaultScopes(options.host) : scopeList(options.scope as Scope | Scope[], 'device')
  const isTrusted = trustPredicate(options.trustedProxies)
  const path = canonicalPathname(options.path ?? '/')
  if (path === null) throw new TypeError(`ws: path ${JSON.stringify(options.path)} is not a URL path`)
  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535)) {
    throw new TypeError(`ws: port must be an integer 0-65535, got ${String(options.port)}`)
  }
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULTS.handshakeTimeout
  if (!(typeof handshakeTimeout === 'number' && handshakeTimeout > 0)) {
    throw new TypeError(`ws: handshakeTimeout must be a positive number of milliseconds, got ${String(options.handshakeTimeout)}`)
  }
  const maxPendingRequests = options.maxPendingRequests ?? DEFAULTS.maxPendingRequests
  if (!(Number.isInteger(maxPendingRequests) && maxPendingRequests > 0)) {
    throw new TypeError(`ws: maxPendingRequests must be a positive integer, got ${String(options.maxPendingRequests)}`)
  }
  const externals = ([] as string[]).concat((options.external as string | string[] | undefined) ?? [])
  for (const e of externals) {
    if (e.includes('://') && !parseWsUrl(e)) throw new TypeError(`ws: external ${JSON.stringify(e)} is not a ws:// or wss:// URL`)
  }

  function dial(address: WsAddress, { signal }: { signal?: AbortSignal } = {}): Promise<Connection> {
    const url = formatWsUrl(address)
    return new Promise<Connection>((resolve, rejectDial) => {
      if (signal?.aborted) return rejectDial(abortReason(signal, url))
      let settled = false
      let socket: WebSocket
      try {
        socket = new WebSocket(url, {
          perMessageDeflate: false,
          maxPayload,
          followRedirects: false,
          ca: options.tls?.ca,
          rejectUnauthorized: options.tls?.rejectUnauthorized,
        })
      } catch (error) {
        // `ws` throws synchronously on URLs it cannot use.
        return rejectDial(new DialError(`cannot dial ${url}: ${(error as Error).message}`, { address: url, code: 'EINVAL', cause: error }))
      }
      socket.binaryType = 'nodebuffer'
      socket.once('upgrade', (response: http.IncomingMessage) => tuneSocket(response.socket, socket))
      const settle = (error: Error | undefined) => {
        if (settled) return
        settled = true
        signal?.removeEventListener('abort', onAbort)
        socket.removeListener('open', onOpen)
        socket.removeListener('unexpected-response', onResponse)
        // Listeners for 'error' stay: `ws` throws on an unheard error.
        if (error) rejectDial(error)
        else resolve(fromNodeWebSocket(socket, { remoteAddress: url, direction: 'outbound', info: { ws: { path: address.path, secure: address.secure } }, highWaterMark, closeTimeout }))
      }
      const onOpen = () => settle(undefined)
      const onError = (error: Error & { code?: string }) => {
        if (settled) return
        settle(new DialError(`could not open ${url}: ${error.message}`, { address: url, code: error.code, cause: error }))
      }
      const onResponse = (req: http.ClientRequest, res: http.IncomingMessage) => {
        const status = res.statusCode ?? 0
        settle(new DialError(`${url} answered HTTP ${status} ${res.statusMessage ?? ''} instead of a WebSocket`.trim(), { address: url, code: `HTTP_${status}` }))
        res.destroy()
        req.destroy()
        socket.terminate()
      }
      const onAbort = () => {
        settle(signal ? abortReason(signal, url) : new AbortError(undefined, { address: url }))
        socket.terminate()
      }
      socket.on('open', onOpen)
      socket.on('error', onError)
      socket.on('unexpected-response', onResponse)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  async function listen(onConnection: (connection: Connection) => void, listenOptions: ListenOptions = {}): Promise<TransportListener> {
    const { signal, onError } = listenOptions
    const bindHost = options.host ?? (scopes.every((s) => s === 'device') ? '127.0.0.1' : undefined)
    const where = describeListen(options, bindHost, path!)
    if (signal?.aborted) throw abortReason(signal, where)
    const own = options.server === undefined
    const tlsOptions = options.tls?.key && options.tls?.cert ? { key: options.tls.key, cert: options.tls.cert } : undefined
    const server: http.Server = options.server ?? (tlsOptions ? https.createServer({ ...tlsOptions, handshakeTimeout }) : http.createServer())
    const secure = own ? tlsOptions !== undefined : (options.secure ?? server instanceof tls.Server)
    const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false })
    let closed = false

    // Our own server's connections until their upgrade request is complete:
    // a deadline each, and a bound on how many may wait.
    const waiting = new Map<Duplex, { timer: ReturnType<typeof setTimeout>; ticket: AdmissionTicket | null }>()
    const requests = createAdmission({ max: maxPendingRequests, maxPerSource: maxPendingRequests, sourceOf: (host) => host })
    const upgraded = (socket: Duplex) => {
      const entry = waiting.get(socket)
      if (!entry) return
      waiting.delete(socket)
      clearTimeout(entry.timer)
      if (entry.ticket) requests.release(entry.ticket)
    }
    const track = (socket: NetSocket) => {
      const timer = setTimeout(() => {
        upgraded(socket)
        socket.destroy()
      }, handshakeTimeout)
      timer.unref?.()
      const ticket = requests.admit(socket.remoteAddress ?? '', () => {
        upgraded(socket)
        socket.destroy()
      })
      waiting.set(socket, { timer, ticket })
      socket.once('close', () => upgraded(socket))
    }

    const unroute = addRoute(server, path!, (req, socket, head) => {
      // The request is in: its deadline and its place among pending requests end here.
      upgraded(socket)
      if (closed) return reject(socket, 503, 'Service Unavailable')
      wss.handleUpgrade(req, socket, head, (websocket) => {
        if (closed) return void websocket.terminate()
        websocket.binaryType = 'nodebuffer'
        tuneSocket(socket, websocket)
        const peer = clientPeer(req, isTrusted)
        const remoteAddress = formatPeer(secure, peer.host, peer.port)
        const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined
        const connection = fromNodeWebSocket(websocket, {
          remoteAddress,
          direction: 'inbound',
          info: { ws: { path: canonicalPath(req.url ?? '/') ?? '/', secure, ...(origin === undefined ? {} : { origin }), ...(peer.forwarded ? { forwarded: true } : {}) } },
          highWaterMark,
          closeTimeout,
        })
        onConnection(connection)
      })
    })
    if (!unroute) throw new ListenError(`path ${path} is already served on this HTTP server`, { address: where, code: 'EADDRINUSE' })

    if (own) {
      // A client trickling its upgrade request must not hold a socket for
      // long. Node checks these only every connectionsCheckingInterval (30 s
      // by default), so each connection also gets its own timer (below).
      server.headersTimeout = handshakeTimeout
      server.requestTimeout = handshakeTimeout
      server.on(tlsOptions ? 'secureConnection' : 'connection', track)
      // Plain HTTP requests to our own port get a clear answer instead of hanging.
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        upgraded(req.socket)
        res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain' })
        res.end('this port speaks WebSocket only\n')
      })
      try {
        await listenServer(server, { listen: { port: options.port ?? 0, host: bindHost }, address: where, signal })
      } catch (error) {
        unroute()
        throw error
      }
      // Errors after listening (rare: EMFILE on accept) concern no single connection we own.
      reportAcceptErrors(server, where, onError)
    }

    const onSignal = () => void close()
    const close = async () => {
      if (closed) return
      closed = true
      signal?.removeEventListener('abort', onSignal)
      unroute()
      wss.close()
      if (own) {
        // Upgraded sockets are no longer the HTTP server's: closing it only
        // stops accepting and drops half-made HTTP requests. Accepted
        // connections belong to the MultiServer, which closes them.
        server.close()
        server.closeAllConnections()
      }
      for (const socket of [...waiting.keys()]) {
        upgraded(socket)
        socket.destroy()
      }
    }
    signal?.addEventListener('abort', onSignal, { once: true })

    return {
      addresses(scope: CanonicalScope): Segment[] {
        if (closed || !scopes.includes(scope)) return []
        const bound = server.address()
        if (bound === null || typeof bound === 'string') return []
        return advertised(scope, bound, secure)
      },
      close,
    }
  }

  function advertised(scope: CanonicalScope, bound: AddressInfo, secure: boolean): Segment[] {
    const port = bound.port
    if (scope === 'public' && externals.length > 0) {
      return externals.map((e) => (e.includes('://') ? wsSegment(parseWsUrl(e)!) : wsSegment({ secure, host: e.toLowerCase(), port, path: path! })))
    }
    let hosts: string[]
    if (options.host !== undefined && !isWildcardHost(options.host)) hosts = [stripZone(options.host.replace(/^\[|\]$/g, '')).toLowerCase()]
    else if (isWildcardHost(bound.address)) hosts = interfaceAddresses(scope, bound.family === 'IPv4' ? { family: 'IPv4' } : {})
    else hosts = [stripZone(bound.address)]
    return hosts.map((host) => wsSegment({ secure, host, port, path: path! }))
  }

  /** What a listener will advertise, when the options fix its port (or the attached server is bound). */
  function configuredAddresses(scope: CanonicalScope): Segment[] {
    if (!scopes.includes(scope)) return []
    if (options.server !== undefined) {
      const bound = options.server.address()
      if (bound === null || typeof bound === 'string') return []
      return advertised(scope, bound, options.secure ?? options.server instanceof tls.Server)
    }
    if (!options.port) return []
    const bindHost = options.host ?? (scopes.every((s) => s === 'device') ? '127.0.0.1' : '::')
    const secure = Boolean(options.tls?.key && options.tls?.cert)
    return advertised(scope, { address: bindHost, family: bindHost === '0.0.0.0' ? 'IPv4' : 'IPv6', port: options.port }, secure)
  }

  return {
    name: 'ws',
    parse: (segment: Segment) => parseWsSegment(segment),
    stringify: (address: WsAddress) => wsSegment(address),
    dial,
    listen,
    configuredAddresses,
  }
}

/** As @ms/net: no host is device-only, a wildcard is every scope, an address its own scope, a name public. */
function defaultScopes(host: string | undefined): CanonicalScope[] {
  if (host === undefined) return ['device']
  if (isWildcardHost(host)) return ['device', 'local', 'public']
  const bare = stripZone(host.replace(/^\[|\]$/g, ''))
  if (isLoopback(bare)) return ['device']
  if (isIP(bare)) return isPrivate(bare) ? ['local'] : ['public']
  return ['public']
}

function formatPeer(secure: boolean, host: string, port: number | undefined): string {
  const h = host.includes(':') ? `[${host}]` : host
  return `${secure ? 'wss' : 'ws'}://${h}${port === undefined ? '' : `:${port}`}`
}

function describeListen(options: WsOptions, bindHost: string | undefined, path: string): string {
  if (options.server) return `ws (attached server)${path}`
  const host = bindHost ?? '::'
  return `${options.tls?.key ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${options.port ?? 0}${path === '/' ? '' : path}`
}
