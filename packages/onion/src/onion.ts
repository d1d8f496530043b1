import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import {
  Deadline,
  DialError,
  ListenError,
  abortReason,
  scopeList,
  throwIfAborted,
  isMsError,
  type CanonicalScope,
  type Connection,
  type DialOptions,
  type ListenOptions,
  type Scope,
  type Segment,
  type Transport,
  type TransportListener,
} from '@ms/core'
import { fromNodeSocket, listenServer } from '@ms/core/node'
import { isValidOnionName, onionAddressString, parseOnionAddress, stringifyOnionAddress, type OnionAddress } from './address.js'
import { TorControl, controlName, type TorControlOptions } from './control.js'
import { TorControlError } from './errors.js'
import { watchUploads } from './uploads.js'
import { DEFAULT_PROXIES, isPort, parseProxy, socksConnect, type SocksCredentials, type SocksProxy } from './socks.js'

/** What Tor generated (or was given) when an onion service was published. */
export interface PublishedOnion {
  /** The 56-character service ID, without `.onion`. */
  serviceId: string
  /** `onion:<serviceId>.onion:<virtualPort>`, the address advertised. */
  address: string
  /**
   * The service's key as Tor's control protocol writes it
   * (`ED25519-V3:<base64>`). Pass it back as `privateKey` to publish the
   * same address again. It is the service's identity: keep it secret.
   */
  privateKey: string
  /** Whether Tor generated the key for this listener (no `privateKey` was given). */
  generated: boolean
}

export interface OnionOptions {
  /**
   * SOCKS5 proxies (Tor's SocksPort) to dial through, tried in order until
   * one accepts a TCP connection: `'host:port'`, `{ host, port }` or a
   * list of them. Default `127.0.0.1:9050` (tor daemon), then
   * `127.0.0.1:9150` (Tor Browser).
   */
  socks?: string | SocksProxy | readonly (string | SocksProxy)[]
  /** Scopes the published address is advertised in. Default `public`. */
  scope?: Scope | readonly Scope[]
  /**
   * Milliseconds a dial may take, SOCKS handshake included, before it fails
   * with `TimeoutError`. Building circuits to an onion service takes
   * seconds and sometimes a minute; Tor itself gives up after 120 s.
   * Default 120 000.
   */
  connectTimeout?: number
  /**
   * Circuit isolation through SOCKS username/password (Tor's
   * `IsolateSOCKSAuth`, on by default): streams with different credentials
   * never share a circuit. `true`: fresh random credentials for every
   * dial. An object: these credentials for every dial (one isolation
   * group). A function: credentials per dialled address (return
   * `undefined` for none). Default `false`: Tor decides.
   */
  isolate?: boolean | SocksCredentials | ((address: string) => SocksCredentials | undefined)
  /**
   * A Tor control port. With it, `listen` publishes an onion service that
   * forwards to a listener on 127.0.0.1; without it the transport only
   * dials.
   */
  control?: TorControlOptions
  /**
   * The onion service key, `ED25519-V3:<base64>` as Tor returns it (see
   * `onKey`). Default: Tor generates a new one each time `listen` runs,
   * so the address changes unless you store the key.
   */
  privateKey?: string
  /** The port the onion service is reachable on (the one in the address). Default 8008. */
  virtualPort?: number
  /** Local port of the loopback listener Tor forwards to. Default 0 (any free port). */
  localPort?: number
  /**
   * Called once per `listen` after the service is added to Tor, with its
   * address and key. Store `privateKey` to keep the address across restarts.
   */
  onKey?: (published: PublishedOnion) => void
  /**
   * `true`: `listen` resolves only once Tor has uploaded the service's
   * descriptor to at least one directory, so clients can reach it right
   * away. Default `false`: `listen` resolves as soon as Tor accepted the
   * service; the first clients may get `ONION_DESCRIPTOR_NOT_FOUND` for a
   * few seconds (or minutes on the real network).
   */
  waitForPublish?: boolean
  /** Milliseconds `listen` may take (control port, ADD_ONION, publication). Default 120 000. */
  publishTimeout?: number
}

/** The onion transport: dials through SOCKS5, publishes through the control port when configured. */
export interface OnionTransport extends Transport<OnionAddress> {
  /** The service currently published by `listen`, if any. */
  readonly published: PublishedOnion | undefined
}

const DEFAULT_CONNECT_TIMEOUT = 120_000
const DEFAULT_PUBLISH_TIMEOUT = 120_000
const DEFAULT_VIRTUAL_PORT = 8008
/**
 * What inbound connections report as their `remoteAddress`. Tor does not
 * tell an onion service who connected (that is the point), and the TCP
 * peer is only our own tor daemon on loopback, so we say so rather than
 * report a loopback address that would look dialable. It parses as a
 * multiserver address but no transport dials it.
 */
export const INBOUND_REMOTE_ADDRESS = 'onion:unknown'

// ED25519-V3 keys are 64 bytes, base64 without line breaks (88 characters).
const PRIVATE_KEY = /^ED25519-V3:[A-Za-z0-9+/]{86}==$/

/**
 * Creates the onion transport. See the package README.
 *
 * ```ts
 * const ms = createMultiServer([[onion({ control: { port: 9051 } }), shs(keys)]])
 * ```
 */
export function onion(options: OnionOptions = {}): OnionTransport {
  const proxies = normaliseProxies(options.socks)
  const scopes = scopeList(options.scope, 'public')
  const connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT
  if (!(connectTimeout > 0)) throw new TypeError(`connectTimeout must be a positive number of milliseconds, got ${connectTimeout}`)
  const virtualPort = options.virtualPort ?? DEFAULT_VIRTUAL_PORT
  if (!isPort(virtualPort)) throw new TypeError(`virtualPort must be 1-65535, got ${virtualPort}`)
  const localPort = options.localPort ?? 0
  if (!(isPort(localPort) || localPort === 0)) throw new TypeError(`localPort must be 0-65535, got ${localPort}`)
  if (options.privateKey !== undefined && !PRIVATE_KEY.test(options.privateKey)) {
    throw new TypeError('privateKey must be "ED25519-V3:<base64 of 64 bytes>", as Tor returns it')
  }
  const control = options.control
  if (control !== undefined) {
    if (control.path === undefined && !isPort(control.port)) throw new TypeError('control needs a port (1-65535) or a path')
    if (control.password !== undefined && control.cookie !== undefined) throw new TypeError('control takes a password or a cookie, not both')
  }
  let published: PublishedOnion | undefined

  function credentialsFor(address: string): SocksCredentials | undefined {
    const isolate = options.isolate
    if (!isolate) return undefined
    if (isolate === true) {
      // Any value unique to this dial puts it on its own circuit.
      const token = randomBytes(12).toString('hex')
      return { username: `ms-${token}`, password: token }
    }
    const credentials = typeof isolate === 'function' ? isolate(address) : isolate
    if (credentials === undefined) return undefined
    const { username, password } = credentials
    for (const value of [username, password]) {
      const length = typeof value === 'string' ? Buffer.byteLength(value) : 0
      if (length < 1 || length > 255) throw new TypeError('SOCKS username and password must each be 1-255 bytes')
    }
    return { username, password }
  }

  async function dial(target: OnionAddress, dialOptions: DialOptions = {}): Promise<Connection> {
    const address = onionAddressString(target)
    throwIfAborted(dialOptions.signal, address)
    // Tor would answer ONION_INVALID_ADDRESS (0xF6) after a round trip;
    // a typo is cheaper to report here, and without Tor running.
    if (!isValidOnionName(target.host)) {
      throw new DialError(`${target.host} is not a valid v3 onion name (its checksum does not match)`, {
        address,
        code: 'ONION_INVALID_ADDRESS',
      })
    }
    const linked = new Deadline({ signal: dialOptions.signal, timeout: connectTimeout, address, what: `connecting to ${address} through Tor` })
    try {
      const socket = await socksConnect({
        proxies,
        host: target.host,
        port: target.port,
        credentials: credentialsFor(address),
        signal: linked.signal,
        address,
      })
      return fromNodeSocket(socket, { remoteAddress: address, direction: 'outbound', halfClose: false })
    } catch (error) {
      if (linked.signal.aborted) throw abortReason(linked.signal, address)
      if (isMsError(error)) throw error
      throw new DialError((error as Error)?.message ?? String(error), { address, cause: error })
    } finally {
      linked.dispose()
    }
  }

  async function listen(onConnection: (connection: Connection) => void, listenOptions: ListenOptions = {}): Promise<TransportListener> {
    if (!control) throw new ListenError('the onion transport needs `control` (a Tor control port) to publish an onion service', { code: 'ENOCONTROL' })
    throwIfAborted(listenOptions.signal)
    const where = controlName(control)
    const linked = new Deadline({ signal: listenOptions.signal, timeout: options.publishTimeout ?? DEFAULT_PUBLISH_TIMEOUT, what: 'publishing the onion service' })
    const sockets = new Set<Socket>()
    let server: Server | undefined
    let tor: TorControl | undefined
    let current: PublishedOnion
    try {
      server = await listenLoopback(localPort, linked.signal, (socket) => {
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
        onConnection(fromNodeSocket(socket, { remoteAddress: INBOUND_REMOTE_ADDRESS, direction: 'inbound', halfClose: false }))
      })
      const port = (server.address() as { port: number }).port
      tor = await TorControl.connect(control, linked.signal)
      const abortTor = () => tor?.destroy()
      linked.signal.addEventListener('abort', abortTor, { once: true })
      try {
        await tor.authenticate(control)
        const uploaded = options.waitForPublish ? watchUploads(tor) : undefined
        if (uploaded) await tor.command('SETEVENTS HS_DESC')
        const key = options.privateKey ?? 'NEW:ED25519-V3'
        const reply = await tor.command(`ADD_ONION ${key} Port=${virtualPort},127.0.0.1:${port}`)
        const serviceId = reply.lines.find((l) => l.startsWith('ServiceID='))?.slice('ServiceID='.length)
        if (!serviceId || !/^[a-z2-7]{56}$/.test(serviceId)) {
          throw new TorControlError(`Tor's ADD_ONION reply has no v3 ServiceID: ${reply.lines.join('; ')}`, { code: 'TOR_PROTOCOL' })
        }
        const privateKey = options.privateKey ?? reply.lines.find((l) => l.startsWith('PrivateKey='))?.slice('PrivateKey='.length) ?? ''
        current = published = {
          serviceId,
          address: onionAddressString({ host: `${serviceId}.onion`, port: virtualPort }),
          privateKey,
          generated: options.privateKey === undefined,
        }
        options.onKey?.(current)
        if (uploaded) {
          await uploaded.until(serviceId, linked.signal)
          await tor.command('SETEVENTS')
        }
      } finally {
        linked.signal.removeEventListener('abort', abortTor)
      }
    } catch (error) {
      tor?.destroy()
      server?.close()
      for (const socket of sockets) socket.destroy()
      published = undefined
      if (linked.signal.aborted) throw abortReason(linked.signal)
      if (isMsError(error)) {
        if (error.address === undefined) (error as { address: string | undefined }).address = where
        throw error
      }
      throw new ListenError((error as Error)?.message ?? String(error), { address: where, cause: error })
    } finally {
      linked.dispose()
    }

    const segment: Segment = stringifyOnionAddress({ host: `${current.serviceId}.onion`, port: virtualPort })
    const liveServer = server
    const liveTor = tor
    liveTor.onClose = (error) => {
      if (closing) return
      listenOptions.onError?.(
        new TorControlError(`${error.message}; ${current.address} is no longer published`, {
          address: current.address,
          code: error.code ?? 'TOR_CONTROL_CLOSED',
          cause: error,
        }),
      )
    }
    liveTor.onEvent = undefined

    let closing: Promise<void> | undefined
    const close = (): Promise<void> => {
      closing ??= (async () => {
        listenOptions.signal?.removeEventListener('abort', onAbort)
        liveServer.close()
        if (published === current) published = undefined
        // Removing the service stops new connections only: streams already
        // open over it keep working (tested), so a graceful close of the
        // MultiServer can still finish them.
        const deadline = new Deadline({ timeout: 5000, what: 'DEL_ONION' })
        await deadline.race(liveTor.command(`DEL_ONION ${current.serviceId}`)).catch(() => {
          // Tor removes the service anyway once the control connection that
          // added it closes, which happens next.
        })
        deadline.dispose()
        await liveTor.close()
      })()
      return closing
    }
    const onAbort = () => void close()
    listenOptions.signal?.addEventListener('abort', onAbort, { once: true })

    return {
      addresses(scope: CanonicalScope): Segment[] {
        return scopes.includes(scope) && !closing ? [segment] : []
      },
      close,
    }
  }

  const transport: OnionTransport = {
    name: 'onion',
    parse: parseOnionAddress,
    stringify: stringifyOnionAddress,
    dial,
    get published() {
      return published
    },
  }
  if (control) (transport as { listen?: typeof listen }).listen = listen
  return transport
}

function normaliseProxies(socks: OnionOptions['socks']): SocksProxy[] {
  if (socks === undefined) return DEFAULT_PROXIES.map((p) => ({ ...p }))
  const list = Array.isArray(socks) ? socks : [socks]
  if (list.length === 0) throw new TypeError('socks needs at least one proxy')
  return list.map((p) => parseProxy(p as string | SocksProxy))
}

/** Binds a server to 127.0.0.1 only: nobody but the local tor daemon should reach it. */
async function listenLoopback(port: number, signal: AbortSignal, onSocket: (socket: Socket) => void): Promise<Server> {
  // allowHalfOpen: fromNodeSocket's half-close semantics need it.
  const server = createServer({ allowHalfOpen: true, noDelay: true }, onSocket)
  await listenServer(server, { listen: { host: '127.0.0.1', port }, address: `127.0.0.1:${port}`, signal })
  return server
}


