import { readFileSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import { scopeList, type Scope, type TransportListener } from '@ms/core'
import { parseWsUrl, ws as msWs, type WsAddress } from '@ms/ws'
import { legacyPlugin } from '../../legacy.js'
import type { Callback, CloseServer, OriginalStream } from '../types.js'
import { inScope, portOption, rejectUnsupported, scopeHost } from '../util.js'
import { boundPort, recording } from './recording.js'

/** The options of the original `multiserver/plugins/ws`. */
export interface WsPluginOptions {
  /** Where the address is advertised: one scope or several. Default `device`. */
  scope?: string | string[]
  /** Where to listen. Default: loopback for the device scope alone, else every interface (advertised as the scope's host). */
  host?: string
  /** Port to listen on. Default: one the OS chooses when listening (see the compat README). */
  port?: number | string
  /** Host name(s) advertised in the `public` scope. */
  external?: string | string[]
  /** An http(s) server to attach to instead of listening ourselves (`key` set on it means `wss`). */
  server?: HttpServer | { key?: unknown; address(): { port: number } | string | null }
  /** TLS key for our own server: PEM, or a path to read when the server starts. With `cert`: `wss`. */
  key?: string | Buffer
  /** TLS certificate for our own server: PEM, or a path to read when the server starts. */
  cert?: string | Buffer
  /** The URL path served (an option of `ws`'s server, which the original passes on). Default `/`. */
  path?: string
  /** Largest message accepted, in bytes (passed on to `ws`, as the original does). */
  maxPayload?: number
  /** Accepted and ignored: streams are always of Buffers, which is what the original makes of either type. */
  binaryType?: string
  /** Not supported (rejected when set). */
  handler?: unknown
}

/** What the original's ws `parse` returns: Node's legacy `url.parse` shape. */
export interface WsParsed {
  protocol: 'ws:' | 'wss:'
  slashes: true
  auth: null
  host: string
  port: string | null
  hostname: string
  hash: null
  search: string | null
  query: string | null
  pathname: string
  path: string
  href: string
}

function formatUrl(secure: boolean, host: string, port: number | undefined, path: string): string {
  const h = host.includes(':') ? `[${host}]` : host
  const defaultPort = port === undefined || port === (secure ? 443 : 80)
  return `${secure ? 'wss' : 'ws'}://${h}${defaultPort ? '' : `:${port}`}${path === '/' ? '' : path}`
}

const PEM = /-----BEGIN /

/** `require('multiserver/plugins/ws')(opts)` on `@ms/ws`. */
export function WS(options: WsPluginOptions = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('multiserver/plugins/ws: options must be an object')
  rejectUnsupported('ws', options as Record<string, unknown>, {
    handler: 'pass an http.Server you handle requests on as `server`',
    verifyClient: 'authenticate in a transform (shs) instead',
    handleProtocols: 'ms speaks no WebSocket subprotocols',
    perMessageDeflate: 'compression is not supported',
    noServer: 'pass an http.Server as `server`',
    backlog: 'the listen backlog is not configurable',
  })
  const scope = options.scope || 'device'
  const path = options.path ?? '/'
  const port = portOption('ws', options.port)
  const attached = options.server
  const secure = (!!attached && !!(attached as { key?: unknown }).key) || (!!options.key && !!options.cert)
  let listener: TransportListener | undefined
  let base: ReturnType<typeof legacyPlugin> | undefined

  function transportPlugin() {
    if (base) return base
    const pem = (value: string | Buffer | undefined) => (typeof value === 'string' && !PEM.test(value) ? readFileSync(value) : value)
    const transport = msWs({
      ...(options.host === undefined ? {} : { host: options.host }),
      port,
      // Unlike the original, device scope alone listens on loopback only (see the compat README).
      scope: scopeList(scope as Scope | Scope[], 'device'),
      path,
      ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
      ...(attached ? { server: attached as HttpServer, secure } : {}),
      ...(!attached && options.key && options.cert ? { tls: { key: pem(options.key)!, cert: pem(options.cert)! } } : {}),
    })
    base = legacyPlugin(
      recording(transport, (l) => (listener = l)),
      { scope: scope as Scope },
    )
    return base
  }

  function parse(text: string): WsParsed | null {
    if (typeof text !== 'string' || !/^wss?:/.test(text)) return null
    const parsed = parseWsUrl(text)
    if (!parsed) return null
    const explicitPort = /^wss?:\/\/(?:\[[^\]]*\]|[^/:?]*):(\d+)/.exec(text)?.[1] ?? null
    const hostname = parsed.host
    const bracketed = hostname.includes(':') ? `[${hostname}]` : hostname
    const q = parsed.path.indexOf('?')
    const pathname = q === -1 ? parsed.path : parsed.path.slice(0, q)
    const search = q === -1 ? null : parsed.path.slice(q)
    const protocol = parsed.secure ? 'wss:' : 'ws:'
    const host = explicitPort === null ? bracketed : `${bracketed}:${explicitPort}`
    return {
      protocol,
      slashes: true,
      auth: null,
      host,
      port: explicitPort,
      hostname,
      hash: null,
      search,
      query: search === null ? null : search.slice(1),
      pathname,
      path: parsed.path,
      href: `${protocol}//${host}${parsed.path}`,
    }
  }

  function target(address: unknown): WsAddress | null {
    if (typeof address === 'string') return parseWsUrl(address)
    if (!address || typeof address !== 'object') return null
    const a = address as Partial<WsParsed> & { hostname?: string }
    if (typeof a.href === 'string' && a.host) return parseWsUrl(a.href)
    // As the original: a parsed address without a host dials our own host, else localhost.
    const protocol = a.protocol === 'wss:' ? 'wss' : 'ws'
    const hostname = a.hostname || options.host || 'localhost'
    const h = hostname.includes(':') ? `[${hostname}]` : hostname
    return parseWsUrl(`${protocol}://${h}${a.port ? `:${a.port}` : ''}${a.path ?? a.pathname ?? ''}`)
  }

  return {
    name: 'ws' as const,
    scope: () => scope,
    server(onConnect: (stream: OriginalStream) => void, onErrorOrStarted?: Callback, startedCb?: Callback): CloseServer {
      return transportPlugin().server(onConnect as never, onErrorOrStarted as never, startedCb as never)
    },
    client(address: unknown, cb: Callback<OriginalStream>): () => void {
      const dial = target(address)
      if (!dial) {
        queueMicrotask(() => cb(new Error('multiserver.ws: could not parse address ' + String(address))))
        return () => {}
      }
      return transportPlugin().client(dial, cb as never)
    },
    parse,
    stringify(targetScope: string = 'device'): string | null {
      if (!inScope(scope, targetScope)) return null
      let p: number | undefined
      if (attached) {
        const bound = attached.address()
        p = bound !== null && typeof bound === 'object' ? bound.port : undefined
      } else p = port || boundPort(listener)
      // A port the OS chooses is only known once bound.
      if (!p) return null
      const externalHost = targetScope === 'public' && options.external
      const resultHost = externalHost || options.host || scopeHost(targetScope)
      if (resultHost == null) return null
      return ([] as string[])
        .concat(resultHost)
        .map((h) => formatUrl(secure, h, p, path))
        .join(';')
    },
  }
}

export default WS
export { WS as 'module.exports' }
