// Headless Chromium (Debian's, through playwright-core) with the test page
// (page.ts, bundled the way an application would bundle it for browsers)
// served from 127.0.0.1: for browser.test.ts and browser-nginx.test.ts.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import * as http from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { chromium, type BrowserContext } from 'playwright-core'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const here = dirname(fileURLToPath(import.meta.url))

/** Bundles the page (or a given entry) the way an application would for browsers, and reports what it weighs. */
export async function bundlePage(entry?: string) {
  const result = await build({
    ...(entry === undefined ? { entryPoints: [join(here, 'page.ts')] } : { stdin: { contents: entry, resolveDir: here, loader: 'ts' as const } }),
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // `@ms/source` resolves our packages to their TypeScript sources (no
    // build needed); `browser` picks each package's browser build.
    conditions: ['@ms/source', 'browser'],
    minify: true,
    metafile: true,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]!.contents
  const inputs = Object.keys(result.metafile.inputs)
  return { code, inputs, gzipped: gzipSync(code, { level: 9 }).byteLength }
}

export interface Browser {
  context: BrowserContext
  bundle: Awaited<ReturnType<typeof bundlePage>>
  /** The port of the page's HTTP server on 127.0.0.1 (`/` is the page). */
  port: number
  close(): Promise<void>
}

/**
 * Starts the page server and Chromium. `ignoreHTTPSErrors`: accept any
 * certificate (for wss:// to a server with a self-signed one).
 */
export async function startBrowser({ ignoreHTTPSErrors = false } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`)
  const bundle = await bundlePage()
  const html = '<!doctype html><meta charset="utf-8"><title>ms ws test</title><script type="module" src="/page.js"></script>'
  const pageServer = http.createServer((req, res) => {
    if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle.code)
    else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html)
    else res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve))
  const userDataDir = mkdtempSync(join(tmpdir(), 'ms-ws-chromium-'))
  let context: BrowserContext | undefined
  const close = async () => {
    await context?.close()
    pageServer.closeAllConnections()
    await new Promise<void>((resolve) => pageServer.close(() => resolve()))
    rmSync(userDataDir, { recursive: true, force: true })
  }
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      ignoreHTTPSErrors,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-quic',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  } catch (error) {
    await close()
    throw error
  }
  return { context, bundle, port: (pageServer.address() as { port: number }).port, close }
}
