// The idea multiserver exists for: move a network to a new protocol without
// a flag day. v1 is secret-handshake (`net~shs`); v2 is Noise IK
// (`net~noise`), with the same identity and network key. The server offers
// both side by side; each client dials the alternative it understands; once
// the old clients are gone shs is switched off (server-noise.ts is the server
// after that: @ms/shs is no longer among its imports).
import { createMultiServer, type MultiServer, type MultiServerListener } from '@ms/core'
import { net } from '@ms/net'
import { noise } from '@ms/noise'
import { shs } from '@ms/shs'
import type { KeyPair } from '@ms/noise'
import { NETWORK_KEY } from './network.js'
import { answer } from './talk.js'

export { ask, askOnce } from './talk.js'
export { NETWORK_KEY, newKeys } from './network.js'

/** v1: secret-handshake, with the network key as its app key. */
const legacySuite = (keys: KeyPair) => [net({ host: '127.0.0.1', port: 0 }), shs({ keys, appKey: NETWORK_KEY })] as const
/** v2: Noise IK, one round trip instead of two; same keys, same network. */
export const modernSuite = (keys: KeyPair) => [net({ host: '127.0.0.1', port: 0 }), noise({ keys, networkKey: NETWORK_KEY })] as const

export interface UpgradingServer {
  /** The advertised address: modern alternative first, then legacy while it runs. */
  address(): string
  /** Stops the legacy suite only. Its open connections close; modern ones are untouched. */
  switchOffLegacy(): Promise<void>
  readonly legacyRunning: boolean
  close(): Promise<void>
}

/**
 * Two MultiServers, one per generation, behind one advertised address.
 * (One MultiServer with both suites would work too, but its listener closes
 * as a whole; separate ones let each generation be stopped on its own.)
 */
export async function startUpgradingServer(keys: KeyPair, options: { modern?: boolean } = {}): Promise<UpgradingServer> {
  const legacy = createMultiServer([legacySuite(keys)])
  const legacyListener: MultiServerListener = await legacy.listen(answer('v1 (shs)'))
  let modern: MultiServer | undefined
  let modernListener: MultiServerListener | undefined
  if (options.modern !== false) {
    modern = createMultiServer([modernSuite(keys)])
    modernListener = await modern.listen(answer('v2 (noise)'))
  }
  let legacyRunning = true
  return {
    address: () => [modern?.stringify('device'), legacyRunning ? legacy.stringify('device') : ''].filter(Boolean).join(';'),
    async switchOffLegacy() {
      legacyRunning = false
      await legacyListener.close()
    },
    get legacyRunning() {
      return legacyRunning
    },
    async close() {
      await Promise.all([legacyListener.close(), modernListener?.close()])
    },
  }
}

/** An old client: it only knows shs. The noise alternative is not even dialled: no suite of its own matches `net~noise`. */
export const oldClient = (keys: KeyPair) => createMultiServer([[net(), shs({ keys, appKey: NETWORK_KEY })]])

/** A new client: prefers noise, and still speaks shs to servers that have not upgraded yet. */
export const newClient = (keys: KeyPair) =>
  createMultiServer([
    [net(), noise({ keys, networkKey: NETWORK_KEY })],
    [net(), shs({ keys, appKey: NETWORK_KEY })],
  ])
