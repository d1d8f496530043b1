import { compose } from './compose.js'
import { describe, isMsTransport, isOriginalTransform, isOriginalTransport, toOriginalPlugin } from './from-ms.js'
import type { Callback, CloseServer, ComposedPlugin, OriginalStream, OriginalTransport } from './types.js'
import { asError } from './util.js'

type Plug = OriginalTransport | ComposedPlugin

/** What `require('multiserver')(plugs, wrap)` returns. */
export interface OriginalMultiServer {
  /** `;`-joined plug names, e.g. `net~shs;ws~shs`. */
  name: string
  /** Connects with the first plug that parses one of the `;` alternatives (or an array of them). */
  client(address: string | readonly string[], cb: Callback<OriginalStream>): unknown
  /** Starts every plug; `startedCb` once all started, or with the first failure. Returns `close(cb?)`. */
  server(onConnect: (stream: OriginalStream) => void, onError?: ((error: Error & { address?: string }) => void) | null, startedCb?: Callback): CloseServer
  /** The `;`-joined addresses of the plugs whose scope includes `scope` (default `device`). */
  stringify(scope?: string): string
  /** Parses the i-th alternative with the i-th plug, as the original does. */
  parse(address: string): unknown[]
}

function toPlug(plug: unknown, index: number, wrap: ((stream: OriginalStream) => OriginalStream) | undefined): Plug {
  if (Array.isArray(plug)) return compose(plug, wrap)
  if (isMsTransport(plug) || isOriginalTransport(plug)) return toOriginalPlugin(plug, 'transport', `MultiServer: plug ${index}`) as OriginalTransport
  if (isOriginalTransform(plug)) throw new TypeError(`MultiServer: plug ${index} is a transform; put it in a suite after its transport: [transport, transform]`)
  throw new TypeError(`MultiServer: plug ${index} is neither a suite ([transport, ...transforms]) nor a transport (ms or original-style), got ${describe(plug)}`)
}

/**
 * `require('multiserver')(plugs, wrap?)` on ms: each plug is a suite
 * `[transport, ...transforms]` (composed with `compose`, `wrap` applied to
 * each transport stream) or a plug of its own; plugins may be the drop-in
 * ones (`@ms/compat/plugins/*`), original-style third-party ones, or ms
 * transports and transforms.
 */
export function MultiServer(plugs: readonly unknown[], wrap?: (stream: OriginalStream) => OriginalStream): OriginalMultiServer {
  if (!Array.isArray(plugs)) throw new TypeError('MultiServer needs an array of plugs: [[transport, ...transforms], ...]')
  const all = plugs.map((plug, index) => toPlug(plug, index, wrap))
  const name = all.map((plug) => plug.name).join(';')

  function parses(plug: Plug, text: string): boolean {
    try {
      return !!plug.parse(text)
    } catch {
      return false
    }
  }

  return {
    name,

    client(address, cb) {
      const alternatives = Array.isArray(address) ? address : String(address).split(';')
      for (const alternative of alternatives) {
        const plug = all.find((p) => parses(p, alternative))
        if (plug) return plug.client(alternative, cb)
      }
      cb(new Error('could not connect to:' + String(address) + ', only know:' + name))
      return undefined
    },

    server(onConnect, onError, startedCb) {
      // Called once: with the first failure, or once every plug started.
      let pending = all.length + 1
      let reported = false
      const finish = (error?: Error | null) => {
        if (reported) return
        if (error) {
          reported = true
          return startedCb?.(asError(error))
        }
        if (--pending === 0) {
          reported = true
          startedCb?.(null)
        }
      }
      const closes: CloseServer[] = []
      for (const plug of all) {
        let once = false
        const started: Callback = (error) => {
          if (once) return
          once = true
          finish(error)
        }
        const close = (plug.server as (a: unknown, b: unknown, c: unknown) => unknown)(onConnect, onError, started)
        if (typeof close === 'function') closes.push(close as CloseServer)
      }
      finish(null)

      return function closeMultiServer(cb) {
        if (!cb) {
          for (const close of closes) close()
          return
        }
        let waiting = 1
        let failure: Error | null = null
        const done = (error?: Error | null) => {
          if (error && !failure) failure = asError(error)
          if (--waiting === 0) cb(failure)
        }
        for (const close of closes) {
          // A close that takes no callback is not waited for, as in the original.
          if (close.length > 0) {
            waiting++
            let once = false
            close((error) => {
              if (once) return
              once = true
              done(error)
            })
          } else close()
        }
        done(null)
      }
    },

    stringify(scope) {
      const target = scope || 'device'
      return all
        .filter((plug) => {
          const configured = typeof plug.scope === 'function' ? plug.scope() : undefined
          return Array.isArray(configured) ? configured.includes(target) : configured === target
        })
        .map((plug) => plug.stringify(target))
        .filter(Boolean)
        .join(';')
    },

    parse(address) {
      return String(address)
        .split(';')
        .map((alternative, i) => {
          const plug = all[i]
          return plug && parses(plug, alternative) ? plug.parse(alternative) : null
        })
    },
  }
}

export default MultiServer
export { MultiServer as 'module.exports' }
