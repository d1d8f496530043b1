import { isLoopback } from '@ms/core'
import { splitParts } from '../compose.js'
import type { Callback, OriginalStream } from '../types.js'
import { setAddress } from '../util.js'

/** The options of the original `multiserver/plugins/noauth`. */
export interface NoauthPluginOptions {
  /** `keys.publicKey` becomes `stream.remote` (the original trusts a local peer as ourselves). */
  keys: { publicKey: Uint8Array }
  /**
   * Accept streams whose transport is not local (a unix socket, or a
   * loopback `net`/`ws` address). The original accepts anything; see the
   * compat README. Default `false`.
   */
  allowNonLocalUnsafe?: boolean
}

/** True for a transport address that cannot come from another machine. */
export function isLocalStreamAddress(address: unknown): boolean {
  if (typeof address !== 'string') return false
  const transport = splitParts(address)[0] ?? ''
  const [name, ...data] = transport.split(':')
  if (name === 'unix') return data.join(':') !== ''
  if (name === 'net' && data.length >= 2) return isHostLoopback(data.slice(0, -1).join(':'))
  if (name === 'ws' || name === 'wss') {
    try {
      return isHostLoopback(new URL(transport.replace(/^(wss?):(?!\/\/)/, '$1://')).hostname)
    } catch {
      return false
    }
  }
  return false
}

function isHostLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '')
  // A peer's address is an IP; a name (even localhost) is not evidence of anything.
  return bare.toLowerCase() !== 'localhost' && isLoopback(bare)
}

/** `require('multiserver/plugins/noauth')(opts)`: no handshake, the peer is trusted as ourselves. */
export function Noauth(options: NoauthPluginOptions) {
  if (!options || typeof options !== 'object' || !options.keys || !(options.keys.publicKey instanceof Uint8Array)) {
    throw new TypeError('multiserver/plugins/noauth: option "keys" ({ publicKey }) is required')
  }
  const publicKey = Buffer.from(options.keys.publicKey)
  const unsafe = options.allowNonLocalUnsafe === true
  return {
    name: 'noauth' as const,
    create(_dial?: unknown) {
      return function noauthTransform(stream: OriginalStream, cb: Callback<OriginalStream>) {
        if (!unsafe && !isLocalStreamAddress(stream.address)) {
          const error = new Error(`noauth refuses ${String(stream.address)}: only unix sockets and loopback addresses may skip authentication (set allowNonLocalUnsafe to override)`)
          return cb(setAddress(error, 'noauth:'))
        }
        cb(null, {
          remote: publicKey,
          auth: { allow: null, deny: null },
          source: stream.source,
          sink: stream.sink,
          address: 'noauth:' + publicKey.toString('base64'),
        } as OriginalStream)
      }
    },
    parse(_text: string) {
      return {}
    },
    stringify() {
      return 'noauth'
    },
  }
}

export default Noauth
export { Noauth as 'module.exports' }
