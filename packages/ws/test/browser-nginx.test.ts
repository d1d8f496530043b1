import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMultiServer, toBase64, type Connection, type MultiServerListener } from '@ms/core'
import { shs, shsCrypto } from '@ms/shs'
import { readAll, writeAll } from '@ms/compliance'
import { ws } from '@ms/ws'
import { startBrowser, type Browser } from './browser/harness.js'
import type { PageResult } from './browser/page.js'
import { pattern } from './browser/pattern.js'
import { selfSignedCertificate } from './cert.js'
import { startNginx, type Nginx } from './nginx.js'

// The browser through the README's nginx (issue 20): headless Chromium dials
// wss:// to Debian's nginx, which terminates TLS (a fresh self-signed
// certificate, accepted by the browser context) and passes plain ws to ms on
// 127.0.0.1. nginx connects to ms from 127.0.0.2 (a test-only `proxy_bind`),
// the one trusted proxy, so the page's own address (127.0.0.1) can only come
// from X-Forwarded-For.

const size = 256 * 1024
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describe('a real browser through nginx (wss terminated at nginx, X-Forwarded-For)', () => {
  let browser: Browser | undefined
  let nginx: Nginx | undefined
  let listener: MultiServerListener | undefined
  const appKey = randomBytes(32)
  const serverKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
  const fromServer = pattern(size, 202)
  const fromPage = pattern(size, 101)
  const accepted: Promise<{ got: Uint8Array; connection: Connection }>[] = []

  beforeAll(async () => {
    const server = createMultiServer([[ws({ host: '127.0.0.1', trustedProxies: ['127.0.0.2'] }), shs({ keys: serverKeys, appKey })]])
    listener = await server.listen((connection) => {
      accepted.push(
        (async () => {
          const [got] = await Promise.all([readAll(connection.readable), writeAll(connection.writable, fromServer)])
          return { got, connection }
        })(),
      )
    })
    const upstream = Number(/:(\d+)~/.exec(server.stringify())![1])
    nginx = await startNginx([upstream], selfSignedCertificate(), { proxyBind: '127.0.0.2' })
    browser = await startBrowser({ ignoreHTTPSErrors: true })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await nginx?.close()
    await listener?.close()
  })

  it('the page dials wss://…~shs through nginx, data round-trips both ways, and ms names the page from X-Forwarded-For', { timeout: 120_000 }, async () => {
    const page = await browser!.context.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`http://127.0.0.1:${browser!.port}/`)
    await page.waitForFunction(() => typeof window.msTest === 'function')
    const address = `wss://127.0.0.1:${nginx!.fronts[0]}~shs:${toBase64(serverKeys.publicKey)}`
    const result: PageResult = await page.evaluate(([a, n, key]) => window.msTest(a, n, key, 'shs'), [address, size, toBase64(appKey)] as const)

    expect(errors).toEqual([])
    expect(result.remoteAddress).toBe(address)
    expect(result.peerKey).toBe(toBase64(serverKeys.publicKey))
    expect(result.receivedBytes).toBe(size)
    expect(result.receivedDigest).toBe(sha256(fromServer))
    expect(result.closedCleanly).toBe(true)

    expect(accepted).toHaveLength(1)
    const { got, connection } = await accepted[0]!
    expect(got.byteLength).toBe(size)
    expect(sha256(got)).toBe(sha256(fromPage))
    expect(toBase64(connection.info.shs!.publicKey)).toBe(result.ownKey)
    // The socket peer is nginx (127.0.0.2); the page is 127.0.0.1, known only
    // from the header (which carries no port), and the connection says so.
    expect(connection.remoteAddress).toBe(`ws://127.0.0.1~shs:${result.ownKey}`)
    expect(connection.info.ws).toMatchObject({ secure: false, forwarded: true, origin: `http://127.0.0.1:${browser!.port}` })
    await page.close()
  })
})
