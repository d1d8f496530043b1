import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import WebSocket from 'ws'
import { toBase64 } from '@ms/core'
import type { DomWebSocketConstructor } from '@ms/ws/browser'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { talk } from '../src/page.js'
import { evaluateInChromium } from './chromium.js'
import { startPageServer, type PageServer } from '../src/server.js'

let dir: string
let bundle: string
let server: PageServer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ms-browser-example-'))
  bundle = join(dir, 'page.js')
  // The same build as `pnpm bundle`.
  await build({
    entryPoints: [fileURLToPath(new URL('../src/page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@ms/source'],
    outfile: bundle,
    logLevel: 'silent',
  })
  server = await startPageServer({ bundle })
})

afterAll(async () => {
  await server?.close()
  await rm(dir, { recursive: true, force: true })
})

it('bundles the page for browsers with no Node-only code in it', async () => {
  const js = await readFile(bundle, 'utf8')
  expect(js).not.toMatch(/sodium-native|require\(["']node:|from ["']node:/)
  expect(js).toContain('secret-handshake') // the shs transform made it in (its error messages name it)
})

it('serves the page, its bundle and the address over one HTTP port', async () => {
  const html = await (await fetch(server.url)).text()
  expect(html).toContain('<script type="module" src="/page.js">')
  const js = await fetch(new URL('/page.js', server.url))
  expect(js.headers.get('content-type')).toBe('text/javascript')
  const address = await (await fetch(new URL('/address', server.url))).text()
  expect(address).toBe(server.address)
  expect(address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ms~shs:/)
})

it("the page's code (browser ws build, noble crypto) talks ws~shs to the Node peer", async () => {
  // npm `ws` stands in for the browser's WebSocket; the real-browser test lives in packages/ws.
  const result = await talk(server.address, 'hello from the page', { WebSocket: WebSocket as unknown as DomWebSocketConstructor })
  expect(result.reply).toBe('HELLO FROM THE PAGE')
  expect(result.peer).toBe(`@${toBase64(server.keys.publicKey)}.ed25519`)
})

it('the bundled page works in a real headless Chromium', async () => {
  // Chromium is installed by scripts/system-deps.sh (`pnpm test` runs it first).
  const text = await evaluateInChromium(server.url, "document.getElementById('log').textContent", (v) => /reply:|failed:/.test(v))
  expect(text).toContain(`server identity: @${toBase64(server.keys.publicKey)}.ed25519`)
  expect(text).toMatch(/reply: HELLO FROM /)
}, 60_000)
