import { asError, setAddress } from './util.js'
import type { Callback, CloseServer, ComposedPlugin, OriginalStream, OriginalTransform, OriginalTransport } from './types.js'
import { toOriginalPlugin } from './from-ms.js'

const SEPARATOR = '~'
const ESCAPE = '!'

/** Splits an address on unescaped `~`, removing the `!` escapes, as the original's separator-escape does. */
export function splitParts(text: string): string[] {
  const parts: string[] = []
  let current = ''
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (ch === ESCAPE && i + 1 < text.length) current += text[++i]
    else if (ch === SEPARATOR) {
      parts.push(current)
      current = ''
    } else current += ch
  }
  parts.push(current)
  return parts
}

/** Joins parts with `~`, escaping `~` and `!` inside them with `!`. */
export function joinParts(parts: readonly string[]): string {
  return parts.map((part) => part.replace(/[!~]/g, (ch) => ESCAPE + ch)).join(SEPARATOR)
}

type Step = (stream: OriginalStream, cb: Callback<OriginalStream>) => void

/**
 * Runs a stream through the transforms in turn, building its address
 * (`net:…~shs:…`); on failure the error's address is the part built so
 * far, `~`, and what the failing transform set (`net:…~shs:`).
 */
function runTransforms(stream: OriginalStream, steps: Step[], cb: Callback<OriginalStream>): void {
  const next = (error: Error | null | undefined, current: OriginalStream | undefined, index: number, address: string | undefined): void => {
    if (error) {
      setAddress(error, `${address}${SEPARATOR}${(error as { address?: string }).address}`)
      return cb(error)
    }
    if (index >= steps.length) {
      current!.address = address
      return cb(null, current)
    }
    let called = false
    try {
      steps[index]!(current!, (err, out) => {
        if (called) return
        called = true
        if (!err && !out) return next(new Error('a transform called back with neither an error nor a stream'), undefined, index + 1, address)
        if (out && current) out.meta = out.meta || current.meta
        next(err ? asError(err) : null, out, index + 1, err ? address : `${address}${SEPARATOR}${out!.address}`)
      })
    } catch (thrown) {
      if (called) throw thrown
      called = true
      next(asError(thrown), undefined, index + 1, address)
    }
  }
  next(null, stream, 0, stream.address)
}

/** `close` as an async function: `close(cb)` waits for it when it takes a callback. */
function asyncClose(close: unknown): CloseServer {
  return function closeComposed(cb) {
    if (typeof close !== 'function') return cb?.(null)
    if (close.length > 0) return void (close as CloseServer)(cb)
    let result: unknown
    try {
      result = (close as () => unknown)()
    } catch (error) {
      if (cb) return cb(asError(error))
      throw error
    }
    ;(cb as Callback | undefined)?.(null, result)
  }
}

/**
 * `require('multiserver/compose')([transport, ...transforms], wrap?)`: one
 * plugin that runs a transport's streams through its transforms. Plugins
 * may be original-style or ms transports and transforms.
 */
export function compose(plugins: readonly unknown[], wrap?: (stream: OriginalStream) => OriginalStream): ComposedPlugin {
  if (!Array.isArray(plugins) || plugins.length === 0) throw new TypeError('multiserver/compose needs [transport, ...transforms]')
  const all = plugins.map((plugin, index) => toOriginalPlugin(plugin, index === 0 ? 'transport' : 'transform', `compose: plugin ${index}`))
  const transport = all[0] as OriginalTransport
  const transforms = all.slice(1) as OriginalTransform[]
  const wrapStream = wrap ?? ((stream: OriginalStream) => stream)

  function parse(text: string): unknown[] | null {
    if (typeof text !== 'string') return null
    const parts = splitParts(text)
    // The original reads past its plugins (and throws) or accepts too few parts; both are no match here.
    if (parts.length !== all.length) return null
    const out: unknown[] = []
    for (let i = 0; i < parts.length; i++) {
      let value: unknown
      try {
        value = all[i]!.parse(parts[i]!)
      } catch {
        value = null
      }
      if (!value) return null
      out[i] = value
    }
    return out
  }

  return {
    name: all.map((plugin) => plugin.name).join(SEPARATOR),
    // The transport's own function: secret-stack compares scopes by identity.
    scope: transport.scope,

    client(address, cb) {
      const options = typeof address === 'string' ? parse(address) : (address as unknown[] | null)
      if (!options) return cb(new Error('could not parse address:' + String(address)))
      return transport.client(options[0], (error, stream) => {
        if (error) return cb(error)
        runTransforms(
          wrapStream(stream!),
          transforms.map((t, i) => t.create(options[i + 1])),
          cb,
        )
      })
    },

    server(onConnect, onError, startedCb) {
      const report = onError ?? (() => {})
      const start = transport.server as (onConnect: (stream: OriginalStream) => void, started?: Callback) => unknown
      const close = start.call(
        transport,
        (stream: OriginalStream) => {
          runTransforms(
            wrapStream(stream),
            transforms.map((t) => t.create()),
            (error, out) => {
              if (error) report(error)
              else onConnect(out!)
            },
          )
        },
        startedCb,
      )
      return asyncClose(close)
    },

    parse,

    stringify(scope) {
      const full = transport.stringify(scope)
      if (!full) return undefined
      const tail = transforms.map((t) => String(t.stringify(scope) ?? ''))
      return full
        .split(';')
        .map((address) => joinParts([address, ...tail]))
        .join(';')
    },
  }
}

export default compose
export { compose as 'module.exports' }
