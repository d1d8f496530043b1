import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import * as http from 'node:http'
import { randomBytes } from 'node:crypto'
import { createMultiServer, toBase64, type Connection, type MultiServerListener, type Suite } from '@ms/core'
import { noise, noiseCrypto } from '@ms/noise'
import { shs, shsCrypto } from '@ms/shs'
import { readAll, writeAll } from '@ms/compliance'
import { ws } from '@ms/ws'
import { bundlePage, startBrowser, type Browser } from './browser/harness.js'
import type { PageResult } from './browser/page.js'
import { pattern } from './browser/pattern.js'

const MiB = 1024 * 1024
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describe('a real browser (headless Chromium) talks to a Node MultiServer', () => {
  let browser: Browser | undefined
  let listener: MultiServerListener | undefined
  let bundle: Browser['bundle']

  /** Why setting up failed; every test then fails with it (a missing browser is a failure, never a skip: CI installs it). */
  let setupError: unknown
  const ready = () => {
    if (setupError !== undefined) throw setupError
  }

  beforeAll(async () => {
    try {
      await setUp()
    } catch (error) {
      setupError = error
    }
  })

  async function setUp() {
    browser = await startBrowser()
    bundle = browser.bundle
  }

  afterAll(async () => {
    await listener?.close()
    await browser?.close()
  })

  it('bundles for browsers without Node built-ins or npm ws, and reports its size', () => {
    ready()
    expect(bundle.inputs.some((i) => /node_modules[/\\](\.pnpm[/\\])?ws[@/\\]/.test(i))).toBe(false)
    expect(bundle.inputs.some((i) => i.endsWith('packages/ws/src/browser.ts'))).toBe(true)
    expect(bundle.inputs.some((i) => i.endsWith('packages/ws/src/index.ts'))).toBe(false)
    // The browser crypto backend, never the native one.
    expect(bundle.inputs.some((i) => i.includes('packages/shs/src/crypto/noble.ts'))).toBe(true)
    expect(bundle.inputs.some((i) => i.includes('packages/noise/src/crypto/noble.ts'))).toBe(true)
    expect(bundle.inputs.some((i) => /sodium/.test(i))).toBe(false)
    console.log(
      `browser bundle of core + ws + shs + noise (minified, esbuild): ${(bundle.code.byteLength / 1024).toFixed(1)} KiB, ${(bundle.gzipped / 1024).toFixed(1)} KiB gzipped`,
    )
  })

  it('keeps core + ws alone small for browsers', async () => {
    ready()
    const alone = await bundlePage(`import { createMultiServer } from '@ms/core'\nimport { ws } from '@ms/ws'\nexport const client = createMultiServer([[ws()]])\n`)
    expect(alone.inputs.some((i) => /node_modules[/\\](\.pnpm[/\\])?ws[@/\\]/.test(i))).toBe(false)
    console.log(`browser bundle of core + ws (minified, esbuild): ${(alone.code.byteLength / 1024).toFixed(1)} KiB, ${(alone.gzipped / 1024).toFixed(1)} KiB gzipped`)
    expect(alone.gzipped).toBeLessThan(bundle.gzipped)
  })

  async function exchange(suite: 'ws' | 'ws~shs' | 'ws~noise') {
    ready()
    const fromServer = pattern(MiB, 202)
    const fromPage = pattern(MiB, 101)
    const appKey = randomBytes(32)
    const serverKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
    let serverSide!: Promise<{ got: Uint8Array; connection: Connection }>
    const transports: Suite =
      suite === 'ws'
        ? [ws({ host: '127.0.0.1' })]
        : suite === 'ws~shs'
          ? [ws({ host: '127.0.0.1' }), shs({ keys: serverKeys, appKey })]
          : [ws({ host: '127.0.0.1' }), noise({ keys: serverKeys, networkKey: appKey })]
    const server = createMultiServer([transports])
    listener = await server.listen((connection) => {
      serverSide = (async () => {
        const [got] = await Promise.all([readAll(connection.readable), writeAll(connection.writable, fromServer)])
        return { got, connection }
      })()
    })
    const address = server.stringify()

    const page = await browser!.context.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    const port = browser!.port
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForFunction(() => typeof window.msTest === 'function')
    const started = performance.now()
    const protocol = suite === 'ws~noise' ? 'noise' : 'shs'
    const result: PageResult = await page.evaluate(([a, size, key, p]) => window.msTest(a, size, key || undefined, p), [address, MiB, suite === 'ws' ? '' : toBase64(appKey), protocol] as const)
    const elapsed = performance.now() - started
    console.log(
      `${suite}: browser and Node exchanged 1 MiB each way in ${elapsed.toFixed(0)} ms (connect ${result.connectMs.toFixed(0)} ms, transfer and close ${result.transferMs.toFixed(0)} ms)`,
    )

    expect(errors).toEqual([])
    expect(result.receivedBytes).toBe(MiB)
    expect(result.receivedDigest).toBe(sha256(fromServer))
    expect(result.remoteAddress).toBe(address)
    expect(result.closedCleanly).toBe(true)
    const { got, connection } = await serverSide
    expect(got.byteLength).toBe(MiB)
    expect(sha256(got)).toBe(sha256(fromPage))
    expect(connection.info.ws?.origin).toBe(`http://127.0.0.1:${port}`)
    await connection.closed
    await page.close()
    await listener.close()
    listener = undefined
    return { result, connection, serverKeys }
  }

  it('exchanges 1 MiB both ways over plain ws and closes cleanly', { timeout: 120_000 }, async () => {
    const { connection } = await exchange('ws')
    expect(connection.remoteAddress).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
  })

  it('exchanges 1 MiB both ways over ws~shs (noble on the page, sodium in Node); each side sees the other\'s key', { timeout: 120_000 }, async () => {
    expect(shsCrypto.name).toBe('sodium')
    const { result, connection, serverKeys } = await exchange('ws~shs')
    expect(result.backend).toBe('noble')
    expect(result.peerKey).toBe(toBase64(serverKeys.publicKey))
    expect(result.ownKey).not.toBeNull()
    expect(toBase64(connection.info.shs!.publicKey)).toBe(result.ownKey)
    expect(connection.remoteAddress).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+~shs:${result.ownKey!.replace(/[+/]/g, (c) => '\\' + c)}$`))
  })

  it('exchanges 1 MiB both ways over ws~noise with a network key (noble on the page, sodium in Node); each side sees the other\'s key', { timeout: 120_000 }, async () => {
    expect(noiseCrypto.name).toBe('sodium')
    const { result, connection, serverKeys } = await exchange('ws~noise')
    expect(result.backend).toBe('noble')
    expect(result.peerKey).toBe(toBase64(serverKeys.publicKey))
    expect(result.ownKey).not.toBeNull()
    expect(toBase64(connection.info.noise!.publicKey)).toBe(result.ownKey)
    expect(connection.remoteAddress).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+~noise:${result.ownKey!.replace(/[+/]/g, (c) => '\\' + c)}$`))
  })

  it('reports a refused dial in the browser as a DialError', { timeout: 60_000 }, async () => {
    ready()
    const closedServer = http.createServer()
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve))
    const deadPort = (closedServer.address() as { port: number }).port
    await new Promise<void>((resolve) => closedServer.close(() => resolve()))
    const page = await browser!.context.newPage()
    const port = browser!.port
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForFunction(() => typeof window.msDialError === 'function')
    const error = await page.evaluate((a) => window.msDialError(a), `ws://127.0.0.1:${deadPort}`)
    // Browsers hide why a WebSocket failed; the close code is all there is.
    expect(error).toEqual({ isDialError: true, code: 'WS_1006', address: `ws://127.0.0.1:${deadPort}` })
    await page.close()
  })
})
