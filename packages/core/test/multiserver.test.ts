import { afterEach, describe, expect, it } from 'vitest'
import {
  ConnectError,
  DialError,
  HandshakeError,
  LimitError,
  ListenError,
  MsError,
  NoTransportError,
  appendSegment,
  createMultiServer,
  memory,
  type Connection,
  type Segment,
  type Transform,
  type Transport,
} from '../src/index.js'
import { waitUntil } from './wait.js'

/** A transform that tags connections and can be told to fail or stall. */
function tag(options: { name?: string; failInbound?: boolean; stallOutbound?: boolean; key?: string } = {}): Transform<{ key: string }> {
  const name = options.name ?? 'tag'
  return {
    name,
    parse: (s: Segment) => (s.name === name && s.data.length === 1 ? { key: s.data[0]! } : null),
    advertise: () => ({ name, data: [options.key ?? 'server'] }),
    async upgradeOutbound(connection, opts, { signal }) {
      if (options.stallOutbound) {
        await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
      }
      return { ...connection, remoteAddress: appendSegment(connection.remoteAddress, { name, data: [opts.key] }) }
    },
    async upgradeInbound(connection) {
      if (options.failInbound) throw new Error('inbound refused by test transform')
      return { ...connection, remoteAddress: appendSegment(connection.remoteAddress, { name, data: ['client'] }) }
    },
  }
}

/** A transport whose dials fail or hang, to test fallback between alternatives. */
function broken(name: string, mode: 'fail' | 'hang'): Transport<{ x: string }> & { dials: number; aborted: number } {
  const t = {
    name,
    dials: 0,
    aborted: 0,
    parse: (s: Segment) => (s.name === name ? { x: s.data.join(':') } : null),
    dial(_o: { x: string }, { signal }: { signal?: AbortSignal }): Promise<Connection> {
      t.dials++
      if (mode === 'fail') return Promise.reject(new DialError('refused by test', { code: 'ECONNREFUSED' }))
      return new Promise((_, reject) =>
        signal?.addEventListener('abort', () => {
          t.aborted++
          reject(signal.reason)
        }, { once: true }),
      )
    },
  }
  return t
}

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((f) => f()))
})

async function echoServer(suites: Parameters<typeof createMultiServer>[0], onError?: (e: MsError) => void) {
  const ms = createMultiServer(suites)
  const listener = await ms.listen((c) => void c.readable.pipeTo(c.writable).catch(() => {}), { onError })
  closers.push(() => listener.close())
  return { ms, listener }
}

describe('createMultiServer', () => {
  it('names itself after its suites', () => {
    expect(createMultiServer([[memory(), tag()], [memory()]]).name).toBe('mem~tag;mem')
  })

  it('advertises each listening suite, with transform segments, per scope', async () => {
    const { ms } = await echoServer([[memory({ id: 'adv1' }), tag()], [memory({ id: 'adv2', scope: 'public' })]])
    expect(ms.stringify()).toBe('mem:adv1~tag:server')
    expect(ms.stringify('device')).toBe('mem:adv1~tag:server')
    expect(ms.stringify('public')).toBe('mem:adv2')
    expect(ms.stringify('private')).toBe('')
    expect(() => ms.stringify('galaxy' as 'public')).toThrow(TypeError)
  })

  it('advertises configured addresses before listening and after closing; bound ones while listening', async () => {
    // A memory transport that knows its address in advance, like a fixed TCP port.
    const inner = memory({ id: 'cfg1' })
    const fixed: Transport<{ id: string }> = {
      ...inner,
      configuredAddresses: (scope) => (scope === 'device' ? [{ name: 'mem', data: ['cfg1'] }] : []),
    }
    // One that does not (port 0): nothing until bound.
    const unknown: Transport<{ id: string }> = { ...memory({ id: 'cfg2' }), configuredAddresses: () => [] }
    const throwing: Transport<{ id: string }> = {
      ...memory({ id: 'cfg3' }),
      configuredAddresses: () => {
        throw new Error('cannot tell')
      },
    }
    const ms = createMultiServer([[fixed, tag()], [unknown], [throwing]])
    expect(ms.stringify()).toBe('mem:cfg1~tag:server')
    expect(ms.stringify('public')).toBe('')
    const listener = await ms.listen(() => {})
    expect(ms.stringify()).toBe('mem:cfg1~tag:server;mem:cfg2;mem:cfg3')
    await listener.close()
    expect(ms.stringify()).toBe('mem:cfg1~tag:server')
  })

  it('reports the remote address with every transform segment', async () => {
    let inbound: Connection | undefined
    const ms = createMultiServer([[memory(), tag()]])
    const listener = await ms.listen((c) => (inbound = c))
    closers.push(() => listener.close())
    const client = createMultiServer([[memory(), tag()]])
    const c = await client.connect(ms.stringify())
    expect(c.remoteAddress).toMatch(/^mem:[^~]+~tag:server$/)
    await waitUntil(() => inbound !== undefined, 'the server to hand over the connection')
    expect(inbound?.remoteAddress).toMatch(/^mem:client-\d+~tag:client$/)
    await c.close()
  })

  it('skips alternatives no suite understands and matches on segment count', async () => {
    const { ms } = await echoServer([[memory(), tag()]])
    const client = createMultiServer([[memory(), tag()]])
    const address = ms.stringify()
    const plans = client.plan(`onion:xyz.onion:1;${address.split('~')[0]};${address}`)
    expect(plans.map((p) => p.address)).toEqual([address])
    const c = await client.connect(`zz:nope~tag:k;${address}`)
    await c.close()
  })

  it('throws NoTransportError naming the known suites when nothing matches', async () => {
    const client = createMultiServer([[memory(), tag()], [memory()]])
    const error = await client.connect('net:example.com:8008~shs:abc').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NoTransportError)
    expect((error as NoTransportError).suites).toEqual(['mem~tag', 'mem'])
    expect((error as NoTransportError).address).toBe('net:example.com:8008~shs:abc')
  })

  it('falls back to the next alternative when one fails, and lists every cause when all fail', async () => {
    const { ms } = await echoServer([[memory()]])
    const bad = broken('bad', 'fail')
    const client = createMultiServer([[bad], [memory()]])
    const c = await client.connect(`bad:1;${ms.stringify()}`)
    expect(bad.dials).toBe(1)
    await c.close()

    const error = await client.connect('bad:1;bad:2;mem:nothing-here').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectError)
    const causes = (error as ConnectError).errors
    expect(causes.map((e) => e.address)).toEqual(['bad:1', 'bad:2', 'mem:nothing-here'])
    expect(causes.every((e) => e.error instanceof DialError)).toBe(true)
    expect((error as Error).message).toContain('bad:2')
  })

  it('rejects with the one cause when there was only one alternative', async () => {
    const client = createMultiServer([[broken('bad', 'fail')]])
    const error = await client.connect('bad:1').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).address).toBe('bad:1')
  })

  it('starts the next alternative after the stagger when the first hangs, and aborts the loser', async () => {
    const { ms } = await echoServer([[memory()]])
    const slow = broken('slow', 'hang')
    const client = createMultiServer([[slow], [memory()]])
    const started = Date.now()
    const c = await client.connect(`slow:1;${ms.stringify()}`, { stagger: 50 })
    expect(Date.now() - started).toBeLessThan(2000)
    expect(slow.dials).toBe(1)
    expect(slow.aborted).toBe(1)
    await c.close()
  })

  it('a hanging transform is aborted by the timeout and leaves the connection closed', async () => {
    const { ms } = await echoServer([[memory(), tag()]])
    const client = createMultiServer([[memory(), tag({ stallOutbound: true })]])
    const error = await client.connect(ms.stringify(), { timeout: 50 }).catch((e: unknown) => e)
    expect((error as Error).name).toBe('TimeoutError')
  })

  it('reports a failing inbound transform through onError, with the address, and keeps serving', async () => {
    const errors: MsError[] = []
    const { ms } = await echoServer([[memory(), tag({ failInbound: true })]], (e) => errors.push(e))
    const client = createMultiServer([[memory(), tag()]])
    const c = await client.connect(ms.stringify())
    // The server closes the raw connection after its transform failed.
    const reader = c.readable.getReader()
    await reader.read().catch(() => undefined)
    await waitUntil(() => errors.length > 0, 'the failure to be reported')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(HandshakeError)
    expect(errors[0]!.address).toMatch(/^mem:client-\d+$/)
  })

  it('a throwing onConnection handler is reported, not fatal', async () => {
    const errors: MsError[] = []
    const ms = createMultiServer([[memory()]])
    const listener = await ms.listen(() => {
      throw new Error('handler bug')
    }, { onError: (e) => errors.push(e) })
    closers.push(() => listener.close())
    const client = createMultiServer([[memory()]])
    const c = await client.connect(ms.stringify())
    await waitUntil(() => errors.length > 0, 'the handler error to be reported')
    expect(errors.map((e) => e.message)).toEqual(['handler bug'])
    await c.close()
  })

  it('if one suite fails to listen, the others are closed and listen rejects', async () => {
    const taken = createMultiServer([[memory({ id: 'taken' })]])
    const first = await taken.listen(() => {})
    closers.push(() => first.close())
    const ms = createMultiServer([[memory({ id: 'free-one' })], [memory({ id: 'taken' })]])
    await expect(ms.listen(() => {})).rejects.toBeInstanceOf(ListenError)
    // free-one was closed again: listening on it now works.
    const again = createMultiServer([[memory({ id: 'free-one' })]])
    const l = await again.listen(() => {})
    await l.close()
    expect(ms.stringify()).toBe('')
  })

  it('refuses a second listen while listening; close is idempotent and allows listening again', async () => {
    const ms = createMultiServer([[memory()]])
    const l = await ms.listen(() => {})
    await expect(ms.listen(() => {})).rejects.toBeInstanceOf(MsError)
    await Promise.all([l.close(), l.close()])
    await l.close()
    const l2 = await ms.listen(() => {})
    await l2.close()
  })

  it('closes the listener when its signal aborts', async () => {
    const controller = new AbortController()
    const ms = createMultiServer([[memory()]])
    await ms.listen(() => {}, { signal: controller.signal })
    const address = ms.stringify()
    controller.abort()
    await waitUntil(() => ms.stringify() === '', 'the listener to close')
    await expect(createMultiServer([[memory()]]).connect(address)).rejects.toBeInstanceOf(DialError)
  })

  it('sheds the idlest pending handshake, not the newcomer, when too many are pending', async () => {
    const errors: MsError[] = []
    let upgrades = 0
    const stall: Transform = {
      ...tag(),
      upgradeInbound: (_c, { signal }) => {
        upgrades++
        return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
      },
    }
    const ms = createMultiServer([[memory(), stall]])
    const listener = await ms.listen(() => {}, { maxPendingUpgrades: 2, onError: (e) => errors.push(e) })
    closers.push(() => listener.close())
    const raw = createMultiServer([[memory()]])
    const address = ms.stringify().split('~')[0]!
    const conns = await Promise.all([1, 2, 3, 4].map(() => raw.connect(address)))
    await expect.poll(() => errors.length).toBe(2)
    // Every newcomer got its handshake; two older ones were shed for them (admission.test.ts has the details).
    expect(upgrades).toBe(4)
    expect(errors.every((e) => e instanceof LimitError)).toBe(true)
    await Promise.all(conns.map((c) => c.close()))
  })

  it('validates its suites', () => {
    expect(() => createMultiServer([])).toThrow(TypeError)
    expect(() => createMultiServer([[] as unknown as [Transport]])).toThrow(TypeError)
  })
})
