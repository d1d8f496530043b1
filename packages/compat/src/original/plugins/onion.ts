import type { Scope } from '@ms/core'
import { onion as msOnion, parseOnionAddress } from '@ms/onion'
import { legacyPlugin, legacySegment } from '../../legacy.js'
import type { Callback, OriginalStream } from '../types.js'

/** The options of the original `multiserver/plugins/onion` (it only dials). */
export interface OnionPluginOptions {
  /** What `scope()` reports. Default `public`. */
  scope?: string | string[]
}

/** What the original's onion `parse` returns. */
export interface OnionParsed {
  name: 'onion'
  host: string
  port: number
}

/**
 * `require('multiserver/plugins/onion')(opts)` on `@ms/onion`: dials
 * through Tor's SOCKS port (127.0.0.1:9050, then 9150), never listens.
 * Only v3 onion names parse (see the compat README).
 */
export function Onion(options: OnionPluginOptions = {}) {
  const opts = options ?? {}
  let base: ReturnType<typeof legacyPlugin> | undefined
  const plugin = () => (base ??= legacyPlugin(msOnion(Array.isArray(opts.scope) || typeof opts.scope === 'string' ? { scope: opts.scope as Scope } : {})))

  function parse(text: string): OnionParsed | null {
    const segment = legacySegment(text)
    const parsed = segment && parseOnionAddress(segment)
    return parsed ? { name: 'onion', host: parsed.host, port: parsed.port } : null
  }

  return {
    name: 'onion' as const,
    scope: () => opts.scope || 'public',
    server(_onConnect: unknown, cb?: Callback): undefined {
      cb?.(new Error('Use net plugin for onion server instead'))
      return undefined
    },
    client(address: unknown, cb: Callback<OriginalStream>): () => void {
      const target = typeof address === 'string' ? parse(address) : (address as Partial<OnionParsed> | null)
      const dial = target && parse(`onion:${target.host}:${target.port}`)
      if (!dial) {
        queueMicrotask(() => cb(new Error('multiserver.onion: could not parse address ' + String(address))))
        return () => {}
      }
      return plugin().client({ host: dial.host, port: dial.port }, cb as never)
    },
    parse,
    stringify(_scope?: string): null {
      return null
    },
  }
}

export default Onion
export { Onion as 'module.exports' }
