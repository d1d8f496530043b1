import fc from 'fast-check'
import { createConnection, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AbortError,
  DialError,
  LimitError,
  ListenError,
  MsError,
  TimeoutError,
  createMultiServer,
  parseAddress,
  stringifySegment,
  type Connection,
  type MsError as MsErrorType,
  type TransportListener,
} from '@ms/core'
import { activeResources, readAll, waitForNoLeaks, waitUntil, writeAll } from '@ms/compliance'
import { net, type NetAddress } from '../src/index.js'
import { blackhole, closeServer, freePort, hasIPv6Loopback, listenRaw, machineAddresses } from './helpers.js'

const parse = (text: string) => net().parse(parseAddress(text)[0]!)
const write = (address: NetAddress, brackets = false) => stringifySegment(net({ brackets }).stringify!(address))

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function start(options: Parameters<typeof net>[0], onConnection: (c: Connection) => void = () => {}, onError?: (e: MsErrorType) => void) {
  const listener = await net(options).listen!(onConnection, { onError })
  cleanup.push(() => listener.close())
  return listener
}

function advertised(listener: TransportListener, scope: 'device' | 'local' | 'public'): string[] {
  return listener.addresses(scope).map(stringifySegment)
}

function portOf(listener: TransportListener): number {
  const segment = listener.addresses('device')[0] ?? listener.addresses('local')[0] ?? listener.addresses('public')[0]
  return Number(segment!.data.at(-1))
}

describe('net: parse', () => {
  it('reads IPv4, names, bare IPv6 and bracketed IPv6', () => {
    expect(parse('net:1.2.3.4:8008')).toEqual({ host: '1.2.3.4', port: 8008 })
    expect(parse('net:example.com:80')).toEqual({ host: 'example.com', port: 80 })
    expect(parse('net:localhost:65535')).toEqual({ host: 'localhost', port: 65535 })
    expect(parse('net:fe80::1:8008')).toEqual({ host: 'fe80::1', port: 8008 })
    expect(parse('net:::1:8008')).toEqual({ host: '::1', port: 8008 })
    expect(parse('net:[::1]:8008')).toEqual({ host: '::1', port: 8008 })
    expect(parse('net:[2001:db8::7]:1')).toEqual({ host: '2001:db8::7', port: 1 })
    expect(parse('net:::ffff:1.2.3.4:9')).toEqual({ host: '::ffff:1.2.3.4', port: 9 })
  })

  it.each([
    'net:h:',
    'net:h:0x10',
    'net:h:99999',
    'net:h:65536',
    'net:h:0',
    'net:h:080',
    'net:h:+80',
    'net:h:8e3',
    'net:h:-1',
    'net:h',
    'net::8008',
    'net:a:b:8008',
    'net:[1.2.3.4]:80',
    'net:[::1:80',
    'net:::1]:80',
    'net:[example.com]:80',
    'net:1.2.3.999:80',
    'net:bad_host!!:80',
    'shs:1.2.3.4:80',
    'ws:1.2.3.4:80',
  ])('rejects %s', (text) => {
    expect(parse(text)).toBeNull()
  })

  it('returns null for any segment, never throws', () => {
    const transport = net()
    fc.assert(
      fc.property(fc.string(), fc.array(fc.string(), { maxLength: 6 }), (name, data) => {
        const result = transport.parse({ name, data })
        return result === null || (typeof result.host === 'string' && result.port >= 1 && result.port <= 65535)
      }),
    )
    expect(transport.parse(null as never)).toBeNull()
    expect(transport.parse({ name: 'net' } as never)).toBeNull()
  })
})

describe('net: stringify', () => {
  it('writes IPv6 bare by default and bracketed on request', () => {
    expect(write({ host: '::1', port: 8008 })).toBe('net:::1:8008')
    expect(write({ host: 'fe80::1', port: 8008 })).toBe('net:fe80::1:8008')
    expect(write({ host: '::1', port: 8008 }, true)).toBe('net:[::1]:8008')
    expect(write({ host: '1.2.3.4', port: 80 }, true)).toBe('net:1.2.3.4:80')
    expect(write({ host: 'example.com', port: 80 })).toBe('net:example.com:80')
  })

  it('round-trips: parse(stringify(o)) gives o back, bare or bracketed', () => {
    for (const brackets of [false, true]) {
      const transport = net({ brackets })
      for (const o of [
        { host: '127.0.0.1', port: 1 },
        { host: '::', port: 2 },
        { host: '::1', port: 8008 },
        { host: '2001:db8::1:2', port: 65535 },
        { host: 'ssb.example.org', port: 8008 },
      ]) {
        expect(transport.parse(transport.stringify!(o))).toEqual(o)
        expect(transport.parse(parseAddress(stringifySegment(transport.stringify!(o)))[0]!)).toEqual(o)
      }
    }
  })
})

describe('net: options', () => {
  it('rejects bad option values at construction', () => {
    expect(() => net({ port: 70000 })).toThrow(TypeError)
    expect(() => net({ port: -1 })).toThrow(TypeError)
    expect(() => net({ port: 1.5 })).toThrow(TypeError)
    expect(() => net({ connectTimeout: 0 })).toThrow(TypeError)
    expect(() => net({ maxConnections: -1 })).toThrow(TypeError)
    expect(() => net({ scope: 'galaxy' as never })).toThrow(TypeError)
  })
})

describe('net: listening and advertising', () => {
  it('port 0 (and no port) picks a free port and advertises it', async () => {
    for (const options of [{ port: 0 }, {}]) {
      const listener = await start(options)
      const [address] = advertised(listener, 'device')
      expect(address).toMatch(/^net:127\.0\.0\.1:\d+$/)
      const port = portOf(listener)
      expect(port).toBeGreaterThan(0)
      // Something really listens there.
      const socket = createConnection({ host: '127.0.0.1', port })
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      socket.destroy()
    }
  })

  it('listens on a fixed port when asked', async () => {
    const port = await freePort()
    const listener = await start({ host: '127.0.0.1', port })
    expect(advertised(listener, 'device')).toEqual([`net:127.0.0.1:${port}`])
  })

  it('default: device scope only, loopback bind', async () => {
    const listener = await start({})
    expect(advertised(listener, 'device')).toHaveLength(1)
    expect(advertised(listener, 'local')).toEqual([])
    expect(advertised(listener, 'public')).toEqual([])
  })

  it('a 0.0.0.0 bind advertises the real IPv4 addresses of each scope, never 0.0.0.0', async () => {
    const listener = await start({ host: '0.0.0.0', scope: ['device', 'local', 'public'] })
    const port = portOf(listener)
    for (const scope of ['device', 'local', 'public'] as const) {
      const expected = machineAddresses(scope, 'IPv4').map((h) => `net:${h}:${port}`)
      expect(advertised(listener, scope).sort()).toEqual(expected.sort())
      expect(advertised(listener, scope).join()).not.toMatch(/0\.0\.0\.0|net:::\d/)
    }
    expect(advertised(listener, 'device')).toContain(`net:127.0.0.1:${port}`)
  })

  it('a :: bind advertises both families, bare or bracketed, and each device address accepts', async () => {
    const accepted: Connection[] = []
    const listener = await start({ host: '::', scope: ['device', 'local', 'public'] }, (c) => accepted.push(c))
    const port = portOf(listener)
    for (const scope of ['device', 'local', 'public'] as const) {
      const expected = machineAddresses(scope).map((h) => `net:${h}:${port}`)
      expect(advertised(listener, scope).sort()).toEqual(expected.sort())
    }
    const device = advertised(listener, 'device')
    expect(device).toContain(`net:127.0.0.1:${port}`)
    if (hasIPv6Loopback()) expect(device).toContain(`net:::1:${port}`)
    const client = createMultiServer([[net()]])
    for (const address of device) {
      const c = await client.connect(address)
      await c.close()
    }
    await Promise.all(accepted.map((c) => c.close()))

    const bracketed = await start({ host: '::', scope: 'device', brackets: true })
    if (hasIPv6Loopback()) expect(advertised(bracketed, 'device')).toContain(`net:[::1]:${portOf(bracketed)}`)
  })

  it('a wildcard host with no scope advertises in every scope', async () => {
    const listener = await start({ host: '0.0.0.0' })
    const port = portOf(listener)
    expect(advertised(listener, 'device')).toContain(`net:127.0.0.1:${port}`)
    expect(advertised(listener, 'public')).toEqual(machineAddresses('public', 'IPv4').map((h) => `net:${h}:${port}`))
  })

  it('only advertises in the scopes it was configured for', async () => {
    const listener = await start({ host: '127.0.0.1', scope: 'device' })
    expect(advertised(listener, 'local')).toEqual([])
    expect(advertised(listener, 'public')).toEqual([])
    const local = await start({ host: '0.0.0.0', scope: 'private' })
    expect(advertised(local, 'device')).toEqual([])
    expect(advertised(local, 'public')).toEqual([])
    expect(advertised(local, 'local')).toEqual(machineAddresses('local', 'IPv4').map((h) => `net:${h}:${portOf(local)}`))
  })

  it('external replaces the host in the public scope only, one address per entry', async () => {
    const listener = await start({
      host: '0.0.0.0',
      scope: ['device', 'public'],
      external: ['ssb.example.org', '203.0.113.5', 'fe80::9%eth0'],
    })
    const port = portOf(listener)
    expect(advertised(listener, 'public')).toEqual([
      `net:ssb.example.org:${port}`,
      `net:203.0.113.5:${port}`,
      `net:fe80::9:${port}`,
    ])
    expect(advertised(listener, 'device')).toContain(`net:127.0.0.1:${port}`)
    expect(advertised(listener, 'device').join()).not.toContain('example')

    const single = await start({ host: '127.0.0.1', scope: ['device', 'public'], external: 'peer.example.net' })
    expect(advertised(single, 'public')).toEqual([`net:peer.example.net:${portOf(single)}`])
    expect(advertised(single, 'device')).toEqual([`net:127.0.0.1:${portOf(single)}`])
  })

  it('strips zone suffixes from the advertised host', async () => {
    const listener = await start({ host: '127.0.0.1', scope: 'public', external: 'fe80::1%lo' })
    expect(advertised(listener, 'public')).toEqual([`net:fe80::1:${portOf(listener)}`])
  })

  it('advertises nothing once closed', async () => {
    const listener = await start({})
    await listener.close()
    expect(listener.addresses('device')).toEqual([])
  })

  it('close() resolves promptly with connections still open and releases the port', async () => {
    const accepted: Connection[] = []
    const listener = await net({ host: '127.0.0.1' }).listen!((c) => accepted.push(c), {})
    const port = portOf(listener)
    const socket = createConnection({ host: '127.0.0.1', port })
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    await waitUntil(() => accepted.length === 1, 'the server to accept the connection')
    const t0 = Date.now()
    await listener.close()
    await listener.close()
    expect(Date.now() - t0).toBeLessThan(500)
    const error = await net().dial({ host: '127.0.0.1', port }, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).code).toBe('ECONNREFUSED')
    // The accepted socket is untouched: it still works until its owner closes it.
    expect(accepted).toHaveLength(1)
    socket.end()
    expect((await readAll(accepted[0]!.readable)).byteLength).toBe(0)
    await accepted[0]!.close()
    socket.destroy()
  })

  it('aborting the listen signal closes the listener', async () => {
    const controller = new AbortController()
    const listener = await net().listen!(() => {}, { signal: controller.signal })
    const port = portOf(listener)
    controller.abort()
    // The abort closed the listener: it advertises nothing, and close() (the
    // same closing) settles once the port is released.
    expect(listener.addresses('device')).toEqual([])
    await listener.close()
    const error = await net().dial({ host: '127.0.0.1', port }, {}).catch((e: unknown) => e)
    expect((error as DialError).code).toBe('ECONNREFUSED')
  })

  it('an already aborted listen signal rejects', async () => {
    await expect(net().listen!(() => {}, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })
})

describe('net: listen errors', () => {
  it('EADDRINUSE', async () => {
    const taken = await listenRaw('127.0.0.1')
    cleanup.push(() => closeServer(taken))
    const { port } = taken.address() as { port: number }
    const error = await net({ host: '127.0.0.1', port }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('EADDRINUSE')
    expect((error as ListenError).address).toBe(`net:127.0.0.1:${port}`)
  })

  it('EADDRNOTAVAIL for an address this machine does not have', async () => {
    const foreign = ['203.0.113.77', '198.51.100.77'].find((h) => !machineAddresses('public').includes(h))!
    const error = await net({ host: foreign, port: 0 }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('EADDRNOTAVAIL')
    expect((error as ListenError).address).toBe(`net:${foreign}:0`)
  })

  it('a host that does not resolve', async () => {
    const error = await net({ host: 'no-such-host.invalid' }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']).toContain((error as ListenError).code)
    expect((error as ListenError).address).toBe('net:no-such-host.invalid:0')
  })

  it('the MultiServer rejects listen with the typed error', async () => {
    const taken = await listenRaw('127.0.0.1')
    cleanup.push(() => closeServer(taken))
    const { port } = taken.address() as { port: number }
    const ms = createMultiServer([[net({ host: '127.0.0.1', port })]])
    await expect(ms.listen(() => {})).rejects.toMatchObject({ name: 'ListenError', code: 'EADDRINUSE' })
  })
})

describe('net: dial', () => {
  it('bad dial options (not from parse) are a DialError too', async () => {
    const error = await net().dial({ host: '127.0.0.1', port: 70000 }, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).address).toBe('net:127.0.0.1:70000')
  })

  it('ECONNREFUSED is a DialError carrying the address', async () => {
    const port = await freePort()
    const error = await net().dial({ host: '127.0.0.1', port }, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).code).toBe('ECONNREFUSED')
    expect((error as DialError).address).toBe(`net:127.0.0.1:${port}`)
  })

  it('ENOTFOUND is a DialError carrying the address', async () => {
    const error = await net().dial({ host: 'no-such-host.invalid', port: 8008 }, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']).toContain((error as DialError).code)
    expect((error as DialError).address).toBe('net:no-such-host.invalid:8008')
  })

  it('connectTimeout gives a TimeoutError and leaves no socket or timer', async () => {
    const hole = await blackhole()
    cleanup.push(() => hole.close())
    const baseline = activeResources()
    const t0 = Date.now()
    const error = await net({ connectTimeout: 200 }).dial({ host: '127.0.0.1', port: hole.port }, {}).catch((e: unknown) => e)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).address).toBe(`net:127.0.0.1:${hole.port}`)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })

  it('an abort during the dial rejects with the signal reason and destroys the socket', async () => {
    const hole = await blackhole()
    cleanup.push(() => hole.close())
    const baseline = activeResources()
    const controller = new AbortController()
    const dialling = net({ connectTimeout: 60_000 }).dial({ host: '127.0.0.1', port: hole.port }, { signal: controller.signal })
    // The socket exists from the call on (a blackhole never answers): this abort is mid-dial.
    const reason = new MsError('stop right there')
    controller.abort(reason)
    await expect(dialling).rejects.toBe(reason)
    // The 60 s connect timer and the socket are gone.
    expect(await waitForNoLeaks(baseline)).toEqual({})

    const plain = new AbortController()
    const second = net().dial({ host: '127.0.0.1', port: hole.port }, { signal: plain.signal })
    plain.abort()
    await expect(second).rejects.toBeInstanceOf(AbortError)
    await expect(net().dial({ host: '127.0.0.1', port: hole.port }, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })
})

describe('net: connections', () => {
  it('reports net:<ip>:<port> of the peer on both ends, IPv4', async () => {
    let inbound!: Connection
    const listener = await start({ host: '127.0.0.1' }, (c) => (inbound = c))
    const port = portOf(listener)
    const outbound = await net().dial({ host: '127.0.0.1', port }, {})
    cleanup.push(() => outbound.close())
    await waitUntil(() => inbound !== undefined, 'the server to accept the connection')
    expect(outbound.remoteAddress).toBe(`net:127.0.0.1:${port}`)
    expect(outbound.direction).toBe('outbound')
    expect(inbound.direction).toBe('inbound')
    expect(inbound.remoteAddress).toMatch(/^net:127\.0\.0\.1:\d+$/)
    expect(inbound.remoteAddress).not.toBe(outbound.remoteAddress)
    await inbound.close()
  })

  it('reports IPv6 peers bare, and IPv4-mapped IPv6 peers as IPv4', async () => {
    const seen: string[] = []
    const listener = await start({ host: '::', scope: 'device' }, (c) => {
      seen.push(c.remoteAddress)
      void c.close()
    })
    const port = portOf(listener)
    const v4 = await net().dial({ host: '127.0.0.1', port }, {})
    const mapped = await net().dial({ host: '::ffff:127.0.0.1', port }, {})
    cleanup.push(() => v4.close(), () => mapped.close())
    if (hasIPv6Loopback()) {
      const v6 = await net().dial({ host: '::1', port }, {})
      cleanup.push(() => v6.close())
      expect(v6.remoteAddress).toBe(`net:::1:${port}`)
    }
    await waitUntil(() => seen.length === (hasIPv6Loopback() ? 3 : 2), 'the server to accept every connection')
    expect(mapped.remoteAddress).toBe(`net:127.0.0.1:${port}`)
    expect(seen.filter((a) => /^net:127\.0\.0\.1:\d+$/.test(a))).toHaveLength(2)
    expect(seen.join()).not.toContain('ffff')
    if (hasIPv6Loopback()) expect(seen.some((a) => /^net:::1:\d+$/.test(a))).toBe(true)
  })

  it('maxConnections closes excess inbound connections at once and reports a LimitError', async () => {
    const accepted: Connection[] = []
    const errors: MsErrorType[] = []
    const listener = await start({ host: '127.0.0.1', maxConnections: 1 }, (c) => accepted.push(c), (e) => errors.push(e))
    const port = portOf(listener)
    const first = await net().dial({ host: '127.0.0.1', port }, {})
    cleanup.push(() => first.close())
    await waitUntil(() => accepted.length === 1, 'the server to accept the first connection')
    const second = await net().dial({ host: '127.0.0.1', port }, {})
    cleanup.push(() => second.close())
    // The excess connection is closed by the server without a byte.
    const outcome = await readAll(second.readable).then(
      (bytes) => `ended with ${bytes.byteLength}`,
      (e: unknown) => (e as Error).name,
    )
    expect(['ended with 0', 'StreamError']).toContain(outcome)
    expect(accepted).toHaveLength(1)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(LimitError)
    expect(errors[0]!.address).toMatch(/^net:127\.0\.0\.1:\d+$/)
    // The first one still works.
    const echoed = (async () => {
      const data = await readAll(accepted[0]!.readable)
      await writeAll(accepted[0]!.writable, data)
    })()
    const [, reply] = await Promise.all([writeAll(first.writable, new TextEncoder().encode('still here')), readAll(first.readable)])
    await echoed
    expect(new TextDecoder().decode(reply)).toBe('still here')
    // Once it closed, a new one is accepted again.
    await first.close()
    await accepted[0]!.closed
    const third = await net().dial({ host: '127.0.0.1', port }, {})
    cleanup.push(() => third.close())
    await waitUntil(() => accepted.length === 2, 'the server to accept a connection again')
    await Promise.all(accepted.map((c) => c.close()))
  })

  it('works with a raw Node peer: half-close both ways', async () => {
    let peer!: Socket
    const server = await listenRaw('127.0.0.1', (s) => (peer = s))
    cleanup.push(() => closeServer(server))
    const { port } = server.address() as { port: number }
    const c = await net().dial({ host: '127.0.0.1', port }, {})
    await waitUntil(() => peer !== undefined, 'the raw server to accept')
    const peerGot: Buffer[] = []
    peer.on('data', (d: Buffer) => peerGot.push(d))
    const peerEnded = new Promise<void>((resolve) => peer.once('end', resolve))
    await writeAll(c.writable, new TextEncoder().encode('ping'))
    await peerEnded
    expect(Buffer.concat(peerGot).toString()).toBe('ping')
    peer.end('pong after your end')
    expect(new TextDecoder().decode(await readAll(c.readable))).toBe('pong after your end')
    await c.closed
  })
})
