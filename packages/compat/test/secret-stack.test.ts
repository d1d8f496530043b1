import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { secretStackShs, secretStackTransport } from '@ms/compat'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import { ws } from '@ms/ws'
import pull from 'pull-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyPair, randomAppKey } from './helpers.js'

// secret-stack 8 exports CommonJS only (a `require` condition).
const require = createRequire(import.meta.url)
const SecretStack = require('secret-stack')
const SecretStackBare = require('secret-stack/bare')
const StockWS = require('multiserver/plugins/ws')

const appKey = randomAppKey()
const ITEMS = 10_000
// Ten thousand muxrpc messages each way take seconds when the machine is busy.
const SLOW = 120_000

/** The same muxrpc API on both apps: a sync call, an async call, a source stream. */
const testPlugin = {
  name: 'test',
  version: '1.0.0',
  manifest: { hello: 'sync', double: 'async', count: 'source' },
  permissions: { anonymous: { allow: ['hello', 'double', 'count'] } },
  init(api: { id: string }) {
    return {
      hello: (name: string) => `hello ${name}, this is ${api.id}`,
      double: (n: number, cb: (err: unknown, value?: number) => void) => setTimeout(() => cb(null, n * 2), 5),
      count: (n: number) => pull.count(n - 1),
    }
  },
}

/** The stock ws transport, registered as apps do it (secret-stack has no ws by default). */
const stockWsPlugin = {
  name: 'stock-ws',
  version: '1.0.0',
  init(api: { multiserver: { transport(t: unknown): void } }) {
    api.multiserver.transport({ name: 'ws', create: (opts: unknown) => StockWS(opts) })
  },
}

/**
 * A port the OS picked. The stock net and ws plugins cannot listen on port 0
 * and then advertise the bound port (they would advertise `:0`), so the
 * stock app gets a port the OS handed out a moment ago.
 */
async function osPickedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

interface App {
  id: string
  getAddress(scope?: string): string
  connect(address: string, cb: (err: (Error & { address?: string }) | null, rpc?: Rpc) => void): void
  close(err: unknown, cb: () => void): void
  on(event: 'rpc:connect', fn: (rpc: Rpc, isClient: boolean) => void): void
  once(event: string, fn: () => void): void
}
interface Rpc {
  id: string
  stream: { address: string }
  test: {
    hello(name: string, cb: (err: unknown, v?: string) => void): void
    double(n: number, cb: (err: unknown, v?: number) => void): void
    count(n: number): unknown
  }
  close(err: unknown, cb?: () => void): void
}

function listening(app: App) {
  return new Promise<void>((resolve) => app.once('multiserver:listening', resolve))
}

/** Resolves with the next rpc the app accepts (as the server) from peer `id`; call before dialling. */
function nextInbound(app: App, id: string) {
  return new Promise<Rpc>((resolve) => {
    const onConnect = (rpc: Rpc, isClient: boolean) => {
      if (isClient || rpc.id !== id) return
      ;(app as unknown as { off(e: string, f: unknown): void }).off('rpc:connect', onConnect)
      resolve(rpc)
    }
    app.on('rpc:connect', onConnect)
  })
}

const call = <T>(fn: (cb: (err: unknown, v?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))))

const collect = (source: unknown) =>
  new Promise<number[]>((resolve, reject) => pull(source, pull.collect((err: unknown, items: number[]) => (err ? reject(err) : resolve(items)))))

async function exercise(rpc: Rpc, remoteId: string) {
  expect(await call<string>((cb) => rpc.test.hello('you', cb))).toBe(`hello you, this is ${remoteId}`)
  expect(await call<number>((cb) => rpc.test.double(21, cb))).toBe(42)
  const items = await collect(rpc.test.count(ITEMS))
  expect(items.length).toBe(ITEMS)
  expect(items[0]).toBe(0)
  expect(items[ITEMS - 1]).toBe(ITEMS - 1)
  expect(items.every((v, i) => v === i)).toBe(true)
}

function pick(address: string, transport: 'net' | 'ws'): string {
  const found = address.split(';').find((a) => a.startsWith(transport === 'net' ? 'net:' : 'ws:'))
  if (!found) throw new Error(`no ${transport} address in ${address}`)
  return found
}

describe('secret-stack 8.1.0: a stock app and an app on ms (through legacyPlugin)', () => {
  const stockKeys = keyPair()
  const oursKeys = keyPair()
  let stock: App
  let ours: App

  beforeAll(async () => {
    const [netPort, wsPort] = [await osPickedPort(), await osPickedPort()]
    stock = SecretStack({ global: { caps: { shs: appKey } } })
      .use(stockWsPlugin)
      .use(testPlugin)({
      global: {
        keys: stockKeys.ssb,
        timers: { handshake: 5000, inactivity: 0 },
        connections: {
          incoming: {
            net: [{ scope: 'device', transform: 'shs', host: '127.0.0.1', port: netPort }],
            ws: [{ scope: 'device', transform: 'shs', host: '127.0.0.1', port: wsPort }],
          },
          outgoing: { net: [{ transform: 'shs' }], ws: [{ transform: 'shs' }] },
        },
      },
    })
    ours = SecretStackBare({ global: { caps: { shs: appKey } } })
      .use(secretStackTransport('net', (o) => net({ host: o.host ?? '127.0.0.1', port: o.port ?? 0, scope: o.scope })))
      .use(secretStackTransport('ws', (o) => ws({ host: o.host ?? '127.0.0.1', port: o.port ?? 0, scope: o.scope })))
      .use(secretStackShs(shs))
      .use(testPlugin)({
      global: {
        keys: oursKeys.ssb,
        timers: { handshake: 5000, inactivity: 0 },
        connections: {
          incoming: {
            net: [{ scope: 'device', transform: 'shs', host: '127.0.0.1' }],
            ws: [{ scope: 'device', transform: 'shs', host: '127.0.0.1' }],
          },
          outgoing: { net: [{ transform: 'shs' }], ws: [{ transform: 'shs' }] },
        },
      },
    })
    await Promise.all([listening(stock), listening(ours)])
  })

  afterAll(async () => {
    // close(cb) must call back once every server closed; a hang here is a failure, reported fast.
    const closing = Promise.all([stock, ours].filter(Boolean).map((app) => new Promise<void>((resolve) => app.close(true, () => resolve()))))
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('app.close(cb) did not call back within 15 s')), 15_000)))
    try {
      await Promise.race([closing, timeout])
    } finally {
      clearTimeout(timer)
    }
  })

  it('both apps have the ids their keys give, and advertise net and ws addresses', () => {
    expect(ours.id).toBe(oursKeys.id)
    expect(stock.id).toBe(stockKeys.id)
    const address = ours.getAddress('device')
    const key = oursKeys.publicKey.toString('base64')
    expect(pick(address, 'net')).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:[1-9]\\d*~shs:${key.replace(/[+/]/g, '\\$&')}$`))
    expect(pick(address, 'ws')).toMatch(/^ws:\/\/127\.0\.0\.1:[1-9]\d*~shs:/)
  })

  for (const transport of ['net', 'ws'] as const) {
    it(`${transport}: the stock app dials ours; sync, async and a ${ITEMS}-item source both ways; stream.address on both ends`, async () => {
      const address = pick(ours.getAddress('device'), transport)
      const inbound = nextInbound(ours, stock.id)
      const rpc = await call<Rpc>((cb) => stock.connect(address, cb as never))
      expect(rpc.id).toBe(ours.id)
      // The stock ws client writes the URL it dialled through url.format, which adds the `/` path.
      expect(rpc.stream.address).toBe(transport === 'ws' ? address.replace('~', '/~') : address)
      await exercise(rpc, ours.id)
      const back = await inbound
      // Our side: the stock app's transport address, then its key.
      expect(back.stream.address.endsWith(`~shs:${stockKeys.publicKey.toString('base64')}`)).toBe(true)
      // (@ms/ws writes inbound peers as `ws://host:port`; the stock ws plugin wrote `ws:host:port`.)
      expect(back.stream.address.startsWith(transport === 'net' ? 'net:127.0.0.1:' : 'ws://127.0.0.1:')).toBe(true)
      await exercise(back, stock.id)
      await new Promise<void>((resolve) => rpc.close(true, () => resolve()))
    }, SLOW)

    it(`${transport}: our app dials the stock one; sync, async and a ${ITEMS}-item source both ways`, async () => {
      const address = pick(stock.getAddress('device'), transport)
      const inbound = nextInbound(stock, ours.id)
      const rpc = await call<Rpc>((cb) => ours.connect(address, cb as never))
      expect(rpc.id).toBe(stock.id)
      expect(rpc.stream.address).toBe(address)
      await exercise(rpc, stock.id)
      const back = await inbound
      expect(back.stream.address.endsWith(`~shs:${oursKeys.publicKey.toString('base64')}`)).toBe(true)
      await exercise(back, ours.id)
      await new Promise<void>((resolve) => rpc.close(true, () => resolve()))
    }, SLOW)
  }

  it('err.address when the handshake fails (wrong key), and unknown ; alternatives are skipped', async () => {
    const wrong = keyPair().publicKey.toString('base64')
    const netAddress = pick(ours.getAddress('device'), 'net')
    const bad = netAddress.replace(/~shs:.*$/, `~shs:${wrong}`)
    const error = await call<Rpc>((cb) => stock.connect(bad, cb as never)).catch((e: unknown) => e as Error & { address?: string })
    expect(error).toBeInstanceOf(Error)
    expect((error as { address?: string }).address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
    const error2 = await call<Rpc>((cb) => ours.connect(pick(stock.getAddress('device'), 'net').replace(/~shs:.*$/, `~shs:${wrong}`), cb as never)).catch(
      (e: unknown) => e as Error & { address?: string },
    )
    expect((error2 as { address?: string }).address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)

    const rpc = await call<Rpc>((cb) => ours.connect(`foo:bar;unix:/nowhere~noauth;${pick(stock.getAddress('device'), 'net')}`, cb as never))
    expect(await call<string>((cb) => rpc.test.hello('again', cb))).toBe(`hello again, this is ${stock.id}`)
    await new Promise<void>((resolve) => rpc.close(true, () => resolve()))
  })
})
