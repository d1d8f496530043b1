// Bundled by browser.test.ts with esbuild for the browser (conditions:
// browser), so this pulls the browser builds of our packages: no Node
// built-ins, no npm `ws`, the global WebSocket.
import { DialError, createMultiServer, fromBase64, toBase64, type Suite } from '@ms/core'
import { noise, noiseCrypto } from '@ms/noise'
import { shs, shsCrypto } from '@ms/shs'
import { ws } from '@ms/ws'
import { pattern } from './pattern.js'

declare global {
  interface Window {
    msTest: (address: string, size: number, appKey?: string, protocol?: 'shs' | 'noise') => Promise<PageResult>
    msDialError: (address: string) => Promise<{ isDialError: boolean; code: string | undefined; address: string | undefined } | null>
  }
}

export interface PageResult {
  /** SHA-256 of what the page received, hex. */
  receivedDigest: string
  receivedBytes: number
  remoteAddress: string
  closedCleanly: boolean
  /** What the page learnt of the server's key (shs or noise only). */
  peerKey: string | null
  /** The page's own public key (shs or noise only). */
  ownKey: string | null
  /** Which crypto backend the page's shs or noise used. */
  backend: string | null
  /** Milliseconds to connect (and handshake), then to move the data and see the close. */
  connectMs: number
  transferMs: number
}

async function digest(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('')
}

window.msTest = async (address, size, appKey, protocol = 'shs') => {
  let suite: Suite = [ws()]
  let ownKey: string | null = null
  let backend: string | null = null
  if (appKey && protocol === 'shs') {
    const keys = shsCrypto.signKeypairFromSeed(crypto.getRandomValues(new Uint8Array(32)))
    ownKey = toBase64(keys.publicKey)
    backend = shsCrypto.name
    suite = [ws(), shs({ keys, appKey: fromBase64(appKey)! })]
  } else if (appKey) {
    // noise: the key is its network key.
    const keys = noiseCrypto.signKeypairFromSeed(crypto.getRandomValues(new Uint8Array(32)))
    ownKey = toBase64(keys.publicKey)
    backend = noiseCrypto.name
    suite = [ws(), noise({ keys, networkKey: fromBase64(appKey)! })]
  }
  const client = createMultiServer([suite])
  const t0 = performance.now()
  const connection = await client.connect(address, { timeout: 10_000 })
  const t1 = performance.now()
  const data = pattern(size, 101)
  const writing = (async () => {
    const writer = connection.writable.getWriter()
    for (let offset = 0; offset < size; offset += 32 * 1024) {
      await writer.ready
      await writer.write(data.subarray(offset, offset + 32 * 1024))
    }
    await writer.close()
  })()
  const chunks: Uint8Array[] = []
  let received = 0
  const reader = connection.readable.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(value)
    received += value.byteLength
  }
  await writing
  const all = new Uint8Array(received)
  let offset = 0
  for (const c of chunks) {
    all.set(c, offset)
    offset += c.byteLength
  }
  // Both sides ended their writes: the socket closes by itself.
  const closedCleanly = await Promise.race([connection.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))])
  const t2 = performance.now()
  const info = connection.info as { shs?: { publicKey: Uint8Array }; noise?: { publicKey: Uint8Array } }
  const peer = info.shs ?? info.noise
  return {
    receivedDigest: await digest(all),
    receivedBytes: received,
    remoteAddress: connection.remoteAddress,
    closedCleanly,
    peerKey: peer ? toBase64(peer.publicKey) : null,
    ownKey,
    backend,
    connectMs: t1 - t0,
    transferMs: t2 - t1,
  }
}

window.msDialError = async (address) => {
  try {
    const connection = await createMultiServer([[ws()]]).connect(address, { timeout: 10_000 })
    await connection.close()
    return null
  } catch (error) {
    // instanceof, not `name`: a minifier renames classes, and MsError takes its name from the class.
    const e = error as { code?: string; address?: string }
    return { isDialError: error instanceof DialError, code: e.code, address: e.address }
  }
}
