// A secret-stack app reachable as an onion service that ms publishes through
// Tor's control port, which the stock multiserver cannot do (its onion plugin
// only dials). Runs against the private, offline Tor network of @ms/onion's
// tests (packages/onion/test/tor, started once for this file; needs Debian's
// `tor` package).
import { createRequire } from 'node:module'
import { secretStackShs, secretStackTransport } from '@ms/compat'
import { onion } from '@ms/onion'
import { shs } from '@ms/shs'
import pull from 'pull-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTorNetwork, type TorNetwork } from '../../onion/test/tor/network.js'
import { keyPair, randomAppKey } from './helpers.js'

const require = createRequire(import.meta.url)
const SecretStackBare = require('secret-stack/bare')

// On a loaded machine Tor's circuits take tens of seconds.
const TOR_TIMEOUT = 150_000
const ITEMS = 1000
const appKey = randomAppKey()

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
interface App {
  id: string
  getAddress(scope?: string): string
  connect(address: string, cb: (err: Error | null, rpc?: Rpc) => void): void
  close(err: unknown, cb: () => void): void
  on(event: 'rpc:connect', fn: (rpc: Rpc, isClient: boolean) => void): void
  once(event: string, fn: () => void): void
}

const call = <T>(fn: (cb: (err: unknown, v?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))))
const collect = (source: unknown) =>
  new Promise<number[]>((resolve, reject) => pull(source, pull.collect((err: unknown, items: number[]) => (err ? reject(err) : resolve(items)))))

async function exercise(rpc: Rpc, remoteId: string) {
  expect(await call<string>((cb) => rpc.test.hello('you', cb))).toBe(`hello you, this is ${remoteId}`)
  expect(await call<number>((cb) => rpc.test.double(21, cb))).toBe(42)
  const items = await collect(rpc.test.count(ITEMS))
  expect(items).toEqual(Array.from({ length: ITEMS }, (_, i) => i))
}

let tor: TorNetwork | undefined
const apps: App[] = []

beforeAll(async () => {
  tor = await startTorNetwork()
}, 200_000)

afterAll(async () => {
  await Promise.all(apps.map((app) => new Promise<void>((resolve) => app.close(true, () => resolve()))))
  await tor?.down()
}, 60_000)

describe('secret-stack over ms onion publishing', () => {
  it(
    'an app published as onion~shs is reached by another app through Tor; calls go both ways',
    async () => {
      const socks = `127.0.0.1:${tor!.socksPort}`
      const control = { port: tor!.controlPort, cookie: tor!.controlCookie }
      const serverKeys = keyPair()
      const clientKeys = keyPair()
      const server: App = SecretStackBare({ global: { caps: { shs: appKey } } })
        .use(secretStackTransport('onion', (o) => onion({ socks, control, waitForPublish: true, scope: o.scope })))
        .use(secretStackShs(shs))
        .use(testPlugin)({
        global: {
          keys: serverKeys.ssb,
          timers: { handshake: 60_000, inactivity: 0 },
          connections: { incoming: { onion: [{ scope: 'public', transform: 'shs' }] }, outgoing: { onion: [{ transform: 'shs' }] } },
        },
      })
      apps.push(server)
      const client: App = SecretStackBare({ global: { caps: { shs: appKey } } })
        .use(secretStackTransport('onion', () => onion({ socks })))
        .use(secretStackShs(shs))
        .use(testPlugin)({
        global: {
          keys: clientKeys.ssb,
          timers: { handshake: 60_000, inactivity: 0 },
          connections: { incoming: {}, outgoing: { onion: [{ transform: 'shs' }] } },
        },
      })
      apps.push(client)
      await new Promise<void>((resolve) => server.once('multiserver:listening', resolve))

      const address = server.getAddress('public')
      expect(address).toMatch(new RegExp(`^onion:[a-z2-7]{56}\\.onion:8008~shs:${serverKeys.publicKey.toString('base64').replace(/[+/]/g, '\\$&')}$`))
      // Not advertised on this device's scope: it is a public onion service.
      expect(server.getAddress('device')).toBe('')

      const inbound = new Promise<Rpc>((resolve) =>
        server.on('rpc:connect', (rpc, isClient) => {
          if (!isClient && rpc.id === clientKeys.id) resolve(rpc)
        }),
      )
      const rpc = await call<Rpc>((cb) => client.connect(address, cb as never))
      expect(rpc.id).toBe(serverKeys.id)
      expect(rpc.stream.address).toBe(address)
      await exercise(rpc, server.id)
      const back = await inbound
      // Tor hides who connected: the inbound address says so, then the client's key.
      expect(back.stream.address).toBe(`onion:unknown~shs:${clientKeys.publicKey.toString('base64')}`)
      await exercise(back, client.id)
      await new Promise<void>((resolve) => rpc.close(true, () => resolve()))
    },
    TOR_TIMEOUT,
  )
})
