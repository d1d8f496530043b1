import { shsCrypto, shs as msShs, type ShsOptions } from '@ms/shs'
import { legacyPlugin } from '../../legacy.js'
import type { Callback, OriginalStream } from '../types.js'
import { setAddress } from '../util.js'

/** The options of the original `multiserver/plugins/shs`. */
export interface ShsPluginOptions {
  /** Our key pair (`{ publicKey, secretKey }` Buffers, or ssb-keys `{ public, private }`), or a 32-byte seed. */
  keys?: ShsOptions['keys'] | Uint8Array
  /** A 32-byte seed to derive our key pair from, when `keys` is absent. */
  seed?: Uint8Array
  /** The network key: 32 bytes or base64. */
  appKey: Uint8Array | string
  /** `auth(publicKey, cb)`: `cb(null, truthy)` lets the client in (the value becomes `stream.auth`). */
  auth?: (publicKey: Buffer, cb: (error: Error | null, auth?: unknown) => void) => void
  /** Same as `auth`. */
  authenticate?: (publicKey: Buffer, cb: (error: Error | null, auth?: unknown) => void) => void
  /** Milliseconds for the handshake. */
  timeout?: number
}

/** What the original's shs `parse` returns. */
export interface ShsParsed {
  key: Buffer
  seed: Buffer | undefined
}

function isSeed(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === 32
}

/**
 * The client side for a server key that is no Ed25519 point: no handshake
 * can succeed, and we send none. The original's client sent one anyway, so
 * its server failed (and reported) before the client did; keep that order by
 * hanging up our side and reporting once the server has hung up too (or
 * after the handshake timeout).
 */
function refuse(timeout: number) {
  return function shsInvalidKey(stream: OriginalStream, cb: Callback<OriginalStream>) {
    const error = setAddress(new Error('shs: the server public key is not a valid Ed25519 key'), 'shs:')
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      stream.source(true, () => {})
      cb(error)
    }
    const timer = setTimeout(finish, timeout)
    // End our side at once: the server reads end-of-stream where it expects our hello.
    stream.sink(((_abort: unknown, next: (end: unknown) => void) => next(true)) as never)
    const drain = () => {
      if (!done) stream.source(null, ((end: unknown) => (end ? finish() : drain())) as never)
    }
    drain()
  }
}

/** `require('multiserver/plugins/shs')(opts)` on `@ms/shs`. */
export function Shs(options: ShsPluginOptions) {
  if (options === null || typeof options !== 'object') throw new TypeError('multiserver/plugins/shs: options { keys, appKey, auth } are required')
  const input = options.keys || options.seed
  if (!input) throw new TypeError('multiserver/plugins/shs: option "keys" (or "seed") is required')
  // As secret-handshake's toKeys: 32 bytes are a seed.
  const keys = isSeed(input) ? shsCrypto.signKeypairFromSeed(input) : (input as ShsOptions['keys'])
  const auth = options.auth || options.authenticate
  if (auth !== undefined && typeof auth !== 'function') throw new TypeError('multiserver/plugins/shs: option "auth" must be a function (publicKey, cb)')
  const transform = msShs({
    keys,
    appKey: options.appKey,
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(auth
      ? {
          authorize: (publicKey: Uint8Array) =>
            new Promise<unknown>((resolve, reject) => {
              auth(Buffer.from(publicKey), (error, value) => (error ? reject(error) : resolve(value)))
            }),
        }
      : {}),
  })
  const base = legacyPlugin(transform)
  const timeout = options.timeout ?? 5000
  const publicKey = Buffer.from(transform.publicKey)
  const ours = 'shs:' + publicKey.toString('base64')

  return {
    name: 'shs' as const,
    create(dial?: Partial<ShsParsed> | null) {
      const client = !!(dial && dial.key)
      if (client && !(dial!.key instanceof Uint8Array && dial!.key.length === 32 && shsCrypto.edPublicToCurve(dial!.key))) return refuse(timeout)
      const inner = base.create(client ? { publicKey: dial!.key, ...(dial!.seed ? { seed: dial!.seed } : {}) } : undefined)
      return function shsTransform(stream: OriginalStream, cb: Callback<OriginalStream>) {
        inner(stream as never, (error, out) => {
          // As the original: a failed handshake does not tell who it was with.
          if (error) return cb(setAddress(error, 'shs:'))
          const result = out as unknown as OriginalStream
          result.address = 'shs:' + Buffer.from(result.remote!).toString('base64')
          cb(null, result)
        })
      }
    },
    parse(text: string): ShsParsed | null {
      if (typeof text !== 'string') return null
      const parts = text.split(':')
      if (parts[0] !== 'shs') return null
      const parsed = transform.parse({ name: 'shs', data: parts.slice(1) })
      return parsed ? { key: Buffer.from(parsed.publicKey), seed: parsed.seed ? Buffer.from(parsed.seed) : undefined } : null
    },
    stringify(): string {
      return ours
    },
    publicKey,
  }
}

export default Shs
export { Shs as 'module.exports' }
