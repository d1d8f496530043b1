import { createServer, isIP, isIPv6, type Server, type Socket } from 'node:net'
import {
  DialError,
  canonicalScope,
  isLoopback,
  isPrivate,
  isWildcardHost,
  scopeList,
  stripZone,
  unmapIPv4,
  type CanonicalScope,
  type Connection,
  type DialOptions,
  type ListenOptions,
  type Scope,
  type Segment,
  type Transport,
  type TransportListener,
} from '@ms/core'
import {
  PROXY_V2_DEFAULT_MAX_BYTES,
  acceptProxyHeader,
  trustedSources,
  type ProxyProtocolOptions,
} from './proxy-protocol.js'
import { checkSocketOptions, connectionLimit, dialSocket, fromNodeSocket, interfaceAddresses, listenServer, reportAcceptErrors } from '@ms/core/node'

export interface NetOptions {
  /**
   * Where to listen: a name, an IP address, or a wildcard (`::`,
   * `0.0.0.0`). Default: `127.0.0.1` when the scopes are only `device`,
   * otherwise every interface (Node picks `::` or `0.0.0.0`).
   */
  host?: string
  /** Port to listen on; `0` or absent picks a free one. */
  port?: number
  /**
   * Scopes this listener is advertised in. Default: derived from `host`
   * (see the README): `device` when there is no host or it is loopback,
   * every scope for a wildcard, the address's own scope otherwise.
   */
  scope?: Scope | readonly Scope[]
  /** Host name(s) or address(es) advertised in the `public` scope instead of the bound one. */
  external?: string | readonly string[]
  /** Write IPv6 hosts as `net:[::1]:8008` rather than `net:::1:8008`. Default `false`. */
  brackets?: boolean
  /** Disable Nagle's algorithm. Default `true`. */
  noDelay?: boolean
  /**
   * TCP keep-alive, so peers that vanish are noticed: `true` (probes after
   * 60 s idle), `false`, or the idle delay in ms. Default `true`.
   */
  keepAlive?: boolean | number
  /**
   * Milliseconds without a byte moving either way after which a connection
   * fails with `TimeoutError` and is closed (e.g. a peer that stopped
   * reading). Default: none, since idle SSB connections are normal.
   */
  idleTimeout?: number
  /** Milliseconds a dial may take before it fails with `TimeoutError`. Default: none (the OS's). */
  connectTimeout?: number
  /** Maximum open inbound connections; excess ones are closed at once and reported as `LimitError`. */
  maxConnections?: number
  /**
   * Accept the PROXY protocol (v1 and v2, as HAProxy's `send-proxy` and
   * `send-proxy-v2` write it) from the listed proxies, so `remoteAddress`
   * (and with it per-source admission and logs) names the real client.
   * Refused connections are reported to the listener's `onError` as
   * `ProxyProtocolError`. See "Running at scale" in the README.
   */
  proxyProtocol?: ProxyProtocolOptions
}

/** What `parse` returns and `dial` takes. */
export interface NetAddress {
  host: string
  port: number
}

const PORT = /^[1-9][0-9]{0,4}$/
// A DNS name (RFC 1123 labels, underscores tolerated as resolvers do).
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i

/** Parses the data of a `net` segment. Returns null for anything malformed. */
export function parseNetSegment(segment: Segment): NetAddress | null {
  if (segment?.name !== 'net' || !Array.isArray(segment.data) || segment.data.length < 2) return null
  const portText = segment.data[segment.data.length - 1]!
  if (!PORT.test(portText)) return null
  const port = Number(portText)
  if (port > 65535) return null
  let host = segment.data.slice(0, -1).join(':')
  if (host.startsWith('[') || host.endsWith(']')) {
    if (!(host.startsWith('[') && host.endsWith(']'))) return null
    host = host.slice(1, -1)
    if (!isIPv6(host)) return null
  } else if (segment.data.length > 2) {
    // Several colon parts without brackets: only valid as a bare IPv6 address.
    if (!isIPv6(host)) return null
  } else if (!isIP(host) && (!HOSTNAME.test(host) || /^[0-9.]+$/.test(host))) {
    // All-numeric names are malformed IPv4 addresses (`1.2.3.999`), not names.
    return null
  }
  return { host, port }
}

/** Writes a `net` segment: bare IPv6 by default, bracketed when asked. */
export function netSegment(host: string, port: number, brackets = false): Segment {
  const h = isIPv6(host) && brackets ? `[${host}]` : host
  return { name: 'net', data: [...h.split(':'), String(port)] }
}

function formatAddress(host: string, port: number, brackets: boolean): string {
  return `net:${isIPv6(host) && brackets ? `[${host}]` : host}:${port}`
}

function defaultScopes(host: string | undefined): CanonicalScope[] {
  if (host === undefined) return ['device']
  if (isWildcardHost(host)) return ['device', 'local', 'public']
  if (isLoopback(host)) return ['device']
  if (isIP(stripZone(host))) return isPrivate(host) ? ['local'] : ['public']
  return ['public']
}

function proxyOptions(options: ProxyProtocolOptions | undefined) {
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object' || !Array.isArray(options.trusted)) {
    throw new TypeError('net: proxyProtocol must be { trusted: string[], required?, timeout?, maxHeaderBytes? }')
  }
  const timeout = options.timeout ?? 5000
  const maxHeaderBytes = options.maxHeaderBytes ?? PROXY_V2_DEFAULT_MAX_BYTES
  if (!Number.isFinite(timeout) || timeout <= 0) throw new TypeError(`net: proxyProtocol.timeout must be a positive number, got ${String(timeout)}`)
  if (!Number.isInteger(maxHeaderBytes) || maxHeaderBytes < 16 + 36 || maxHeaderBytes > 16 + 65535) {
    throw new TypeError(`net: proxyProtocol.maxHeaderBytes must be an integer from 52 to 65551, got ${String(maxHeaderBytes)}`)
  }
  return { isTrusted: trustedSources(options.trusted), required: options.required ?? true, timeout, maxHeaderBytes }
}

/**
 * The TCP transport. `net()` with no options listens on `127.0.0.1` at a
 * free port and advertises itself in the `device` scope only.
 */
export function net(options: NetOptions = {}): Transport<NetAddress> {
  const brackets = options.brackets ?? false
  const noDelay = options.noDelay ?? true
  const keepAlive = options.keepAlive ?? true
  // 0 would mean the OS default, which is two hours on Linux.
  const keepAliveInitialDelay = typeof keepAlive === 'number' ? keepAlive : 60_000
  const { idleTimeout } = options
  const { connectTimeout, maxConnections } = options
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`net: port must be an integer from 0 to 65535, got ${String(options.port)}`)
  }
  checkSocketOptions('net', { connectTimeout, maxConnections })
  const proxy = proxyOptions(options.proxyProtocol)
  const scopes = options.scope === undefined ? defaultScopes(options.host) : scopeList(options.scope, 'device')
  const external = options.external === undefined ? [] : ([] as string[]).concat(options.external)
  // With no host, a device-only listener binds loopback; anything wider
  // binds every interface (host undefined lets Node choose `::` or `0.0.0.0`).
  const bindHost = options.host ?? (scopes.every((s) => s === 'device') ? '127.0.0.1' : undefined)
  const socketOptions = { allowHalfOpen: true, noDelay, keepAlive: keepAlive !== false, keepAliveInitialDelay }

  function remoteOf(socket: Socket): string | undefined {
    if (socket.remoteAddress === undefined || socket.remotePort === undefined) return undefined
    return formatAddress(unmapIPv4(socket.remoteAddress), socket.remotePort, brackets)
  }

  async function dial({ host, port }: NetAddress, { signal }: DialOptions = {}): Promise<Connection> {
    const address = formatAddress(host, port, brackets)
    const socket = await dialSocket({ connect: { host, port, ...socketOptions }, address, signal, timeout: connectTimeout })
    const remoteAddress = remoteOf(socket)
    if (remoteAddress === undefined) {
      socket.destroy()
      throw new DialError(`connection to ${address} closed at once`, { address, code: 'ECONNRESET' })
    }
    return fromNodeSocket(socket, { remoteAddress, direction: 'outbound', idleTimeout })
  }

  async function listen(onConnection: (connection: Connection) => void, { signal, onError }: ListenOptions = {}): Promise<TransportListener> {
    const wanted = formatAddress(bindHost ?? '::', port, brackets)
    const admit = connectionLimit(maxConnections, onError)
    const server: Server = createServer(socketOptions, (socket) => {
      const remoteAddress = remoteOf(socket)
      if (remoteAddress === undefined) {
        // The peer went away before we saw it; nothing to hand over.
        socket.destroy()
        return
      }
      if (!admit(socket, remoteAddress)) return
      if (proxy === undefined) {
        onConnection(fromNodeSocket(socket, { remoteAddress, direction: 'inbound', idleTimeout }))
        return
      }
      acceptProxyHeader(socket, {
        ...proxy,
        socketAddress: remoteAddress,
        peerHost: socket.remoteAddress!,
        onError,
        onAccept: (client) => {
          const address = client === undefined ? remoteAddress : formatAddress(client.host, client.port, brackets)
          onConnection(fromNodeSocket(socket, { remoteAddress: address, direction: 'inbound', idleTimeout }))
        },
      })
    })
    await listenServer(server, { listen: { host: bindHost, port }, address: wanted, signal })

    const bound = server.address()
    const boundHost = bound !== null && typeof bound === 'object' ? bound.address : (bindHost ?? '::')
    const boundPort = bound !== null && typeof bound === 'object' ? bound.port : port
    const boundAddress = formatAddress(boundHost, boundPort, brackets)
    reportAcceptErrors(server, boundAddress, onError)

    let closed = false
    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= new Promise<void>((resolve) => {
        closed = true
        signal?.removeEventListener('abort', onSignal)
        // server.close() releases the listening handle synchronously, but its
        // callback waits for every accepted socket; those belong to the
        // MultiServer, so resolve once the handle's close has been processed.
        server.close()
        setImmediate(resolve)
      })
      return closing
    }
    const onSignal = () => void close()
    signal?.addEventListener('abort', onSignal, { once: true })

    return {
      addresses(scope: CanonicalScope): Segment[] {
        return closed ? [] : advertised(scope, boundHost, boundPort)
      },
      close,
    }
  }

  function advertised(scope: CanonicalScope, boundHost: string, boundPort: number): Segment[] {
    const canonical = canonicalScope(scope)
    if (!scopes.includes(canonical)) return []
    let hosts: string[]
    if (canonical === 'public' && external.length > 0) hosts = external
    else if (bindHost !== undefined && !isWildcardHost(bindHost)) hosts = [stripZone(bindHost)]
    // A wildcard bind: advertise this machine's real addresses. `0.0.0.0`
    // accepts IPv4 only; `::` is dual-stack on the platforms we support.
    else hosts = interfaceAddresses(canonical, boundHost === '0.0.0.0' ? { family: 'IPv4' } : {})
    return hosts.map((h) => netSegment(stripZone(h), boundPort, brackets))
  }

  return {
    name: 'net',
    parse: parseNetSegment,
    stringify: ({ host, port }) => netSegment(host, port, brackets),
    dial,
    listen,
    // Known before listening unless the OS is to choose the port.
    configuredAddresses: (scope: CanonicalScope) => (port === 0 ? [] : advertised(scope, bindHost ?? '::', port)),
  }
}

export {
  ProxyProtocolError,
  parseProxyHeader,
  trustedSources,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_DEFAULT_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyEndpoint,
  type ProxyParseOptions,
  type ProxyParseResult,
  type ProxyProtocolOptions,
  type ProxyProtocolReason,
} from './proxy-protocol.js'

export default net
