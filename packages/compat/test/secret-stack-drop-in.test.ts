// secret-stack 8.1.0 with the drop-in transports registered exactly as apps
// register the stock ones (`create: (opts) => require('multiserver/plugins/net')(opts)`),
// only the module name changed; the stock shs transform runs over them.
import { createRequire } from 'node:module'
import DropInNet from '@ms/compat/plugins/net'
import DropInWs from '@ms/compat/plugins/ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyPair, randomAppKey } from './helpers.js'
import { freePort } from './original-helpers.js'

const require = createRequire(import.meta.url)
const SecretStack = require('secret-stack')
const SecretStackBare = require('secret-stack/bare')
const StockShsPlugin = require('secret-stack/plugins/shs')

const appKey = randomAppKey()

const testPlugin = {
  name: 'test',
  version: '1.0.0',
  manifest: { hello: 'sync' },
  permissions: { anonymous: { allow: ['hello'] } },
  init(api: { id: string }) {
    return { hello: (name: string) => `hello ${name}, this is ${api.id}` }
  },
}

const dropInTransports = {
  name: 'drop-in-transports',
  version: '1.0.0',
  init(api: { multiserver: { transport(t: unknown): void } }) {
    api.multiserver.transport({ name: 'net', create: (opts: never) => DropInNet(opts) })
    api.multiserver.transport({ name: 'ws', create: (opts: never) => DropInWs(opts) })
  },
}

interface Rpc {
  id: string
  test: { hello(name: string, cb: (err: unknown, v?: string) => void): void }
  close(err: unknown, cb?: () => void): void
}
interface App {
  id: string
  getAddress(scope?: string): string
  connect(address: string, cb: (err: Error | null, rpc?: Rpc) => void): void
  close(err: unknown, cb: () => void): void
  once(event: string, fn: () => void): void
}

const call = <T>(fn: (cb: (err: unknown, v?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))))

describe('secret-stack 8.1.0 with @ms/compat/plugins/net and /ws in place of the stock ones', () => {
  const oursKeys = keyPair()
  const stockKeys = keyPair()
  let ours: App
  let stock: App
  let netPort: number
  let wsPort: number

  beforeAll(async () => {
    netPort = await freePort()
    wsPort = await freePort()
    const config = (keys: ReturnType<typeof keyPair>, net: object, ws?: object) => ({
      global: {
        keys: keys.ssb,
        timers: { handshake: 5000, inactivity: 0 },
        connections: {
          incoming: { net: [{ scope: 'device', transform: 'shs', host: '127.0.0.1', ...net }], ...(ws ? { ws: [{ scope: 'device', transform: 'shs', host: '127.0.0.1', ...ws }] } : {}) },
          outgoing: { net: [{ transform: 'shs' }], ...(ws ? { ws: [{ transform: 'shs' }] } : {}) },
        },
      },
    })
    // Bare: the full secret-stack would also register its stock net under the same name.
    ours = SecretStackBare({ global: { caps: { shs: appKey } } })
      .use(StockShsPlugin)
      .use(dropInTransports)
      .use(testPlugin)(config(oursKeys, { port: netPort }, { port: wsPort }))
    stock = SecretStack({ global: { caps: { shs: appKey } } }).use(testPlugin)(config(stockKeys, { port: await freePort() }))
    // The drop-in advertises its configured ports before it listens, as the stock plugins do.
    expect(ours.getAddress('device')).toContain(`net:127.0.0.1:${netPort}~shs:`)
    await Promise.all([ours, stock].map((app) => new Promise<void>((resolve) => app.once('multiserver:listening', resolve))))
  })

  afterAll(async () => {
    await Promise.all([ours, stock].filter(Boolean).map((app) => new Promise<void>((resolve) => app.close(true, () => resolve()))))
  })

  it('advertises net and ws with the configured ports and its key', () => {
    const key = oursKeys.publicKey.toString('base64')
    expect(ours.getAddress('device')).toBe(`net:127.0.0.1:${netPort}~shs:${key};ws://127.0.0.1:${wsPort}~shs:${key}`)
  })

  it('a stock app calls ours over the drop-in net, and ours calls back over the stock one', async () => {
    const rpc = await call<Rpc>((cb) => stock.connect(ours.getAddress('device').split(';')[0]!, cb as never))
    expect(rpc.id).toBe(ours.id)
    expect(await call<string>((cb) => rpc.test.hello('stock', cb))).toBe(`hello stock, this is ${ours.id}`)
    await new Promise<void>((resolve) => rpc.close(true, () => resolve()))
    const back = await call<Rpc>((cb) => ours.connect(stock.getAddress('device'), cb as never))
    expect(await call<string>((cb) => back.test.hello('ours', cb))).toBe(`hello ours, this is ${stock.id}`)
    await new Promise<void>((resolve) => back.close(true, () => resolve()))
  })

  it('our app reaches itself over the drop-in ws', async () => {
    const other = keyPair()
    const client = SecretStackBare({ global: { caps: { shs: appKey } } })
      .use(StockShsPlugin)
      .use(dropInTransports)
      .use(testPlugin)({ global: { keys: other.ssb, timers: { handshake: 5000, inactivity: 0 }, connections: { incoming: {}, outgoing: { ws: [{ transform: 'shs' }] } } } }) as App
    try {
      const rpc = await call<Rpc>((cb) => client.connect(ours.getAddress('device').split(';')[1]!, cb as never))
      expect(rpc.id).toBe(ours.id)
      expect(await call<string>((cb) => rpc.test.hello('ws', cb))).toBe(`hello ws, this is ${ours.id}`)
      await new Promise<void>((resolve) => rpc.close(true, () => resolve()))
    } finally {
      await new Promise<void>((resolve) => client.close(true, () => resolve()))
    }
  })
})
