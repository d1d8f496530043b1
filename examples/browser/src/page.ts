// The browser side. Bundled with esbuild (`pnpm bundle`): it imports the
// browser builds, `@ms/ws/browser` (the DOM WebSocket) and `@ms/shs/noble`
// (pure-JS crypto), so nothing Node-only ends up in the bundle.
import { createMultiServer, utf8 } from '@ms/core'
import { SSB_APP_KEY, shs, shsCrypto } from '@ms/shs/noble'
import { ws, type DomWebSocketConstructor } from '@ms/ws/browser'

export interface TalkResult {
  reply: string
  /** The server's identity, proved by the handshake. */
  peer: string
  ms: number
}

const toId = (key: Uint8Array) => `@${btoa(String.fromCharCode(...key))}.ed25519`

/** Connects to `address` over ws~shs, sends `message`, reads the reply. */
export async function talk(address: string, message: string, options: { WebSocket?: DomWebSocketConstructor } = {}): Promise<TalkResult> {
  // A throw-away identity for this page; a real app would keep it in IndexedDB.
  const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
  const client = createMultiServer([[ws(options.WebSocket ? { WebSocket: options.WebSocket } : {}), shs({ keys, appKey: SSB_APP_KEY })]])
  const started = performance.now()
  const connection = await client.connect(address, { timeout: 10_000 })
  try {
    const writer = connection.writable.getWriter()
    await writer.write(utf8.encode(message))
    await writer.close()
    let reply = ''
    const reader = connection.readable.getReader()
    for (let r = await reader.read(); !r.done; r = await reader.read()) reply += utf8.decode(r.value)
    return { reply, peer: toId(connection.info.shs!.publicKey), ms: performance.now() - started }
  } finally {
    await connection.close()
  }
}

// In a browser: ask the server for its address, then talk to it.
if (typeof document !== 'undefined') {
  const log = document.getElementById('log')!
  void (async () => {
    try {
      const address = await (await fetch('/address')).text()
      log.textContent = `server address: ${address}\n`
      const { reply, peer, ms } = await talk(address, `hello from ${navigator.userAgent.split(' ').pop() ?? 'a browser'}`)
      log.textContent += `reply: ${reply}\nserver identity: ${peer}\nround trip incl. handshake: ${ms.toFixed(1)} ms`
    } catch (error) {
      log.textContent += `failed: ${error instanceof Error ? error.message : String(error)}`
    }
  })()
}
