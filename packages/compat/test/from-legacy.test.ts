import { HandshakeError, MsError, createMultiServer, type Connection } from '@ms/core'
import { MultiServer, fromLegacyPlugin } from '@ms/compat'
import DropInNet from '@ms/compat/plugins/net'
import DropInShs from '@ms/compat/plugins/shs'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import StockNet from 'multiserver/plugins/net'
import StockShs from 'multiserver/plugins/shs'
import { afterEach, describe, expect, it } from 'vitest'
import { keyPair, randomAppKey } from './helpers.js'
import { callback, freePort, roundTrip } from './original-helpers.js'

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((f) => f()))
})

async function readAll(connection: Connection): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of connection.readable) chunks.push(chunk)
  return Buffer.concat(chunks).toString()
}

async function echoListen(ms: ReturnType<typeof createMultiServer>, errors: MsError[] = []) {
  const accepted: Connection[] = []
  const listener = await ms.listen(
    (c) => {
      accepted.push(c)
      void c.readable.pipeTo(c.writable).catch(() => {})
    },
    { onError: (e) => errors.push(e) },
  )
  closers.push(() => listener.close())
  return accepted
}

describe('fromLegacyPlugin', () => {
  it('returns our own transports and transforms as they are; rejects what is no plugin with a TypeError', () => {
    const t = net()
    expect(fromLegacyPlugin(t)).toBe(t)
    expect(() => fromLegacyPlugin({} as never)).toThrow(TypeError)
    expect(() => fromLegacyPlugin({ name: 'x', parse: () => null } as never)).toThrow(TypeError)
    expect(() => fromLegacyPlugin(42 as never)).toThrow(TypeError)
    expect(() => fromLegacyPlugin({ server() {} } as never)).toThrow(/needs a name/)
  })

  it('stock multiserver net~shs inside createMultiServer: advertised before listening, then reached by our net~shs', async () => {
    const server = keyPair()
    const client = keyPair()
    const appKey = randomAppKey()
    const port = await freePort()
    const stockShs = StockShs({ keys: server, appKey, auth: (_id: Buffer, cb: (e: null, ok: boolean) => void) => cb(null, true) })
    const ms = createMultiServer([[fromLegacyPlugin(StockNet({ port, host: '127.0.0.1', scope: 'device' })), fromLegacyPlugin(stockShs)]])
    const address = `net:127.0.0.1:${port}~shs:${server.publicKey.toString('base64')}`
    expect(ms.name).toBe('net~shs')
    expect(ms.stringify('device')).toBe(address)
    expect(ms.stringify('public')).toBe('')
    const accepted = await echoListen(ms)
    const ours = createMultiServer([[net(), shs({ keys: client, appKey })]])
    const c = await ours.connect(address)
    const writer = c.writable.getWriter()
    await writer.write(Buffer.from('through the stock plugins'))
    await writer.close()
    expect(await readAll(c)).toBe('through the stock plugins')
    expect(accepted).toHaveLength(1)
    // What the stock shs learnt is on info, keyed by the plugin's name, as our transforms do.
    const info = (accepted[0]!.info as { shs?: { publicKey: Uint8Array } }).shs
    expect(Buffer.from(info!.publicKey).equals(client.publicKey)).toBe(true)
    expect(accepted[0]!.remoteAddress).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:\\d+~shs:${client.publicKey.toString('base64').replace(/[+/]/g, '\\$&')}$`))
    await c.close()
  })

  it('a stock client through fromLegacyPlugin dials our server; a failed stock handshake is a HandshakeError with the address', async () => {
    const server = keyPair()
    const client = keyPair()
    const appKey = randomAppKey()
    const ourServer = createMultiServer([[net(), shs({ keys: server, appKey })]])
    await echoListen(ourServer)
    const stockClient = createMultiServer([[fromLegacyPlugin(StockNet({ port: 1 })), fromLegacyPlugin(StockShs({ keys: client, appKey, auth: () => {} }))]])
    const c = await stockClient.connect(ourServer.stringify())
    expect(c.remoteAddress).toBe(ourServer.stringify())
    const writer = c.writable.getWriter()
    await writer.write(Buffer.from('stock client'))
    await writer.close()
    expect(await readAll(c)).toBe('stock client')

    const wrongNetwork = createMultiServer([[fromLegacyPlugin(StockNet({ port: 1 })), fromLegacyPlugin(StockShs({ keys: client, appKey: randomAppKey(), auth: () => {} }))]])
    const error = await wrongNetwork.connect(ourServer.stringify()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HandshakeError)
    expect((error as MsError).address).toBe(ourServer.stringify())
  })
})

describe('compat MultiServer with original-style plugins', () => {
  it('takes drop-in plugins and rejects what is no plugin, naming the plug', async () => {
    expect(() => MultiServer([{} as never])).toThrow(/plug 0/)
    expect(() => MultiServer([[net(), {} as never]])).toThrow(/plug 0, part 1 is not a transform/)
    expect(() => MultiServer([[{ create() {} } as never]])).toThrow(/not a transport/)

    const keys = keyPair()
    const appKey = randomAppKey()
    const ms = MultiServer([[DropInNet({ host: '127.0.0.1' }), DropInShs({ keys, appKey, auth: (_k, cb) => cb(null, true) })]])
    expect(ms.stringify()).toBe('')
    const started = callback()
    const close = ms.server((stream) => stream.sink(stream.source), null, started.cb)
    closers.push(() => new Promise((resolve) => close(resolve)))
    await started.promise
    expect(ms.stringify()).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
    const { cb, promise } = callback()
    ms.client(ms.stringify(), cb as never)
    expect(await roundTrip(await promise, 'dropped in')).toBe('dropped in')
  })

  it('advertises configured addresses before server() (ms transports and legacyPlugin alike)', async () => {
    const keys = keyPair()
    const appKey = randomAppKey()
    const port = await freePort()
    const ms = MultiServer([[net({ port }), shs({ keys, appKey })]])
    const address = `net:127.0.0.1:${port}~shs:${keys.publicKey.toString('base64')}`
    expect(ms.stringify()).toBe(address)
    const started = callback()
    const close = ms.server(() => {}, null, started.cb)
    closers.push(() => new Promise((resolve) => close(resolve)))
    await started.promise
    expect(ms.stringify()).toBe(address)
  })

  it("an inbound handshake failure is reported with the original's address (net:HOST:PORT~shs:), before the client's callback", async () => {
    const server = keyPair()
    const appKey = randomAppKey()
    const ms = MultiServer([[net(), shs({ keys: server, appKey })]])
    const order: string[] = []
    const serverError = callback<MsError>()
    const started = callback()
    const close = ms.server(
      () => {},
      (err) => {
        order.push('server')
        serverError.cb(null, err)
      },
      started.cb,
    )
    closers.push(() => new Promise((resolve) => close(resolve)))
    await started.promise
    // A client of another network: the server fails at msg1 and cannot tell who it was.
    const other = MultiServer([[net(), shs({ keys: keyPair(), appKey: randomAppKey() })]])
    const clientDone = callback()
    other.client(ms.stringify(), (err) => {
      order.push('client')
      clientDone.cb(null, err)
    })
    expect(await clientDone.promise).toBeInstanceOf(HandshakeError)
    const err = await serverError.promise
    expect(err.address).toMatch(/^net:127\.0\.0\.1:\d+~shs:$/)
    expect(order).toEqual(['server', 'client'])
  })
})
