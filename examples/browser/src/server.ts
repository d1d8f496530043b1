// The Node side: one HTTP server on one port serves the page, its bundle,
// and (through @ms/ws attached to the same server) the ws~shs endpoint.
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { createMultiServer, utf8, type Connection, type MultiServerListener } from '@ms/core'
import { SSB_APP_KEY, shs, shsCrypto, type KeyPair } from '@ms/shs'
import { ws } from '@ms/ws'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export interface PageServer {
  url: string
  address: string
  keys: KeyPair
  close(): Promise<void>
}

/** Starts the HTTP + ws~shs server on 127.0.0.1 (port 0: a free one). */
export async function startPageServer(options: { port?: number; bundle?: string } = {}): Promise<PageServer> {
  const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
  let address = ''
  const http: Server = createServer((request, response) => {
    const send = (type: string, body: string | Buffer) => response.writeHead(200, { 'content-type': type }).end(body)
    if (request.url === '/') return void readFile(here('../public/index.html')).then((html) => send('text/html; charset=utf-8', html))
    if (request.url === '/page.js') {
      return void readFile(options.bundle ?? here('../dist/page.js')).then(
        (js) => send('text/javascript', js),
        () => response.writeHead(404).end('run `pnpm bundle` first'),
      )
    }
    if (request.url === '/address') return send('text/plain', address)
    response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, '127.0.0.1', resolve))
  const port = (http.address() as { port: number }).port

  const server = createMultiServer([[ws({ server: http, path: '/ms' }), shs({ keys, appKey: SSB_APP_KEY })]])
  // Answer each message in upper case, so the page sees it went through us.
  const listener: MultiServerListener = await server.listen((connection: Connection) => {
    void (async () => {
      try {
        let text = ''
        const reader = connection.readable.getReader()
        for (let r = await reader.read(); !r.done; r = await reader.read()) text += utf8.decode(r.value)
        const writer = connection.writable.getWriter()
        await writer.write(utf8.encode(text.toUpperCase()))
        await writer.close()
      } catch {
        await connection.close()
      }
    })()
  })
  address = server.stringify('device')
  return {
    url: `http://127.0.0.1:${port}/`,
    address,
    keys,
    async close() {
      await listener.close()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const server = await startPageServer({ port: Number(process.env.PORT ?? 8080) })
  console.log(`open ${server.url} in a browser (ws~shs endpoint: ${server.address})`)
  process.once('SIGINT', () => void server.close())
}
