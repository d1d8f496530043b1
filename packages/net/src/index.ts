import { createConnection, createServer, isIP, isIPv6, type Server, type Socket } from 'node:net'
import {
  DialError,
  LimitError,
  ListenError,
  TimeoutError,
  abortReason,
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
import { fromNodeSocket, interfaceAddresses } from '@ms/core/node'

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

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
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
  if (connectTimeout !== undefined && !(connectTimeout > 0)) {
    throw new TypeError(`net: connectTimeout must be a positive number of milliseconds, got ${connectTimeout}`)
  }
  if (maxConnections !== undefined && !(Number.isInteger(maxConnections) && maxConnections >= 0)) {
    throw new TypeError(`net: maxConnections must be a non-negative integer, got ${maxConnections}`)
  }
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

  function dial({ host, port }: NetAddress, { signal }: DialOptions = {}): Promise<Connection> {
    const address = formatAddress(host, port, brackets)
    if (signal?.aborted) return Promise.reject(abortReason(signal, address))
    return new Promise<Connection>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      let socket: Socket
      try {
        socket = createConnection({ host, port, ...socketOptions })
      } catch (error) {
        // Node validates synchronously (a port out of range, say) when dial
        // is called directly rather than with what parse returned.
        reject(new DialError(`could not connect to ${address}: ${describe(error)}`, { address, code: errorCode(error), cause: error }))
        return
      }
      const cleanup = () => {
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.off('connect', onConnect)
        socket.off('error', onError)
      }
      const fail = (error: Error) => {
        cleanup()
        // Swallow anything the dying socket still emits.
        socket.on('error', () => {})
        socket.destroy()
        reject(error)
      }
      const onAbort = () => fail(abortReason(signal!, address))
      const onError = (error: Error) => {
        const code = errorCode(error)
        fail(new DialError(`could not connect to ${address}: ${describe(error)}`, { address, code, cause: error }))
      }
      const onConnect = () => {
        cleanup()
        const remoteAddress = remoteOf(socket)
        if (remoteAddress === undefined) {
          socket.destroy()
          reject(new DialError(`connection to ${address} closed at once`, { address, code: 'ECONNRESET' }))
          return
        }
        resolve(fromNodeSocket(socket, { remoteAddress, direction: 'outbound', idleTimeout }))
      }
      socket.once('connect', onConnect)
      socket.once('error', onError)
      signal?.addEventListener('abort', onAbort, { once: true })
      if (connectTimeout !== undefined) {
        timer = setTimeout(() => fail(new TimeoutError(connectTimeout, { address, what: 'connect' })), connectTimeout)
      }
    })
  }

  async function listen(onConnection: (connection: Connection) => void, { signal, onError }: ListenOptions = {}): Promise<TransportListener> {
    const wanted = formatAddress(bindHost ?? '::', port, brackets)
    if (signal?.aborted) throw abortReason(signal, wanted)
    let open = 0
    const server: Server = createServer(socketOptions, (socket) => {
      const remoteAddress = remoteOf(socket)
      if (remoteAddress === undefined) {
        // The peer went away before we saw it; nothing to hand over.
        socket.destroy()
        return
      }
      if (maxConnections !== undefined && open >= maxConnections) {
        socket.destroy()
        onError?.(new LimitError(`too many open connections (${maxConnections}); closed one from ${remoteAddress}`, { address: remoteAddress }))
        return
      }
      open++
      socket.once('close', () => open--)
      onConnection(fromNodeSocket(socket, { remoteAddress, direction: 'inbound', idleTimeout }))
    })

    await new Promise<void>((resolve, reject) => {
      const onListenError = (error: Error) => {
        server.off('listening', onListening)
        signal?.removeEventListener('abort', onAbort)
        const code = errorCode(error)
        reject(new ListenError(`could not listen on ${wanted}: ${describe(error)}`, { address: wanted, code, cause: error }))
      }
      const onListening = () => {
        server.off('error', onListenError)
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = () => {
        server.off('error', onListenError)
        server.off('listening', onListening)
        server.on('error', () => {})
        server.close()
        reject(abortReason(signal!, wanted))
      }
      server.once('error', onListenError)
      server.once('listening', onListening)
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        server.listen({ host: bindHost, port })
      } catch (error) {
        onListenError(error as Error)
      }
    })

    const bound = server.address()
    const boundHost = bound !== null && typeof bound === 'object' ? bound.address : (bindHost ?? '::')
    const boundPort = bound !== null && typeof bound === 'object' ? bound.port : port
    const boundAddress = formatAddress(boundHost, boundPort, brackets)
    // After listening, server errors concern accepting (EMFILE and the like),
    // not the listener as a whole: report them and carry on.
    server.on('error', (error) => {
      onError?.(new ListenError(`error while accepting on ${boundAddress}: ${describe(error)}`, { address: boundAddress, code: errorCode(error), cause: error }))
    })

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

export default net
