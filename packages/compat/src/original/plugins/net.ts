import { scopeList, type Scope, type TransportListener } from '@ms/core'
import { net as msNet, parseNetSegment } from '@ms/net'
import { legacyPlugin, legacySegment } from '../../legacy.js'
import type { Callback, CloseServer, OriginalStream } from '../types.js'
import { inScope, portOption, rejectUnsupported, scopeHost } from '../util.js'
import { boundPort, recording } from './recording.js'

/** The options of the original `multiserver/plugins/net`. */
export interface NetPluginOptions {
  /** Where the address is advertised: one scope or several. Default `device`. */
  scope?: string | string[]
  /** Where to listen (and what is advertised). Default: the scope's host (`localhost` for device); every interface for several scopes. */
  host?: string
  /** Port to listen on, a number or numeric string. Default: one the OS chooses when listening (see the compat README). */
  port?: number | string
  /** Host name(s) advertised in the `public` scope instead of `host`. */
  external?: string | string[]
  /** Streams keep their directions independent. Default `false`. */
  allowHalfOpen?: boolean
  /** Not supported (rejected when set). */
  pauseOnConnect?: boolean
}

/** What the original's net `parse` returns. */
export interface NetParsed {
  name: 'net'
  host: string
  port: number
}

/** `require('multiserver/plugins/net')(opts)` on `@ms/net`. */
export function Net(options: NetPluginOptions = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('multiserver/plugins/net: options must be an object')
  rejectUnsupported('net', options as Record<string, unknown>, {
    pauseOnConnect: 'ms reads a socket only as fast as its stream is pulled, which is what pausing is for',
  })
  const scope = options.scope ?? 'device'
  // As the original: a single scope's host is used both to listen and to advertise.
  const host = options.host || (typeof scope === 'string' ? scopeHost(scope) : undefined)
  const port = portOption('net', options.port)
  const external = options.external
  let listener: TransportListener | undefined
  const transport = recording(
    msNet({
      host,
      port,
      scope: scopeList(scope as Scope | Scope[], 'device'),
      ...(external === undefined ? {} : { external }),
    }),
    (l) => (listener = l),
  )
  const base = legacyPlugin(transport, { scope: scope as Scope, allowHalfOpen: options.allowHalfOpen === true })

  function parse(text: string): NetParsed | null {
    const segment = legacySegment(text)
    const parsed = segment && parseNetSegment(segment)
    return parsed ? { name: 'net', host: parsed.host, port: parsed.port } : null
  }

  return {
    name: 'net' as const,
    scope: () => scope,
    // `(onConnect, startedCb)` from compose; a bare plug in MultiServer gets `(onConnect, onError, startedCb)`.
    server(onConnect: (stream: OriginalStream) => void, onErrorOrStarted?: Callback, startedCb?: Callback): CloseServer {
      return base.server(onConnect as never, onErrorOrStarted as never, startedCb as never)
    },
    client(address: unknown, cb: Callback<OriginalStream>): () => void {
      const target = typeof address === 'string' ? parse(address) : (address as Partial<NetParsed> | null)
      if (!target || target.port === undefined) {
        queueMicrotask(() => cb(new Error('multiserver.net: could not parse address ' + String(address))))
        return () => {}
      }
      return base.client({ host: target.host || 'localhost', port: Number(target.port) }, cb as never)
    },
    parse,
    stringify(targetScope: string = 'device'): string | null {
      if (!inScope(scope, targetScope)) return null
      const p = port || boundPort(listener)
      // Port 0 is only known once bound.
      if (!p) return null
      const externalHost = targetScope === 'public' && external
      const resultHost = externalHost || host || scopeHost(targetScope)
      if (resultHost == null) return null
      return ([] as string[])
        .concat(resultHost)
        .map((h) => `net:${h.replace(/(%\w+)$/, '')}:${p}`)
        .join(';')
    },
  }
}

export default Net
export { Net as 'module.exports' }
