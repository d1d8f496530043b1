import { describe, expect, it } from 'vitest'
import { AbortError, HandshakeError, StreamError, TimeoutError, toBase64, type Connection } from '@ms/core'
import { firstDifference } from '@ms/compliance'
import { backends } from './backends.js'
import { links } from './links.js'

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) out.set(p, o), (o += p.length)
  return out
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of readable) parts.push(chunk)
  return concat(parts)
}

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p }
  } catch (error) {
    return { ok: false, error }
  }
}

// Every pairing of backends: the two must interoperate byte for byte.
// Over both kinds of inner connection (links.ts): WHATWG streams and a ByteChannel.
const pairs = backends.flatMap((c) =>
  backends.flatMap((s) =>
    links.map((link) => ({ name: `${c.name} client, ${s.name} server, over ${link.name}`, client: c.mod, server: s.mod, link: link.pair })),
  ),
)

describe.each(pairs)('shs transform ($name)', ({ client: C, server: S, link }) => {
  const appKey = C.shsCrypto.randomBytes(32)
  const serverKeys = S.shsCrypto.signKeypairFromSeed(S.shsCrypto.randomBytes(32))
  const clientKeys = C.shsCrypto.signKeypairFromSeed(C.shsCrypto.randomBytes(32))

  async function connect(opts: { serverOptions?: object; clientOptions?: object; dial?: object } = {}) {
    const server = S.shs({ keys: serverKeys, appKey, ...opts.serverOptions })
    const client = C.shs({ keys: clientKeys, appKey, ...opts.clientOptions })
    const pair = await link()
    const dial = { publicKey: serverKeys.publicKey, ...opts.dial }
    const [c, s] = await Promise.all([
      settle(client.upgradeOutbound(pair.client, dial, {})),
      settle(server.upgradeInbound(pair.server, {})),
    ])
    return { c, s, pair }
  }

  it('authenticates both ends and carries data both ways with half-close', async () => {
    const { c, s, pair } = await connect({ serverOptions: { authorize: async () => ({ role: 'friend' }) } })
    if (!c.ok || !s.ok) throw new Error(`handshake failed: ${String(!c.ok ? c.error : !s.ok && s.error)}`)
    const cc: Connection = c.value
    const sc: Connection = s.value
    expect(cc.info.shs?.publicKey).toEqual(serverKeys.publicKey)
    expect(sc.info.shs?.publicKey).toEqual(clientKeys.publicKey)
    expect(sc.info.shs?.authorization).toEqual({ role: 'friend' })
    expect(cc.remoteAddress).toBe(`mem:server~shs:${toBase64(serverKeys.publicKey)}`)
    expect(sc.remoteAddress).toBe(`mem:client~shs:${toBase64(clientKeys.publicKey)}`)
    expect(cc.direction).toBe('outbound')
    expect(sc.direction).toBe('inbound')

    const up = C.shsCrypto.randomBytes(300_000)
    const down = S.shsCrypto.randomBytes(100_001)
    const writeThenClose = async (conn: Connection, data: Uint8Array, pieces: number) => {
      const w = conn.writable.getWriter()
      const step = Math.ceil(data.length / pieces)
      await w.write(new Uint8Array(0))
      for (let o = 0; o < data.length; o += step) await w.write(data.subarray(o, o + step))
      await w.close()
    }
    // The client closes its side first; the server still answers afterwards.
    const [, got] = await Promise.all([writeThenClose(cc, up, 7), readAll(sc.readable)])
    expect(firstDifference(got, up)).toBeNull()
    const [, back] = await Promise.all([writeThenClose(sc, down, 3), readAll(cc.readable)])
    expect(firstDifference(back, down)).toBeNull()
    await cc.close()
    await pair.server.closed
  })

  it('wrong app key: the client fails once the server closes', async () => {
    const server = S.shs({ keys: serverKeys, appKey })
    const client = C.shs({ keys: clientKeys, appKey: C.shsCrypto.randomBytes(32) })
    const pair = await link()
    const serverSide = server.upgradeInbound(pair.server, {}).catch(async (e) => {
      await pair.server.close(e)
      throw e
    })
    const [c, s] = await Promise.all([settle(client.upgradeOutbound(pair.client, { publicKey: serverKeys.publicKey }, {})), settle(serverSide)])
    expect(!s.ok && (s.error as HandshakeError).stage).toBe('msg1')
    expect(!c.ok && c.error).toBeInstanceOf(HandshakeError)
    expect(!c.ok && (c.error as HandshakeError).stage).toBe('msg2')
  })

  it('wrong server key: the server fails at msg3 and the client at msg4', async () => {
    const server = S.shs({ keys: serverKeys, appKey })
    const client = C.shs({ keys: clientKeys, appKey })
    const pair = await link()
    const other = C.shsCrypto.signKeypairFromSeed(C.shsCrypto.randomBytes(32))
    const serverSide = server.upgradeInbound(pair.server, {}).catch(async (e) => {
      await pair.server.close(e)
      throw e
    })
    const [c, s] = await Promise.all([settle(client.upgradeOutbound(pair.client, { publicKey: other.publicKey }, {})), settle(serverSide)])
    expect(!s.ok && (s.error as HandshakeError).stage).toBe('msg3')
    expect(!c.ok && (c.error as HandshakeError).stage).toBe('msg4')
  })

  it.each([
    ['returns false', () => false],
    ['resolves null', async () => null],
    ['throws', () => {
      throw new Error('nope')
    }],
    ['rejects', async () => {
      throw new Error('nope')
    }],
  ])('authorize that %s rejects the client without msg4', async (_, authorize) => {
    const server = S.shs({ keys: serverKeys, appKey, authorize })
    const client = C.shs({ keys: clientKeys, appKey })
    const pair = await link()
    let seen: Uint8Array | undefined
    const serverSide = server.upgradeInbound(pair.server, {}).catch(async (e) => {
      await pair.server.close(e)
      throw e
    })
    const clientSide = client.upgradeOutbound(pair.client, { publicKey: serverKeys.publicKey }, {})
    const [c, s] = await Promise.all([settle(clientSide), settle(serverSide)])
    void seen
    expect(!s.ok && (s.error as HandshakeError).stage).toBe('authorize')
    expect(!c.ok && (c.error as HandshakeError).stage).toBe('msg4')
  })

  it('authorize receives the client key', async () => {
    const keys: Uint8Array[] = []
    const { s } = await connect({ serverOptions: { authorize: (k: Uint8Array) => keys.push(k) } })
    expect(s.ok).toBe(true)
    expect(keys).toEqual([clientKeys.publicKey])
  })

  it('with a seed, the client authenticates as the seed key pair (invites)', async () => {
    const seed = C.shsCrypto.randomBytes(32)
    const { c, s } = await connect({ dial: { seed } })
    expect(c.ok && s.ok).toBe(true)
    expect(s.ok && s.value.info.shs?.publicKey).toEqual(C.shsCrypto.signKeypairFromSeed(seed).publicKey)
  })

  it('times out a stalled handshake on both roles', async () => {
    const server = S.shs({ keys: serverKeys, appKey, timeout: 150 })
    const client = C.shs({ keys: clientKeys, appKey, timeout: 150 })
    const silent1 = await link()
    const silent2 = await link()
    const [c, s] = await Promise.all([
      settle(client.upgradeOutbound(silent1.client, { publicKey: serverKeys.publicKey }, {})),
      settle(server.upgradeInbound(silent2.server, {})),
    ])
    expect(!c.ok && c.error).toBeInstanceOf(TimeoutError)
    expect(!s.ok && s.error).toBeInstanceOf(TimeoutError)
    expect(!c.ok && (c.error as Error).message).toMatch(/during msg2/)
    expect(!s.ok && (s.error as Error).message).toMatch(/during msg1/)
    await Promise.all([silent1.client.close(), silent2.server.close()])
  })

  it('honours an abort signal', async () => {
    const client = C.shs({ keys: clientKeys, appKey })
    const pair = await link()
    const controller = new AbortController()
    const p = settle(client.upgradeOutbound(pair.client, { publicKey: serverKeys.publicKey }, { signal: controller.signal }))
    controller.abort()
    const r = await p
    expect(!r.ok && r.error).toBeInstanceOf(AbortError)
    await pair.client.close()
  })

  it('ends the readable with StreamError when the peer vanishes without a goodbye', async () => {
    const { c, s, pair } = await connect()
    if (!c.ok || !s.ok) throw new Error('handshake failed')
    const w = c.value.writable.getWriter()
    await w.write(Uint8Array.of(1, 2, 3))
    // Close the raw inner writable: EOF without the goodbye frame.
    w.releaseLock()
    const reading = settle(readAll(s.value.readable))
    await pair.client.close()
    const r = await reading
    expect(r.ok).toBe(false)
    expect(!r.ok && r.error).toBeInstanceOf(StreamError)
  })
})

describe.each(backends)('shs options and addresses ($name)', ({ mod }) => {
  const keys = mod.shsCrypto.signKeypairFromSeed(mod.shsCrypto.randomBytes(32))
  const t = mod.shs({ keys, appKey: mod.SSB_APP_KEY })
  const k = toBase64(keys.publicKey)

  it('parses shs:<key> and shs:<key>:<seed> and nothing else', () => {
    expect(t.parse({ name: 'shs', data: [k] })).toEqual({ publicKey: keys.publicKey })
    const seed = toBase64(new Uint8Array(32).fill(1))
    expect(t.parse({ name: 'shs', data: [k, seed] })).toEqual({ publicKey: keys.publicKey, seed: new Uint8Array(32).fill(1) })
    for (const data of [[], [''], [k.slice(0, -4)], [k + 'AAAA'], ['not base64!'], [k, 'short'], [k, seed, seed], [k, '']]) {
      expect(t.parse({ name: 'shs', data })).toBeNull()
    }
    expect(t.parse({ name: 'net', data: [k] })).toBeNull()
    expect(t.parse({ name: 'shs', data: [null as unknown as string] })).toBeNull()
  })

  it('advertises our key', () => {
    expect(t.advertise('device')).toEqual({ name: 'shs', data: [k] })
    expect(t.advertise('public')).toEqual({ name: 'shs', data: [k] })
  })

  it('accepts ssb-keys style keys and a base64 app key', () => {
    const ssb = {
      curve: 'ed25519',
      public: `${k}.ed25519`,
      private: `${toBase64(keys.secretKey)}.ed25519`,
      id: `@${k}.ed25519`,
    }
    expect(mod.shs({ keys: ssb, appKey: mod.SSB_APP_KEY }).publicKey).toEqual(keys.publicKey)
  })

  it('rejects bad configuration at construction', () => {
    const other = mod.shsCrypto.signKeypairFromSeed(mod.shsCrypto.randomBytes(32))
    expect(() => mod.shs({ keys: { publicKey: keys.publicKey, secretKey: other.secretKey }, appKey: mod.SSB_APP_KEY })).toThrow(TypeError)
    expect(() => mod.shs({ keys, appKey: 'abc' })).toThrow(TypeError)
    expect(() => mod.shs({ keys, appKey: new Uint8Array(31) })).toThrow(TypeError)
    expect(() => mod.shs({ keys, appKey: mod.SSB_APP_KEY, timeout: -1 })).toThrow(TypeError)
  })

  it('exports the SSB main-net app key', () => {
    expect(mod.SSB_APP_KEY).toBe('1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s=')
  })
})
