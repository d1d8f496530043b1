import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createConnection, createServer } from 'node:net'
import { AbortError } from '@ms/core'
import { legacyPlugin, type LegacyStream } from '@ms/compat'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import { ws } from '@ms/ws'
import OriginalMultiServer from 'multiserver'
import Net from 'multiserver/plugins/net'
import Shs from 'multiserver/plugins/shs'
import WS from 'multiserver/plugins/ws'
import pull from 'pull-stream'
import { afterEach, describe, expect, it } from 'vitest'
import { keyPair, randomAppKey, readOnce, tick } from './helpers.js'

type Close = (cb?: (err?: Error | null) => void) => void
type Stream = LegacyStream & { address: string }
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  // Bounded, so a close that never calls back fails its test instead of hanging the hook.
  for (const c of cleanups.splice(0).reverse()) {
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([c(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))])
    clearTimeout(timer)
  }
})

const appKey = randomAppKey()

/** A port the OS picked (for the original net plugin, which cannot listen on port 0 and report it). */
async function osPickedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function start(ms: { server: (...args: unknown[]) => Close }, onConnect: (s: Stream) => void, errors: Error[] = []) {
  return new Promise<Close>((resolve, reject) => {
    const close = ms.server(
      onConnect,
      (err: Error) => errors.push(err),
      (err: Error | null) =>
        // The stock ws plugin on an existing http server calls back synchronously.
        queueMicrotask(() => {
          if (err) return reject(err)
          cleanups.push(() => new Promise<void>((r) => close(() => r())))
          resolve(close)
        }),
    )
  })
}

function dial(ms: { client: (addr: string, cb: (err: Error | null, s?: Stream) => void) => unknown }, address: string) {
  return new Promise<Stream>((resolve, reject) => ms.client(address, (err, s) => (err ? reject(err) : resolve(s!))))
}

const echo = (stream: Stream) => pull(stream, stream)

function roundTrip(stream: Stream, payload: Buffer) {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    for (let i = 0; i < payload.length; i += 7000) chunks.push(payload.subarray(i, i + 7000))
    pull(
      pull.values(chunks),
      stream,
      pull.collect((err: unknown, got: Buffer[]) => (err ? reject(err) : resolve(Buffer.concat(got)))),
    )
  })
}

function payload(n: number) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) % 256
  return b
}

const stockShs = (keys: ReturnType<typeof keyPair>, auth: (pub: Buffer, cb: (err: unknown, auth?: unknown) => void) => void = (_p, cb) => cb(null, true)) =>
  Shs({ keys: { publicKey: keys.publicKey, secretKey: keys.secretKey }, appKey, auth, timeout: 5000 })

describe('legacyPlugin(transport)', () => {
  it('scope() returns exactly what it was given (secret-stack compares by identity)', () => {
    const scope = ['device', 'local']
    expect(legacyPlugin(net(), { scope }).scope()).toBe(scope)
    expect(legacyPlugin(net(), { scope: 'device' }).scope()).toBe('device')
    expect(legacyPlugin(net()).scope()).toEqual(['device', 'local', 'private', 'public'])
  })

  it('parse takes the unescaped text compose passes; stringify reports the running listener', async () => {
    const plugin = legacyPlugin(net({ host: '127.0.0.1' }))
    expect(plugin.name).toBe('net')
    expect(plugin.parse('net:127.0.0.1:8008')).toEqual({ host: '127.0.0.1', port: 8008 })
    expect(plugin.parse('net:::1:8008')).toEqual({ host: '::1', port: 8008 })
    expect(plugin.parse('ws://x:1')).toBeNull()
    expect(plugin.parse(undefined as never)).toBeNull()
    expect(plugin.stringify('device')).toBeNull()
    const close = await new Promise<Close>((resolve, reject) => {
      const c = plugin.server(() => {}, (err: unknown) => (err ? reject(err) : resolve(c)))
    })
    const address = plugin.stringify('device')
    expect(address).toMatch(/^net:127\.0\.0\.1:\d+$/)
    expect(address!.endsWith(':0')).toBe(false)
    expect(plugin.stringify('public')).toBeNull()
    expect(plugin.stringify('bogus')).toBeNull()
    await new Promise<void>((r) => close(() => r()))
    expect(plugin.stringify('device')).toBeNull()
  })

  it('close(cb) right after server(): the listener never stays up, started is not called, cb is', async () => {
    const plugin = legacyPlugin(net({ host: '127.0.0.1' }))
    let started: unknown = 'never'
    const close = plugin.server(
      () => {},
      (err: unknown) => (started = err),
    )
    await new Promise<void>((resolve) => close(() => resolve()))
    await tick(20)
    expect(started).toBe('never')
    expect(plugin.stringify('device')).toBeNull()
  })

  it('client(opts, cb) dials; its abort cancels a pending dial with one AbortError', async () => {
    const plugin = legacyPlugin(net())
    const calls: unknown[] = []
    const abort = plugin.client({ host: '127.0.0.1', port: 9 }, (err, s) => calls.push(err ?? s))
    abort()
    await tick(50)
    expect(calls.length).toBe(1)
    expect(calls[0]).toBeInstanceOf(AbortError)
    const refused: unknown[] = []
    plugin.client('net:127.0.0.1:1', (err) => refused.push(err))
    await tick(100)
    expect(refused.length).toBe(1)
    expect((refused[0] as { address?: string }).address).toBe('net:127.0.0.1:1')
  })
})

describe('legacy plugins inside the original multiserver 3.8.2', () => {
  it('ours (net+shs) as server, stock as client: echo, stream.address, remote and auth on both ends', async () => {
    const serverKeys = keyPair()
    const clientKeys = keyPair()
    const server = OriginalMultiServer([
      [legacyPlugin(net({ host: '127.0.0.1' }), { scope: 'device' }), legacyPlugin(shs({ keys: serverKeys, appKey, authorize: () => ({ allow: null, deny: null }) }))],
    ])
    expect(server.name).toBe('net~shs')
    const seen: Stream[] = []
    await start(server, (s) => {
      seen.push(s)
      echo(s)
    })
    const address: string = server.stringify('device')
    expect(address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:\\d+~shs:${escape(serverKeys.publicKey.toString('base64'))}$`))

    const client = OriginalMultiServer([[Net({}), stockShs(clientKeys)]])
    const stream = await dial(client, address)
    const data = payload(200_000)
    expect((await roundTrip(stream, data)).equals(data)).toBe(true)
    // The stock client's stream: the address it dialled.
    expect(stream.address).toBe(address)
    expect(Buffer.from(stream.remote!).equals(serverKeys.publicKey)).toBe(true)
    // Ours, on the server: the client's TCP address then its key, as the stock shs would write it.
    const inbound = seen[0]!
    expect(inbound.address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
    expect(inbound.address.endsWith(`~shs:${clientKeys.publicKey.toString('base64')}`)).toBe(true)
    expect(Buffer.isBuffer(inbound.remote)).toBe(true)
    expect(Buffer.from(inbound.remote!).equals(clientKeys.publicKey)).toBe(true)
    expect(inbound.auth).toEqual({ allow: null, deny: null })
  })

  it('stock as server, ours as client', async () => {
    const serverKeys = keyPair()
    const clientKeys = keyPair()
    const port = await osPickedPort()
    const seen: Stream[] = []
    const server = OriginalMultiServer([[Net({ host: '127.0.0.1', port }), stockShs(serverKeys, (_p, cb) => cb(null, { allow: ['x'] }))]])
    await start(server, (s) => {
      seen.push(s)
      echo(s)
    })
    const address = server.stringify('device')
    const client = OriginalMultiServer([[legacyPlugin(net()), legacyPlugin(shs({ keys: clientKeys, appKey }))]])
    const stream = await dial(client, address)
    const data = payload(150_000)
    expect((await roundTrip(stream, data)).equals(data)).toBe(true)
    expect(stream.address).toBe(address)
    expect(Buffer.isBuffer(stream.remote)).toBe(true)
    expect(Buffer.from(stream.remote!).equals(serverKeys.publicKey)).toBe(true)
    expect(stream.auth).toBeUndefined()
    // What the stock server sees of our client is the same shape.
    expect(seen[0]!.address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
    expect(Buffer.from(seen[0]!.remote!).equals(clientKeys.publicKey)).toBe(true)
    expect(seen[0]!.auth).toEqual({ allow: ['x'] })
  })

  it('mixes layers: our net under the stock shs, the stock net under our shs', async () => {
    const serverKeys = keyPair()
    const clientKeys = keyPair()
    const server = OriginalMultiServer([[legacyPlugin(net({ host: '127.0.0.1' })), stockShs(serverKeys)]])
    await start(server, echo)
    const client = OriginalMultiServer([[Net({}), legacyPlugin(shs({ keys: clientKeys, appKey }))]])
    const stream = await dial(client, server.stringify('device'))
    const data = payload(300_000)
    expect((await roundTrip(stream, data)).equals(data)).toBe(true)
    expect(stream.address).toBe(server.stringify('device'))
  })

  it('err.address on a failed handshake, on both ends, through the original compose', async () => {
    const serverKeys = keyPair()
    const errors: Error[] = []
    const server = OriginalMultiServer([[legacyPlugin(net({ host: '127.0.0.1' })), legacyPlugin(shs({ keys: serverKeys, appKey, authorize: () => false }))]])
    await start(server, echo, errors)
    const address: string = server.stringify('device')
    const transport = address.split('~')[0]!
    const client = OriginalMultiServer([[legacyPlugin(net()), legacyPlugin(shs({ keys: keyPair(), appKey }))]])
    const error = (await dial(client, address).catch((e: unknown) => e)) as Error & { address: string }
    expect(error).toBeInstanceOf(Error)
    // compose prefixes the transport's address to what the transform reported.
    expect(error.address).toBe(address)
    await tick(50)
    expect(errors.length).toBe(1)
    expect((errors[0] as Error & { address: string }).address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)

    // The same through a stock client, for comparison: the stock shs reports `shs:` only.
    const stockClient = OriginalMultiServer([[Net({}), stockShs(keyPair())]])
    const stockError = (await dial(stockClient, address).catch((e: unknown) => e)) as Error & { address: string }
    expect(stockError.address).toBe(`${transport}~shs:`)
  })

  it('unknown ; alternatives are skipped (the original client picks the first it understands)', async () => {
    const serverKeys = keyPair()
    const server = OriginalMultiServer([[legacyPlugin(net({ host: '127.0.0.1' })), legacyPlugin(shs({ keys: serverKeys, appKey }))]])
    await start(server, echo)
    const client = OriginalMultiServer([[legacyPlugin(net()), legacyPlugin(shs({ keys: keyPair(), appKey }))]])
    const stream = await dial(client, `foo:bar~baz;onion:xyz.onion:1~shs:abc;${server.stringify('device')}`)
    expect((await roundTrip(stream, Buffer.from('hi'))).toString()).toBe('hi')
  })

  it("muxrpc's way of closing (abort the source, leave the sink) releases the socket, so the stock server's close(cb) calls back", async () => {
    const port = await osPickedPort()
    const server = OriginalMultiServer([[Net({ host: '127.0.0.1', port }), stockShs(keyPair())]])
    // The stock side reads and never writes, like an idle peer. (Our side goes away
    // without a goodbye, as the original's destroy does, so its source ends in an error.)
    const ended: unknown[] = []
    const close = await start(server, (s) => pull(s.source, pull.drain(null, (err: unknown) => ended.push(err))))
    const client = OriginalMultiServer([[legacyPlugin(net()), legacyPlugin(shs({ keys: keyPair(), appKey }))]])
    const stream = await dial(client, server.stringify('device'))
    // A live source that has nothing to send (it never answers a read).
    stream.sink((abort, cb) => {
      if (abort) cb(abort)
    })
    await readOnce(stream.source, true)
    // A Node net server calls back from close() only once every socket is gone.
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000)
      close(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    expect(closed).toBe(true)
    expect(ended.length).toBe(1)
  })

  it('close(cb) waits for every server (net and ws)', async () => {
    const keys = keyPair()
    const server = OriginalMultiServer([
      [legacyPlugin(net({ host: '127.0.0.1' })), legacyPlugin(shs({ keys, appKey }))],
      [legacyPlugin(ws({ host: '127.0.0.1' })), legacyPlugin(shs({ keys, appKey }))],
    ])
    const close = await new Promise<Close>((resolve, reject) => {
      const c: Close = server.server(echo, () => {}, (err: Error | null) => (err ? reject(err) : resolve(c)))
    })
    const addresses: string[] = server.stringify('device').split(';')
    expect(addresses.length).toBe(2)
    const ports = addresses.map((a) => Number(/:(\d+)[~/]/.exec(a)![1]))
    let called = 0
    await new Promise<void>((resolve) =>
      close(() => {
        called++
        resolve()
      }),
    )
    expect(called).toBe(1)
    for (const port of ports) {
      const refused = await new Promise<string>((resolve) => {
        const s = createConnection({ host: '127.0.0.1', port })
        s.once('connect', () => {
          s.destroy()
          resolve('connected')
        })
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
      })
      expect(refused).toBe('ECONNREFUSED')
    }
  })

  it('ws: ours as server with a stock ws client, and the stock ws server with ours as client', async () => {
    const keysA = keyPair()
    const keysB = keyPair()
    const server = OriginalMultiServer([[legacyPlugin(ws({ host: '127.0.0.1' }), { scope: 'device' }), legacyPlugin(shs({ keys: keysA, appKey }))]])
    await start(server, echo)
    const address: string = server.stringify('device')
    expect(address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+~shs:/)
    const stockClient = OriginalMultiServer([[WS({}), stockShs(keysB)]])
    const s1 = await dial(stockClient, address)
    const data = payload(100_000)
    expect((await roundTrip(s1, data)).equals(data)).toBe(true)

    // The stock ws server on an http server we bound to port 0.
    const http: HttpServer = createHttpServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((r) => http.close(() => r())))
    const stockServer = OriginalMultiServer([[WS({ server: http, host: '127.0.0.1' }), stockShs(keysB)]])
    const seen: Stream[] = []
    await start(stockServer, (s) => {
      seen.push(s)
      echo(s)
    })
    const stockAddress: string = stockServer.stringify('device')
    const ourClient = OriginalMultiServer([[legacyPlugin(ws()), legacyPlugin(shs({ keys: keysA, appKey }))]])
    const s2 = await dial(ourClient, stockAddress)
    expect((await roundTrip(s2, data)).equals(data)).toBe(true)
    expect(s2.address).toBe(stockAddress)
    expect(Buffer.from(s2.remote!).equals(keysB.publicKey)).toBe(true)
    expect(Buffer.from(seen[0]!.remote!).equals(keysA.publicKey)).toBe(true)
  })
})

function escape(text: string) {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
