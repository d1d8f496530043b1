// The cases of npm multiserver 3.8.2's test/plugs.js, against the drop-in
// entry points, with the original's expected values. Where the original
// binds fixed ports (4848…) we listen on port 0 on loopback and compare
// with the port actually bound; cases that only stringify keep the
// original's ports, since nothing is bound. Deliberate differences assert
// our behaviour and are listed in the README's "Known differences".
import { rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import Compose from '@ms/compat/compose'
import MultiServer from '@ms/compat/multiserver'
import Net from '@ms/compat/plugins/net'
import Onion from '@ms/compat/plugins/onion'
import Shs from '@ms/compat/plugins/shs'
import Unix from '@ms/compat/plugins/unix-socket'
import Ws from '@ms/compat/plugins/ws'
import pull from 'pull-stream'
import Pushable from 'pull-pushable'
import { afterEach, describe, expect, it } from 'vitest'
import { callback, echo, roundTrip, seedKeypair, settled, sha256 } from './original-helpers.js'

const seed = sha256('TESTSEED')
const keys = seedKeypair(seed)
const appKey = sha256('TEST')
const KEY = keys.publicKey.toString('base64')

let check = (_id: Buffer, cb: (err: Error | null, ok?: boolean) => void) => cb(null, true)
const shs = Shs({ keys, appKey, auth: (id, cb) => check(id, cb) })

// The module-level plugins of the original, for the cases that only stringify.
const net = Net({ port: 4848 })
const ws = Ws({ port: 4849 })
const combined = Compose([net, shs])
const combinedWs = Compose([ws, shs])

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  check = (_id, cb) => cb(null, true)
  await Promise.all(closers.splice(0).map((f) => f()))
})

/** Starts a composed server and resolves once it listens; it is closed after the test. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function serve(plug: any, onConnect: (stream: any) => void, onError: ((err: any) => void) | null = null) {
  const started = callback()
  const close = plug.server(onConnect, onError, started.cb)
  closers.push(() => new Promise((resolve) => close(resolve)))
  await started.promise
  return close as (cb?: () => void) => void
}

describe('original test/plugs.js on @ms/compat', () => {
  it('parse, stringify', () => {
    expect(net.stringify('device')).toBe('net:localhost:4848')
    expect(ws.stringify('device')).toBe('ws://localhost:4849')
    expect(shs.stringify()).toBe('shs:' + KEY)
    expect(combined.stringify('device')).toBe(net.stringify('device') + '~' + shs.stringify())
    expect(combinedWs.stringify('device')).toBe(ws.stringify() + '~' + shs.stringify())
    expect(MultiServer([combined, combinedWs]).stringify()).toBe([combined.stringify('device'), combinedWs.stringify('device')].join(';'))
  })

  it('combined', async () => {
    const local = Compose([Net({ host: 'localhost' }), shs])
    const close = await serve(local, echo)
    const { cb, promise } = callback()
    local.client(local.stringify('device'), cb)
    expect(await roundTrip(await promise, 'hello world')).toBe('HELLO WORLD')
    await new Promise((resolve) => close(resolve as () => void))
  })

  it('combined, ipv6', async () => {
    // The original binds `::` (every interface); tests here stay on loopback.
    const local = Compose([Net({ host: '::1' }), shs])
    await serve(local, echo)
    const addr = local.stringify('device')
    expect(addr).toMatch(/^net:::1:\d+~shs:/)
    const { cb, promise } = callback()
    local.client(addr, cb)
    const stream = await promise
    expect((stream as { address: string }).address).toBeTruthy()
    expect(await roundTrip(stream, 'hello world')).toBe('HELLO WORLD')
  })

  it('stringify() does not show scopeid from ipv6', () => {
    const c = Compose([Net({ scope: 'private', port: 4849, host: 'fe80::1065:74a4:4016:6266%wlan0' }), shs])
    expect(c.stringify('private')).toBe('net:fe80::1065:74a4:4016:6266:4849~shs:' + KEY)
  })

  it('net: do not listen on all addresses', async () => {
    const local = Compose([Net({ scope: 'device', host: 'localhost' }), shs])
    await serve(local, echo)
    const fake = Compose([Net({ scope: 'local', port: 4851 }), shs])
    // This machine's LAN address (or none): nothing listens there.
    const addr = fake.stringify('local')
    const { cb, promise } = settled()
    local.client(addr, cb)
    expect((await promise).err).toBeTruthy()
  })

  it('net: do not crash if listen() fails', async () => {
    const c = Compose([Net({ scope: 'private', port: 4852, host: '$not-a-valid-ip-addr$' }), shs])
    const { cb, promise } = settled()
    const close = c.server(echo, null, cb)
    const { err } = await promise
    expect(err).toBeTruthy()
    expect((err as { code?: string }).code).toMatch(/^(ENOTFOUND|EAI_AGAIN)$/)
    await new Promise((resolve) => close(resolve as () => void))
  })

  it('net: stringify support external being a string', () => {
    const c = Compose([Net({ scope: 'public', port: 4853, host: 'localhost', external: 'scuttlebutt.nz' }), shs])
    expect(c.stringify('public')).toBe('net:scuttlebutt.nz:4853~shs:' + KEY)
  })

  it('combined, unix', async () => {
    const unix = Unix({ server: true } as never)
    const c = Compose([unix, shs])
    const addr = c.stringify('device')!
    closers.push(() => rm(dirname(addr.split('~')[0]!.slice('unix:'.length)), { recursive: true, force: true }))
    await serve(c, echo)
    // Known before and after listening: the socket's directory is made at construction.
    expect(c.stringify('device')).toBe(addr)
    const { cb, promise } = callback()
    c.client(addr, cb)
    const stream = await promise
    expect((stream as { address: string }).address).toBeTruthy()
    expect(await roundTrip(stream, 'hello world')).toBe('HELLO WORLD')
  })

  it('ws with combined', async () => {
    const c = Compose([Ws({ host: 'localhost' }), shs])
    const serverAddress = callback<string>()
    await serve(c, (stream) => {
      serverAddress.cb(null, stream.address)
      echo(stream)
    })
    const { cb, promise } = callback()
    c.client(c.stringify(), cb)
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const stream: any = await promise
    expect(stream.address).toBeTruthy()
    expect(await serverAddress.promise).toBeTruthy()
    const pushable = Pushable()
    pushable.push(Buffer.from('hello world'))
    const reply = await new Promise<string>((resolve) =>
      pull(
        pushable,
        stream,
        pull.through(() => pushable.end()),
        pull.collect((_err: unknown, ary: Buffer[]) => resolve(Buffer.concat(ary).toString())),
      ),
    )
    expect(reply).toBe('HELLO WORLD')
  })

  it('error if try to connect on wrong protocol', async () => {
    expect(combinedWs.parse(combined.stringify()!)).toBe(null)
    const { cb, promise } = settled()
    combinedWs.client(combined.stringify(), cb)
    expect((await promise).err).toBeTruthy()
  })

  it('shs with seed', async () => {
    const local = Compose([Net({ host: 'localhost' }), shs])
    await serve(local, echo)
    const bobSeed = sha256('TEST SEED')
    const bob = seedKeypair(bobSeed)
    let checked: Buffer | undefined
    check = (id, cb) => {
      checked = id
      cb(null, id.toString('base64') === bob.publicKey.toString('base64'))
    }
    const { cb, promise } = settled()
    local.client(local.stringify() + ':' + bobSeed.toString('base64'), cb)
    const { err, value } = await promise
    expect(err).toBeFalsy()
    expect(checked).toEqual(bob.publicKey)
    ;(value as { source: (end: boolean, cb: () => void) => void }).source(true, () => {})
  })

  it('ws default port', () => {
    const w = Ws({ external: 'domain.de', scope: 'public', server: { key: null, address: () => ({ port: 80 }) } } as never)
    expect(w.stringify('public')).toBe('ws://domain.de')
    expect(w.stringify('local')).toBe(null)
    expect(w.stringify('device')).toBe(null)
  })

  it('wss default port', () => {
    const w = Ws({ external: 'domain.de', scope: 'public', server: { key: true, address: () => ({ port: 443 }) } } as never)
    expect(w.stringify('public')).toBe('wss://domain.de')
    expect(w.stringify('local')).toBe(null)
    expect(w.stringify('device')).toBe(null)
  })

  it('wss with key and cert (known difference: no port, nothing advertised until bound)', () => {
    const w = Ws({ external: 'domain.de', scope: 'public', key: 'path', cert: 'path' })
    // The original writes 'wss://domain.de' (port 443 implied) although it will listen on a random port.
    expect(w.stringify('public')).toBe(null)
    expect(Ws({ external: 'domain.de', scope: 'public', key: 'path', cert: 'path', port: 443 }).stringify('public')).toBe('wss://domain.de')
    expect(w.stringify('local')).toBe(null)
    expect(w.stringify('device')).toBe(null)
  })

  it('onion plug (known difference: v2 onion names do not parse)', () => {
    const onion = Onion({ scope: 'public' })
    expect(onion.stringify('public')).toBe(null)
    expect(onion.stringify('device')).toBe(null)
    expect(onion.stringify('local')).toBe(null)
    // The original's case is a v2 name, which Tor no longer serves.
    expect(onion.parse('onion:3234j5sv346bpih2.onion:2349')).toBe(null)
    const v3 = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion'
    expect(onion.parse(`onion:${v3}:2349`)).toEqual({ name: 'onion', host: v3, port: 2349 })
    expect(Compose([onion, shs]).stringify()).toBeFalsy()
  })

  for (const [name, make] of [
    ['net', () => Compose([Net({ host: 'localhost' }), shs])],
    ['ws', () => Compose([Ws({ host: 'localhost' }), shs])],
  ] as const) {
    it(`id of stream from server (${name})`, async () => {
      const c = make()
      const seen = callback<unknown[]>()
      await serve(
        c,
        (stream) => {
          seen.cb(null, c.parse(stream.address)!)
          pull(stream.source, stream.sink)
        },
        (err) => seen.cb(err),
      )
      const advertised = c.parse(c.stringify()!)!
      const port = Number((advertised[0] as { port: number | string }).port)
      const { cb, promise } = callback()
      c.client(c.stringify(), cb)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const stream: any = await promise
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const onServer: any[] = await seen.promise
      expect(onServer).toBeTruthy()
      expect((onServer[0].name || onServer[0].protocol).replace(':', '')).toBe(name)
      expect(onServer[1]).toEqual(advertised[1])
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const addr: any[] = c.parse(stream.address)!
      expect((addr[0].name || addr[0].protocol).replace(':', '')).toBe(name)
      expect(+addr[0].port).toBe(port)
      expect(addr[1]).toEqual(advertised[1])
      await new Promise((resolve) => stream.source(true, resolve))
    })
  }

  for (const [name, make] of [
    ['combined', () => Compose([Net({ host: 'localhost', port: 4848 }), shs])],
    ['combined.ws', () => Compose([Ws({ host: 'localhost', port: 4849 }), shs])],
  ] as const) {
    it(`${name}, aborted`, async () => {
      const c = make()
      // Not started: the abort comes first; nothing is bound.
      const { cb, promise } = settled()
      const abort = c.client(c.stringify(), cb) as () => void
      abort()
      expect((await promise).err).toBeTruthy()
    })
  }

  for (const [type, make] of [
    ['net', () => Compose([Net({ host: 'localhost' }), shs])],
    ['ws', () => Compose([Ws({ host: 'localhost' }), shs])],
  ] as const) {
    it(`error should have client address on it: ${type}`, async () => {
      check = () => {
        throw new Error('should never happen')
      }
      const c = make()
      const order: string[] = []
      const serverError = callback<Error & { address: string }>()
      await serve(
        c,
        () => {
          throw new Error('should never happen')
        },
        (err) => {
          order.push('server')
          serverError.cb(null, err)
        },
      )
      const addr = c.stringify()!.replace(/shs:......../, 'shs:XXXXXXXX')
      const { cb, promise } = settled()
      c.client(addr, (err) => {
        order.push('client')
        cb(err)
      })
      expect((await promise).err).toBeTruthy()
      // The original's test closes the server in the client's callback: the server's report must come first.
      expect(order).toEqual(['server', 'client'])
      const err = await serverError.promise
      expect(err.address.indexOf(type)).toBe(0)
      expect(err.address).toMatch(/~shs:/)
    })
  }

  it('multiple public different hosts', () => {
    const c1 = Compose([Net({ host: '127.0.0.1', port: 4854, scope: 'public' }), shs])
    const c2 = Compose([Net({ host: '::1', port: 4855, scope: 'public' }), shs])
    expect(MultiServer([c1, c2]).stringify('public')).toBe([c1.stringify('public'), c2.stringify('public')].join(';'))
  })

  it('multiple scopes different hosts', () => {
    const c1 = Compose([Net({ host: '127.0.0.1', port: 4856, scope: ['local', 'device', 'public'] }), shs])
    const c2 = Compose([Net({ host: '::1', port: 4857, scope: ['local', 'device', 'public'] }), shs])
    expect(MultiServer([c1, c2]).stringify('public')).toBe([c1.stringify('public'), c2.stringify('public')].join(';'))
  })

  const fakeServer = { key: null, address: () => ({ port: 9966 }) }
  it('net: external is a string', () => {
    const n = Net({ external: 'domain.de', scope: 'public', port: '9966', server: fakeServer } as never)
    expect(n.stringify('public')).toBe('net:domain.de:9966')
    expect(n.stringify('local')).toBe(null)
    expect(n.stringify('device')).toBe(null)
  })

  it('net: external is an array', () => {
    const n = Net({ external: ['domain.de', 'funtime.net'], scope: 'public', port: '9966', server: fakeServer } as never)
    expect(n.stringify('public')).toBe('net:domain.de:9966;net:funtime.net:9966')
    expect(n.stringify('local')).toBe(null)
    expect(n.stringify('device')).toBe(null)
  })

  it('net: external is an array w/ a single entry & shs transform', () => {
    const c = Compose([Net({ external: ['domain.de'], scope: 'public', port: '9966', server: fakeServer } as never), shs])
    expect(c.stringify('public')).toBe('net:domain.de:9966~shs:+y42DK+BGzqvU00EWMKiyj4fITskSm+Drxq1Dt2s3Yw=')
  })

  it('net: external is an array w/ multiple entries & shs transform', () => {
    const c = Compose([Net({ external: ['domain.de', 'funtime.net'], scope: 'public', port: '9966', server: fakeServer } as never), shs])
    expect(c.stringify('public')).toBe(
      'net:domain.de:9966~shs:+y42DK+BGzqvU00EWMKiyj4fITskSm+Drxq1Dt2s3Yw=;net:funtime.net:9966~shs:+y42DK+BGzqvU00EWMKiyj4fITskSm+Drxq1Dt2s3Yw=',
    )
  })

  it('ws: external is a string', () => {
    const w = Ws({ external: 'domain.de', scope: 'public', port: '9966', server: fakeServer } as never)
    expect(w.stringify('public')).toBe('ws://domain.de:9966')
    expect(w.stringify('local')).toBe(null)
    expect(w.stringify('device')).toBe(null)
  })

  it('ws: external is an array', () => {
    const w = Ws({ external: ['domain.de', 'funtime.net'], scope: 'public', port: '9966', server: fakeServer } as never)
    expect(w.stringify('public')).toBe('ws://domain.de:9966;ws://funtime.net:9966')
    expect(w.stringify('local')).toBe(null)
    expect(w.stringify('device')).toBe(null)
  })

  it('ws: external is an array w/ a single entry & shs transform', () => {
    const c = Compose([Ws({ external: ['domain.de'], scope: 'public', port: '9966', server: fakeServer } as never), shs])
    expect(c.stringify('public')).toBe('ws://domain.de:9966~shs:+y42DK+BGzqvU00EWMKiyj4fITskSm+Drxq1Dt2s3Yw=')
  })

  it('ws: external is an array w/ multiple entries & shs transform', () => {
    const c = Compose([Ws({ external: ['domain.de', 'funtime.net'], scope: 'public', port: '9966', server: fakeServer } as never), shs])
    expect(c.stringify('public')).toBe(
      'ws://domain.de:9966~shs:+y42DK+BGzqvU00EWMKiyj4fITskSm+Drxq1Dt2s3Yw=;ws://funtime.net:9966~shs:+y42DK+BGzqvU00EWMKiyj4fITskSm+Drxq1Dt2s3Yw=',
    )
  })
})
