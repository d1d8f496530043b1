// The reusable part of the example: an echo server offering three suites,
// and a client that sends one message and reads the answer.
import { readFile } from 'node:fs/promises'
import { createMultiServer, utf8, type Connection, type MultiServerListener } from '@ms/core'
import { net } from '@ms/net'
import { noauth } from '@ms/noauth'
import { SSB_APP_KEY, shs, shsCrypto, type KeyPair, type SsbKeys } from '@ms/shs'
import { unix } from '@ms/unix'
import { ws } from '@ms/ws'

/** A fresh identity; real peers keep theirs in a file (`ms keygen --out FILE`). */
export function newKeys(): KeyPair {
  return shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
}

/** Loads an ssb-keys secret file as written by `ms keygen`. */
export async function loadKeys(path: string): Promise<SsbKeys> {
  const text = await readFile(path, 'utf8')
  return JSON.parse(text.replace(/^\s*#.*$/gm, '')) as SsbKeys
}

export interface EchoServerOptions {
  keys: KeyPair | SsbKeys
  appKey?: string
  host?: string
  netPort?: number
  wsPort?: number
  /** Unix socket path; default: a fresh private directory. */
  socketPath?: string
}

/** Starts the echo server; `address` is what clients need. */
export async function startEchoServer(options: EchoServerOptions): Promise<{ address: string; listener: MultiServerListener }> {
  const appKey = options.appKey ?? SSB_APP_KEY
  const host = options.host ?? '127.0.0.1'
  const server = createMultiServer([
    [net({ host, port: options.netPort ?? 0 }), shs({ keys: options.keys, appKey })],
    [ws({ host, port: options.wsPort ?? 0 }), shs({ keys: options.keys, appKey })],
    [unix(options.socketPath ? { path: options.socketPath } : {}), noauth()],
  ])
  // Each connection: copy what arrives back to the sender until it half-closes.
  const listener = await server.listen((connection: Connection) => {
    void connection.readable.pipeTo(connection.writable).catch(() => connection.close())
  })
  return { address: server.stringify('device'), listener }
}

/** The client side: one MultiServer that can dial every suite the server offers. */
export function echoClient(keys: KeyPair | SsbKeys, appKey: string = SSB_APP_KEY) {
  const client = createMultiServer([
    [net(), shs({ keys, appKey })],
    [ws(), shs({ keys, appKey })],
    [unix(), noauth()],
  ])
  return {
    /** Sends `message` to `address` (any alternative that works), returns the echo and who answered. */
    async send(address: string, message: string): Promise<{ reply: string; remoteAddress: string; ms: number }> {
      const started = performance.now()
      const connection = await client.connect(address, { timeout: 10_000 })
      try {
        const writer = connection.writable.getWriter()
        await writer.write(utf8.encode(message))
        await writer.close()
        let reply = ''
        const reader = connection.readable.getReader()
        for (let r = await reader.read(); !r.done; r = await reader.read()) reply += utf8.decode(r.value)
        return { reply, remoteAddress: connection.remoteAddress, ms: performance.now() - started }
      } finally {
        await connection.close()
      }
    },
  }
}
