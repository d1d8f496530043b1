// A peer reachable over Tor: its onion service carries the same shs
// identity as its local TCP listener, so one advertised address offers both.
import { readFile, writeFile } from 'node:fs/promises'
import { createMultiServer, utf8, type Connection, type MultiServerListener } from '@ms/core'
import { net } from '@ms/net'
import { onion, type TorControlOptions } from '@ms/onion'
import { SSB_APP_KEY, shs, shsCrypto, type KeyPair } from '@ms/shs'

export interface OnionPeerOptions {
  keys: KeyPair
  /** Tor's control port (torrc: `ControlPort 9051`, `CookieAuthentication 1`). */
  control: TorControlOptions
  /** Where to keep the onion service key, so the address survives restarts. */
  onionKeyFile?: string
  /** Wait until the descriptor is published, so clients can connect at once. Default true. */
  waitForPublish?: boolean
  /** Milliseconds to wait for publication. Default 120 000. */
  publishTimeout?: number
}

async function readOptional(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch {
    return undefined
  }
}

/** Publishes the onion service and a loopback TCP listener; echoes every connection. */
export async function startOnionPeer(options: OnionPeerOptions): Promise<{ publicAddress: string; localAddress: string; listener: MultiServerListener }> {
  const privateKey = await readOptional(options.onionKeyFile)
  const server = createMultiServer([
    [
      onion({
        control: options.control,
        ...(privateKey ? { privateKey } : {}),
        // Store the key Tor generated so the .onion name stays the same next time.
        onKey: ({ privateKey: key, generated }) => {
          if (generated && options.onionKeyFile) void writeFile(options.onionKeyFile, key + '\n', { mode: 0o600 })
        },
        waitForPublish: options.waitForPublish ?? true,
        ...(options.publishTimeout ? { publishTimeout: options.publishTimeout } : {}),
      }),
      shs({ keys: options.keys, appKey: SSB_APP_KEY }),
    ],
    [net({ host: '127.0.0.1', port: 0 }), shs({ keys: options.keys, appKey: SSB_APP_KEY })],
  ])
  const listener = await server.listen((connection: Connection) => {
    void connection.readable.pipeTo(connection.writable).catch(() => connection.close())
  })
  return { publicAddress: server.stringify('public'), localAddress: server.stringify('device'), listener }
}

/** Dials an onion~shs address through Tor's SOCKS port and sends one message. */
export async function sendOverTor(address: string, message: string, options: { keys: KeyPair; socks?: string; timeout?: number }): Promise<string> {
  const client = createMultiServer([[onion(options.socks ? { socks: options.socks } : {}), shs({ keys: options.keys, appKey: SSB_APP_KEY })]])
  const connection = await client.connect(address, { timeout: options.timeout ?? 120_000 })
  try {
    const writer = connection.writable.getWriter()
    await writer.write(utf8.encode(message))
    await writer.close()
    let reply = ''
    const reader = connection.readable.getReader()
    for (let r = await reader.read(); !r.done; r = await reader.read()) reply += utf8.decode(r.value)
    return reply
  } finally {
    await connection.close()
  }
}

export const newKeys = (): KeyPair => shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
