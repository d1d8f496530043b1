import { afterEach, describe, expect, it } from 'vitest'
import * as http from 'node:http'
import * as https from 'node:https'
import WebSocket, { WebSocketServer } from 'ws'
import { DialError, LimitError, ListenError, StreamError, createMultiServer, type Connection, type TransportListener } from '@ms/core'
import { echo, readAll, waitUntil, writeAll } from '@ms/compliance'
import { ws } from '@ms/ws'
import { selfSignedCertificate } from './cert.js'

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bytes = (s: string) => new TextEncoder().encode(s)

/** Everything a test opened, closed after it whatever happened. */
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function httpServer(handler?: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}
function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}
function portOf(server: http.Server): number {
  return (server.address() as { port: number }).port
}

async function listenTransport(transport: ReturnType<typeof ws>, onConnection: (c: Connection) => void = echo): Promise<TransportListener> {
  const listener = await transport.listen!(onConnection, {})
  cleanups.push(() => listener.close())
  return listener
}

/** A raw npm `ws` client, as a peer that knows nothing of our protocol. */
function rawClient(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const socket = new WebSocket(url, { headers, perMessageDeflate: false })
  cleanups.push(() => socket.terminate())
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket))
    socket.once('error', reject)
  })
}

function accepted(): { onConnection: (c: Connection) => void; next: Promise<Connection> } {
  let resolve!: (c: Connection) => void
  const next = new Promise<Connection>((r) => (resolve = r))
  return {
    onConnection: (c) => {
      cleanups.push(() => c.close())
      resolve(c)
    },
    next,
  }
}

describe('ws listening', () => {
  it('advertises the port actually bound and the path', async () => {
    const transport = ws({ host: '127.0.0.1', port: 0, path: '/ms' })
    const listener = await listenTransport(transport)
    const [segment] = listener.addresses('device')
    const address = transport.parse(segment!)!
    expect(address.host).toBe('127.0.0.1')
    expect(address.port).toBeGreaterThan(0)
    expect(address.path).toBe('/ms')
    expect(address.secure).toBe(false)
    expect(listener.addresses('public')).toEqual([])
  })

  it('a wildcard bind advertises real loopback addresses in the device scope, never 0.0.0.0', async () => {
    const ms = createMultiServer([[ws({ host: '0.0.0.0', port: 0 })]])
    const listener = await ms.listen(echo)
    cleanups.push(() => listener.close())
    const advertised = ms.stringify('device')
    expect(advertised).toMatch(/^ws:\/\/127\.\d+\.\d+\.\d+:\d+$/)
    expect(advertised).not.toContain('0.0.0.0')
    const c = await ms.connect(advertised)
    cleanups.push(() => c.close())
    const [, reply] = await Promise.all([writeAll(c.writable, bytes('hi')), readAll(c.readable)])
    expect(text(reply)).toBe('hi')
  })

  it('advertises external names (hosts or full URLs) in the public scope only', async () => {
    const byHost = ws({ host: '127.0.0.1', scope: ['device', 'public'], external: ['example.com', '2001:db8::7'], path: '/p' })
    const l1 = await listenTransport(byHost)
    const port = transportPort(byHost, l1)
    const ms = createMultiServer([[byHost]])
    expect(l1.addresses('public').map((s) => ms.suites[0]![0].parse(s))).toEqual([
      { secure: false, host: 'example.com', port, path: '/p' },
      { secure: false, host: '2001:db8::7', port, path: '/p' },
    ])
    const byUrl = ws({ host: '127.0.0.1', scope: ['device', 'public'], external: 'wss://example.com/ms' })
    const l2 = await listenTransport(byUrl)
    expect(l2.addresses('public')).toEqual([{ name: 'wss', data: ['//example.com/ms'] }])
    expect(l2.addresses('device')[0]!.name).toBe('ws')
  })

  it('listens with TLS from a key and certificate, advertising wss', async () => {
    const { key, cert } = selfSignedCertificate()
    const server = createMultiServer([[ws({ host: '127.0.0.1', tls: { key, cert } })]])
    const listener = await server.listen(echo)
    cleanups.push(() => listener.close())
    const address = server.stringify()
    expect(address).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    // Without trusting the certificate the dial fails with a typed error.
    const untrusting = createMultiServer([[ws()]])
    await expect(untrusting.connect(address)).rejects.toBeInstanceOf(DialError)
    const client = createMultiServer([[ws({ tls: { ca: cert } })]])
    const c = await client.connect(address)
    cleanups.push(() => c.close())
    expect(c.remoteAddress).toBe(address)
    expect(c.info.ws?.secure).toBe(true)
    const [, reply] = await Promise.all([writeAll(c.writable, bytes('secret')), readAll(c.readable)])
    expect(text(reply)).toBe('secret')
  })

  it('rejects bad options at once', () => {
    expect(() => ws({ port: 70000 })).toThrow(TypeError)
    expect(() => ws({ port: 1.5 })).toThrow(TypeError)
    expect(() => ws({ path: '/a#b' })).toThrow(TypeError)
    expect(() => ws({ external: 'http://example.com' })).toThrow(TypeError)
  })

  it('stops listening when the listen signal aborts', async () => {
    const transport = ws({ host: '127.0.0.1' })
    const controller = new AbortController()
    const listener = await transport.listen!(() => {}, { signal: controller.signal })
    const { port } = transport.parse(listener.addresses('device')[0]!)!
    controller.abort()
    expect(listener.addresses('device')).toEqual([])
    const error = await createMultiServer([[ws()]]).connect(`ws://127.0.0.1:${port}`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
  })

  it('reports a busy port as a typed ListenError', async () => {
    const busy = await httpServer()
    cleanups.push(() => closeServer(busy))
    const error = await ws({ host: '127.0.0.1', port: portOf(busy) }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('EADDRINUSE')
  })

  it('answers plain HTTP on its own port with 426', async () => {
    const transport = ws({ host: '127.0.0.1' })
    const listener = await listenTransport(transport)
    const { port } = transport.parse(listener.addresses('device')[0]!)!
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }).on('error', reject)
    })
    expect(status).toBe(426)
  })
})

function transportPort(transport: ReturnType<typeof ws>, listener: TransportListener): number {
  return transport.parse(listener.addresses('device')[0]!)!.port
}

describe('ws on a shared HTTP server', () => {
  it('routes several suites by path, leaves other paths to other handlers, and never closes the server', async () => {
    const server = await httpServer((_req, res) => res.end('plain http still works'))
    cleanups.push(() => closeServer(server))
    const port = portOf(server)
    // Someone else's WebSocket endpoint on the same server.
    const theirs = new WebSocketServer({ noServer: true })
    cleanups.push(() => theirs.close())
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/theirs') theirs.handleUpgrade(req, socket, head, (s) => s.send('theirs'))
    })

    const tag = (name: string) => (c: Connection) => void writeAll(c.writable, bytes(name)).catch(() => {})
    const a = createMultiServer([[ws({ server, host: '127.0.0.1', path: '/a' })]])
    const b = createMultiServer([[ws({ server, host: '127.0.0.1', path: '/b' })]])
    const la = await a.listen(tag('a'))
    cleanups.push(() => la.close())
    const lb = await b.listen(tag('b'))
    cleanups.push(() => lb.close())
    expect(a.stringify()).toBe(`ws://127.0.0.1:${port}/a`)
    expect(b.stringify()).toBe(`ws://127.0.0.1:${port}/b`)

    const client = createMultiServer([[ws()]])
    for (const [ms, name] of [[a, 'a'], [b, 'b']] as const) {
      const c = await client.connect(ms.stringify())
      cleanups.push(() => c.close())
      expect(text(await readAll(c.readable))).toBe(name)
    }

    const other = new WebSocket(`ws://127.0.0.1:${port}/theirs`)
    cleanups.push(() => other.terminate())
    expect(String(await new Promise((resolve, reject) => other.once('message', resolve).once('error', reject)))).toBe('theirs')

    // A second listener on a taken path is refused.
    const clash = createMultiServer([[ws({ server, path: '/a' })]])
    await expect(clash.listen(() => {})).rejects.toBeInstanceOf(ListenError)

    // Closing a listener frees its path and leaves the server running.
    await la.close()
    expect(server.listening).toBe(true)
    const res = await fetch(`http://127.0.0.1:${port}/`)
    expect(await res.text()).toBe('plain http still works')
  })

  it('rejects unknown paths with 404 when nobody else handles upgrades', async () => {
    const server = await httpServer()
    cleanups.push(() => closeServer(server))
    const ms = createMultiServer([[ws({ server, path: '/only' })], [ws({ server, path: '/also' })]])
    const listener = await ms.listen(echo)
    cleanups.push(() => listener.close())
    expect(ms.stringify()).toBe(`ws://127.0.0.1:${portOf(server)}/only;ws://127.0.0.1:${portOf(server)}/also`)
    const client = createMultiServer([[ws()]])
    const error = await client.connect(`ws://127.0.0.1:${portOf(server)}/nope`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).code).toBe('HTTP_404')
    for (const path of ['/only', '/also', '/only?token=1']) {
      const c = await client.connect(`ws://127.0.0.1:${portOf(server)}${path}`)
      cleanups.push(() => c.close())
      const [, reply] = await Promise.all([writeAll(c.writable, bytes(path)), readAll(c.readable)])
      expect(text(reply)).toBe(path)
    }
  })

  it('advertises wss when attached to an https server', async () => {
    const { key, cert } = selfSignedCertificate()
    const server = https.createServer({ key, cert })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => closeServer(server))
    const ms = createMultiServer([[ws({ server, path: '/tls' })]])
    const listener = await ms.listen(echo)
    cleanups.push(() => listener.close())
    expect(ms.stringify()).toBe(`wss://127.0.0.1:${portOf(server)}/tls`)
    const c = await createMultiServer([[ws({ tls: { ca: cert } })]]).connect(ms.stringify())
    cleanups.push(() => c.close())
    const [, reply] = await Promise.all([writeAll(c.writable, bytes('over tls')), readAll(c.readable)])
    expect(text(reply)).toBe('over tls')
  })
})

describe('ws remote addresses and proxies', () => {
  async function serverSees(options: Parameters<typeof ws>[0], headers: Record<string, string>) {
    const transport = ws({ host: '127.0.0.1', ...options })
    const { onConnection, next } = accepted()
    const listener = await listenTransport(transport, onConnection)
    const url = `ws://127.0.0.1:${transportPort(transport, listener)}`
    const raw = await rawClient(url, headers)
    const connection = await next
    const localPort = (raw as unknown as { _socket: { localPort: number } })._socket.localPort
    return { connection, localPort }
  }

  it('is ws://<ip>:<port> of the socket peer, ignoring Origin and X-Forwarded-For by default', async () => {
    const { connection, localPort } = await serverSees({}, { origin: 'https://evil.example', 'x-forwarded-for': '203.0.113.9' })
    expect(connection.remoteAddress).toBe(`ws://127.0.0.1:${localPort}`)
    expect(connection.direction).toBe('inbound')
    expect(connection.info.ws?.origin).toBe('https://evil.example')
    expect(connection.info.ws?.forwarded).toBeUndefined()
  })

  it('uses X-Forwarded-For from a trusted proxy, up to the first untrusted hop', async () => {
    const one = await serverSees({ trustedProxies: ['127.0.0.1'] }, { 'x-forwarded-for': '203.0.113.9, 10.1.2.3' })
    expect(one.connection.remoteAddress).toBe('ws://10.1.2.3')
    expect(one.connection.info.ws?.forwarded).toBe(true)
    const two = await serverSees({ trustedProxies: ['127.0.0.0/8', '10.0.0.0/8'] }, { 'x-forwarded-for': '203.0.113.9, 10.1.2.3' })
    expect(two.connection.remoteAddress).toBe('ws://203.0.113.9')
  })

  it('prefers RFC 7239 Forwarded, with IPv6 and port', async () => {
    const { connection } = await serverSees({ trustedProxies: ['127.0.0.1'] }, { forwarded: 'for="[2001:db8::1]:4711";proto=https', 'x-forwarded-for': '198.51.100.1' })
    expect(connection.remoteAddress).toBe('ws://[2001:db8::1]:4711')
  })

  it('ignores forwarding headers from peers that are not trusted proxies', async () => {
    const { connection, localPort } = await serverSees({ trustedProxies: ['10.0.0.1'] }, { 'x-forwarded-for': '203.0.113.9' })
    expect(connection.remoteAddress).toBe(`ws://127.0.0.1:${localPort}`)
  })

  it('rejects malformed trustedProxies entries', () => {
    expect(() => ws({ trustedProxies: ['not-an-ip'] })).toThrow(TypeError)
    expect(() => ws({ trustedProxies: ['10.0.0.0/99'] })).toThrow(TypeError)
  })
})

describe('ws framing, half-close and close codes', () => {
  async function pair(options: Parameters<typeof ws>[0] = {}) {
    const transport = ws({ host: '127.0.0.1', ...options })
    const { onConnection, next } = accepted()
    const listener = await listenTransport(transport, onConnection)
    return { url: `ws://127.0.0.1:${transportPort(transport, listener)}`, next }
  }

  it('ends our readable when a peer without half-close closes normally (npm multiserver does that on end)', async () => {
    const { url, next } = await pair()
    const raw = await rawClient(url)
    raw.send(Buffer.from('last words'))
    raw.close()
    const s = await next
    expect(text(await readAll(s.readable))).toBe('last words')
    await s.closed
  })

  it('sends an empty binary message as the end marker when our writable closes', async () => {
    const { url, next } = await pair()
    const raw = await rawClient(url)
    const messages: Buffer[] = []
    raw.on('message', (data: Buffer) => messages.push(data))
    const s = await next
    await writeAll(s.writable, bytes('data then end'))
    await waitUntil(() => messages.length >= 2, 'the data and the end marker to arrive')
    expect(messages.map((m) => m.byteLength)).toEqual([13, 0])
    // The peer can still send after our end; once it ends too, both sides close normally.
    raw.send(Buffer.from('reply'))
    raw.send(Buffer.alloc(0))
    expect(text(await readAll(s.readable))).toBe('reply')
    const code = await new Promise<number>((resolve) => raw.once('close', resolve))
    expect(code).toBe(1000)
    await s.closed
  })

  it('splits large writes into messages of at most 64 KiB', async () => {
    const { url, next } = await pair()
    const raw = await rawClient(url)
    const sizes: number[] = []
    raw.on('message', (data: Buffer) => sizes.push(data.byteLength))
    const s = await next
    await writeAll(s.writable, new Uint8Array(200 * 1024), { chunkSize: 200 * 1024, close: false })
    await waitUntil(() => sizes.reduce((a, b) => a + b, 0) >= 200 * 1024, 'all 200 KiB to arrive')
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200 * 1024)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64 * 1024)
  })

  it('errors the readable on an abnormal close code, and on text frames with 4003', async () => {
    const first = await pair()
    const raw = await rawClient(first.url)
    raw.close(4001, 'app says no')
    const s = await first.next
    const error = await readAll(s.readable).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamError)
    expect(String((error as Error).message)).toContain('4001')

    const second = await pair()
    const talker = await rawClient(second.url)
    const closing = new Promise<number>((resolve) => talker.once('close', resolve))
    talker.send('text is not ours')
    const s2 = await second.next
    await expect(readAll(s2.readable)).rejects.toBeInstanceOf(StreamError)
    expect(await closing).toBe(4003)
  })

  it('enforces maxPayload with a LimitError', async () => {
    const { url, next } = await pair({ maxPayload: 1024 })
    const raw = await rawClient(url)
    const s = await next
    raw.send(Buffer.alloc(2048))
    await expect(readAll(s.readable)).rejects.toBeInstanceOf(LimitError)
  })

  it('close(), with or without a reason, reaches the peer as an orderly end; an aborted writable as an error', async () => {
    const { url, next } = await pair()
    const client = createMultiServer([[ws()]])
    const c1 = await client.connect(url)
    cleanups.push(() => c1.close())
    const s1 = await next
    await s1.close(new Error('handshake failed'))
    expect((await readAll(c1.readable)).byteLength).toBe(0)
    await expect(c1.writable.getWriter().write(bytes('too late'))).rejects.toBeInstanceOf(StreamError)

    const again = await pair()
    const c2 = await client.connect(again.url)
    cleanups.push(() => c2.close())
    const s2 = await again.next
    await s2.close()
    expect((await readAll(c2.readable)).byteLength).toBe(0)
    await expect(c2.writable.getWriter().write(bytes('too late'))).rejects.toBeInstanceOf(StreamError)

    const third = await pair()
    const c3 = await client.connect(third.url)
    cleanups.push(() => c3.close())
    const s3 = await third.next
    await s3.writable.abort(new Error('gave up'))
    await expect(readAll(c3.readable)).rejects.toBeInstanceOf(StreamError)
    await c3.closed
  })

  it('cancelling the readable drops later data; the socket closes once our writes end too', async () => {
    const { url, next } = await pair()
    const c = await createMultiServer([[ws()]]).connect(url)
    cleanups.push(() => c.close())
    const s = await next
    await c.readable.cancel()
    await writeAll(s.writable, bytes('nobody reads this'), { close: false })
    await writeAll(c.writable, bytes('still talking'))
    expect(text(await readAll(s.readable))).toBe('still talking')
    await Promise.all([c.closed, s.closed])
  })

  it('closes promptly even while paused by backpressure', async () => {
    const { url, next } = await pair({ closeTimeout: 20_000 })
    const c = await createMultiServer([[ws()]]).connect(url)
    cleanups.push(() => c.close())
    const s = await next
    // Nobody reads on the server: it pauses its socket once its queue is full.
    const writer = c.writable.getWriter()
    const chunk = new Uint8Array(256 * 1024)
    const flooding = (async () => {
      for (let i = 0; i < 64; i++) await writer.write(chunk)
    })().catch(() => {})
    // The server stopped reading: backpressure reaches our writer.
    await waitUntil(() => (writer.desiredSize ?? 1) <= 0, 'the writer to be held back', 15_000)
    const started = Date.now()
    await s.close()
    // Without resuming, the peer's closing frame would sit unread until closeTimeout.
    expect(Date.now() - started).toBeLessThan(5000)
    await c.closed
    await flooding
  })

  it('gives a typed dial error for a refused connection', async () => {
    const server = await httpServer()
    const port = portOf(server)
    await closeServer(server)
    const client = createMultiServer([[ws()]])
    const refused = await client.connect(`ws://127.0.0.1:${port}`).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(DialError)
    expect((refused as DialError).code).toBe('ECONNREFUSED')
    expect((refused as DialError).address).toBe(`ws://127.0.0.1:${port}`)
  })
})
