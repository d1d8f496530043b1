import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { unix as msUnix } from '@ms/unix'
import { legacyPlugin } from '../../legacy.js'
import type { Callback, CloseServer, OriginalStream } from '../types.js'
import { rejectUnsupported } from '../util.js'

/** The options of the original `multiserver/plugins/unix-socket`. */
export interface UnixPluginOptions {
  /** The directory the socket file (`socket`) is created in. Default: a fresh `<tmpdir>/multiserver-XXXXXX`. */
  path?: string
  /** Advertised only in `device`; any other scope reverts to `device` when the server starts, as in the original. */
  scope?: string
  /** Streams keep their directions independent. Default `false`. */
  allowHalfOpen?: boolean
  /** Not supported (rejected when set). */
  pauseOnConnect?: boolean
}

/** What the original's unix `parse` returns. */
export interface UnixParsed {
  name: ''
  path: string
}

/** `require('multiserver/plugins/unix-socket')(opts)` on `@ms/unix`. */
export function Unix(options: UnixPluginOptions = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('multiserver/plugins/unix-socket: options must be an object')
  rejectUnsupported('unix-socket', options as Record<string, unknown>, {
    pauseOnConnect: 'ms reads a socket only as fast as its stream is pulled, which is what pausing is for',
  })
  // As the original: the directory is made now, so the address is known before listening.
  const dir = options.path || mkdtempSync(join(tmpdir(), 'multiserver-'))
  const socket = join(dir, 'socket')
  const address = 'unix:' + socket
  let scope = options.scope || 'device'
  const base = legacyPlugin(msUnix({ path: socket }), { allowHalfOpen: options.allowHalfOpen === true })
  // The original names every unix stream after the server's socket.
  const named = (stream: OriginalStream) => {
    stream.address = address
    return stream
  }

  return {
    name: 'unix' as const,
    scope: () => scope,
    server(onConnect: (stream: OriginalStream) => void, onErrorOrStarted?: Callback, startedCb?: Callback): CloseServer {
      // A unix socket never leaves this machine.
      if (scope !== 'device') scope = 'device'
      return base.server(((stream: OriginalStream) => onConnect(named(stream))) as never, onErrorOrStarted as never, startedCb as never)
    },
    client(target: unknown, cb: Callback<OriginalStream>): () => void {
      const path = typeof target === 'string' ? target.replace(/^unix:/, '') : (target as Partial<UnixParsed> | null)?.path
      if (!path) {
        queueMicrotask(() => cb(new Error('multiserver.unix: could not parse address ' + String(target))))
        return () => {}
      }
      return base.client({ path }, ((error: Error | null, stream?: OriginalStream) => (error ? cb(error) : cb(null, named(stream!)))) as never)
    },
    parse(text: string): UnixParsed | null {
      if (typeof text !== 'string') return null
      const parts = text.split(':')
      if (parts.length < 2 || parts.shift() !== 'unix') return null
      return { name: '', path: parts.join(':') }
    },
    stringify(target?: string): string | null {
      return scope === target ? address : null
    },
  }
}

export default Unix
export { Unix as 'module.exports' }
