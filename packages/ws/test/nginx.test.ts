import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMultiServer, type Connection, type MultiServerListener } from '@ms/core'
import { shs, shsCrypto } from '@ms/shs'
import { readAll } from '@ms/compliance'
import { ws } from '@ms/ws'
import { selfSignedCertificate } from './cert.js'
import { startNginx, type Nginx } from './nginx.js'

// ws~shs behind Debian's nginx (installed by scripts/system-deps.sh) as the
// TLS-terminating reverse proxy of the README's "Running at scale": the
// client dials wss:// to nginx, nginx speaks plain ws to ms on 127.0.0.1 and
// says who the client is in X-Forwarded-For, which ms honours only because
// nginx's address is in `trustedProxies`.

const appKey = randomBytes(32)
const serverKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
const clientKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
const key = (k: Uint8Array) => Buffer.from(k).toString('base64')

describe('ws~shs behind nginx (wss terminated at nginx, X-Forwarded-For)', () => {
  let nginx: Nginx | undefined
  const cert = selfSignedCertificate()
  const listeners: MultiServerListener[] = []
  const seen = new Map<string, Connection[]>()
  let front = { trusted: 0, untrusted: 0 }

  async function backend(name: string, trustedProxies: string[]): Promise<number> {
    const ms = createMultiServer([[ws({ host: '127.0.0.1', trustedProxies }), shs({ keys: serverKeys, appKey })]])
    const list: Connection[] = []
    seen.set(name, list)
    const listener = await ms.listen((c) => {
      list.push(c)
      const writer = c.writable.getWriter()
      void writer
        .write(new TextEncoder().encode(c.remoteAddress))
        .then(() => writer.close())
        .catch(() => c.close())
    })
    listeners.push(listener)
    return Number(/:(\d+)~/.exec(ms.stringify())![1])
  }

  beforeAll(async () => {
    const trustedBackend = await backend('trusted', ['127.0.0.1'])
    const untrustedBackend = await backend('untrusted', [])
    nginx = await startNginx([trustedBackend, untrustedBackend], cert)
    front = { trusted: nginx.fronts[0]!, untrusted: nginx.fronts[1]! }
  }, 60_000)

  afterAll(async () => {
    await nginx?.close()
    await Promise.all(listeners.map((l) => l.close()))
  })

  const client = createMultiServer([[ws({ tls: { ca: cert.cert } }), shs({ keys: clientKeys, appKey })]])
  async function ask(port: number): Promise<string> {
    const connection = await client.connect(`wss://127.0.0.1:${port}~shs:${key(serverKeys.publicKey)}`, { timeout: 20_000 })
    expect(connection.info.shs?.publicKey && key(connection.info.shs.publicKey)).toBe(key(serverKeys.publicKey))
    const text = new TextDecoder().decode(await readAll(connection.readable))
    await connection.close()
    return text
  }

  it('the client dials wss to nginx; ms (plain ws behind it) sees the client from X-Forwarded-For, marked forwarded', async () => {
    const answer = await ask(front.trusted)
    // X-Forwarded-For carries the client's host only: no port.
    expect(answer).toBe(`ws://127.0.0.1~shs:${key(clientKeys.publicKey)}`)
    const [connection] = seen.get('trusted')!
    expect(connection!.info.ws).toMatchObject({ secure: false, forwarded: true })
  }, 60_000)

  it('the same header from a proxy that is not trusted is ignored: the socket peer (nginx) is kept', async () => {
    const answer = await ask(front.untrusted)
    expect(answer).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+~shs:${key(clientKeys.publicKey).replace(/[+/]/g, '\\$&')}$`))
    const [connection] = seen.get('untrusted')!
    expect(connection!.info.ws?.forwarded).toBeUndefined()
  }, 60_000)
})
