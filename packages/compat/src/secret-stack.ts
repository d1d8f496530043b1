import { toBase64, type Scope, type Transform, type Transport } from '@ms/core'
import { asBuffer } from './pull.js'
import { legacyPlugin } from './legacy.js'

/**
 * What secret-stack (8.x) passes a transport's `create(opts)`: one entry of
 * `config.global.connections.incoming[name]` or `.outgoing[name]`, as written
 * in the config (so it may carry extra keys, like `server` for ws).
 */
export interface SecretStackConnectionConfig {
  scope?: Scope | Scope[]
  transform?: string
  host?: string
  port?: number
  [key: string]: unknown
}

/** A secret-stack plugin object (`{ name, version, init }`). */
export interface SecretStackPlugin {
  name: string
  version: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  init(api: any, config: any): void
}

/**
 * A secret-stack plugin that registers one of our transports under `name`
 * (the key used in `config.global.connections`), e.g.
 *
 * ```js
 * SecretStack(...).use(secretStackTransport('net', (opts) => net({ host: opts.host, port: opts.port, scope: opts.scope })))
 * ```
 *
 * `create` is called once per `incoming`/`outgoing` entry with that entry.
 */
export function secretStackTransport(
  name: string,
  create: (opts: SecretStackConnectionConfig) => Transport<unknown>,
  pluginName = `ms-${name}`,
): SecretStackPlugin {
  return {
    name: pluginName,
    version: '1.0.0',
    init(api) {
      api.multiserver.transport({
        name,
        create: (opts: SecretStackConnectionConfig = {}) => legacyPlugin(create(opts), opts.scope === undefined ? {} : { scope: opts.scope }),
      })
    },
  }
}

/** What `secretStackShs` hands the shs factory (the options of `@ms/shs`'s `shs()`). */
export interface SecretStackShsOptions {
  /** `config.global.keys` as secret-stack has it: ssb-keys `{ public, private }` or `{ publicKey, secretKey }`. */
  keys: { publicKey: Uint8Array; secretKey: Uint8Array } | { public: string; private: string; curve?: string; id?: string }
  /** The network key: `multiserverShs.cap`, else `global.caps.shs`, else `global.appKey`. */
  appKey: string | Uint8Array
  /** Asks `api.auth('@<key>.ed25519')`, as the stock plugin does; resolves to its value or `true`. */
  authorize: (remotePublicKey: Uint8Array) => Promise<unknown>
  /** The handshake timeout secret-stack's stock plugin would use, in ms. */
  timeout: number
}

/**
 * A drop-in for `secret-stack/plugins/shs` on our shs transform. It is
 * called `multiserver-shs` like the stock one, so it reads the same config
 * (`config.multiserverShs.cap`) and must be used with `secret-stack/bare`:
 *
 * ```js
 * import { shs } from '@ms/shs'
 * SecretStack(...).use(secretStackShs(shs))
 * ```
 *
 * It sets `api.id`, `api.publicKey` and `api.shs.pubkey` and registers the
 * transform with `identify`, exactly as the stock plugin does.
 */
export function secretStackShs(factory: (options: SecretStackShsOptions) => Transform<unknown> & { publicKey: Uint8Array }): SecretStackPlugin {
  return {
    name: 'multiserver-shs',
    version: '1.0.0',
    init(api, config) {
      const global = config?.global ?? {}
      // The stock plugin's timeout rules, so configs behave the same.
      let timeout: number | undefined = typeof global.timers?.handshake === 'number' ? global.timers.handshake : undefined
      if (!timeout) timeout = global.timers ? 15e3 : 5e3
      if (global.timeout) timeout = global.timeout as number
      const cap = config?.multiserverShs?.cap ?? global.caps?.shs ?? global.appKey
      if (!cap) throw new Error('secret-stack shs plugin: caps.shs must be configured')
      if (!global.keys) throw new Error('secret-stack shs plugin: global.keys must be configured')
      const appKey = typeof cap === 'string' ? cap.split('.')[0]! : cap
      const authorize = (remotePublicKey: Uint8Array) =>
        new Promise<unknown>((resolve, reject) => {
          api.auth('@' + toBase64(remotePublicKey) + '.ed25519', (err: unknown, auth: unknown) => (err ? reject(err) : resolve(auth ?? true)))
        })
      const transform = factory({ keys: global.keys, appKey, authorize, timeout: timeout! })

      const identify = (publicKey: Uint8Array) => {
        const pubkey = toBase64(publicKey)
        return {
          get pubkey() {
            return pubkey
          },
        }
      }
      const id = '@' + toBase64(transform.publicKey) + '.ed25519'
      api.id = id
      api.publicKey = id
      const identified = identify(transform.publicKey)
      Object.defineProperty(api, 'shs', { get: () => identified })
      api.multiserver.transform({
        name: transform.name,
        create: () => legacyPlugin(transform),
        identify: (publicKey: Uint8Array) => identify(asBuffer(publicKey)),
      })
    },
  }
}
