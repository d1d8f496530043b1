// The idea multiserver exists for: move a network to a new protocol without
// a flag day. The server offers the legacy suite and the modern one side by
// side; each client dials the alternative it understands; once the old
// clients are gone the legacy suite is switched off, leaving the modern
// one (and its open connections) untouched.
import { createHash } from 'node:crypto'
import { createMultiServer, utf8, type Connection, type MultiServer, type MultiServerListener } from '@ms/core'
import { deflate } from '@ms/example-deflate'
import { net } from '@ms/net'
import { shs, shsCrypto, type KeyPair } from '@ms/shs'

/** Each protocol generation is its own network: a different shs app key. */
const networkKey = (name: string) => createHash('sha256').update(name).digest('base64')
export const LEGACY_APP_KEY = networkKey('ms example network v1')
export const MODERN_APP_KEY = networkKey('ms example network v2')

export const newKeys = (): KeyPair => shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))

/** v1: plain secret-handshake. */
const legacySuite = (keys: KeyPair) => [net({ host: '127.0.0.1', port: 0 }), shs({ keys, appKey: LEGACY_APP_KEY })] as const
/** v2: a new network key, and compression on top (a transform v1 clients do not have). */
const modernSuite = (keys: KeyPair) => [net({ host: '127.0.0.1', port: 0 }), shs({ keys, appKey: MODERN_APP_KEY }), deflate()] as const

/** Replies `<generation>: <message>` so the caller sees which suite answered. */
function answer(generation: string) {
  return async (connection: Connection) => {
    try {
      let message = ''
      const reader = connection.readable.getReader()
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        message += utf8.decode(r.value)
        // Line-based so one connection can carry several requests.
        let newline: number
        while ((newline = message.indexOf('\n')) >= 0) {
          const line = message.slice(0, newline)
          message = message.slice(newline + 1)
          const writer = connection.writable.getWriter()
          await writer.write(utf8.encode(`${generation}: ${line}\n`))
          writer.releaseLock()
        }
      }
      await connection.writable.close()
    } catch {
      await connection.close()
    }
  }
}

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
  const legacyListener: MultiServerListener | undefined = await legacy.listen(answer('v1'))
  let modern: MultiServer | undefined
  let modernListener: MultiServerListener | undefined
  if (options.modern !== false) {
    modern = createMultiServer([modernSuite(keys)])
    modernListener = await modern.listen(answer('v2'))
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

/** An old client: it only knows v1. The v2 alternative is not even dialled: no suite of its own matches `net~shs~deflate`. */
export const oldClient = (keys: KeyPair) => createMultiServer([[net(), shs({ keys, appKey: LEGACY_APP_KEY })]])

/** A new client: prefers v2, and still speaks v1 to servers that have not upgraded yet. */
export const newClient = (keys: KeyPair) =>
  createMultiServer([
    [net(), shs({ keys, appKey: MODERN_APP_KEY }), deflate()],
    [net(), shs({ keys, appKey: LEGACY_APP_KEY })],
  ])

/** Sends one line over `connection` and reads one line back. */
export async function ask(connection: Connection, line: string): Promise<string> {
  const writer = connection.writable.getWriter()
  await writer.write(utf8.encode(line + '\n'))
  writer.releaseLock()
  const reader = connection.readable.getReader()
  let text = ''
  try {
    while (!text.includes('\n')) {
      const r = await reader.read()
      if (r.done) break
      text += utf8.decode(r.value)
    }
  } finally {
    reader.releaseLock()
  }
  return text.trimEnd()
}

/** Connects, asks once, closes. */
export async function askOnce(client: MultiServer, address: string, line: string): Promise<string> {
  const connection = await client.connect(address, { timeout: 10_000 })
  try {
    return await ask(connection, line)
  } finally {
    await connection.close()
  }
}
