import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HandshakeError, MsError, StreamError, TimeoutError, toBase64 } from '@ms/core'
import { destroyRawTcpClients, rawTcpClient as raw, startEchoTarget, type EchoTarget } from '@ms/compliance/node'
import { net } from '@ms/net'
import { backends } from './backends.js'

// Ed25519 encodings of small-order points, a non-canonical y (>= p) and the identity.
export const LOW_ORDER_POINTS = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => new Uint8Array(Buffer.from(h, 'hex')))

const HELLO = Uint8Array.of(0x6d, 0x73, 0x01, 0x01)
// What our server sends once msg1 verified: msg2 (3 + 48 + 4-byte payload + 16... see MSG2) and its header message.
const MSG2_FRAMED = 3 + 32 + HELLO.length + 16
const HEADER_FRAMED = 3 + 56

describe.each(backends)('hostile peers against a live net~noise server ($name)', ({ mod }) => {
  const crypto = mod.noiseCrypto
  const h = mod.handshake
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  let errors: MsError[]
  let readErrors: unknown[]
  let address: string
  let port: number
  let target: EchoTarget

  beforeAll(async () => {
    target = await startEchoTarget({
      server: () => [net({ host: '127.0.0.1' }), mod.noise({ keys: serverKeys, timeout: 400, maxMessage: 100_000 })],
      client: () => [net(), mod.noise({ keys: clientKeys })],
    })
    ;({ errors, readErrors, address, port } = target)
  })
  afterAll(async () => {
    destroyRawTcpClients()
    await target.close()
  })

  /** A well-behaved client must be served at any moment. */
  const stillServes = () => target.stillServes()
  const expectError = (predicate: (e: MsError) => boolean, what: string) => target.waitForError(predicate, what)

  const stageIs = (stage: string) => (e: MsError) => e instanceof HandshakeError && e.stage === stage
  const framed = (payload: Uint8Array) => mod.frame(payload)

  it('random bytes: closed without a single byte in reply', async () => {
    errors.length = 0
    const c = raw(port)
    const junk = crypto.randomBytes(99)
    // A plausible length, so the server reads the whole message before refusing it.
    junk.set([96, 0, 0])
    await c.write(junk)
    await c.closed
    expect(c.received()).toBe(0)
    await expectError(stageIs('msg1'), 'msg1 failure')
    await stillServes()
  })

  it.each([
    ['0', 0],
    ['95 (one short of msg1)', 95],
    ['16 MiB - 1', 0xffffff],
  ])('a msg1 length of %s: closed at once, nothing in reply, no allocation of the announced size', async (_, length) => {
    errors.length = 0
    const c = raw(port)
    await c.write(Uint8Array.of(length & 0xff, (length >> 8) & 0xff, length >> 16))
    await c.closed
    expect(c.received()).toBe(0)
    await expectError((e) => stageIs('msg1')(e) && /announces/.test(e.message), 'msg1 length failure')
  })

  it('every small-order, non-canonical or identity ephemeral key: a clean msg1 failure, no reply', async () => {
    errors.length = 0
    const clients = LOW_ORDER_POINTS.map((point) => {
      const c = raw(port)
      const msg1 = new Uint8Array(96 + HELLO.length)
      msg1.set(point, 0)
      msg1.set(crypto.randomBytes(64 + HELLO.length), 32)
      void c.write(framed(msg1))
      return c
    })
    await Promise.all(clients.map((c) => c.closed))
    for (const c of clients) expect(c.received()).toBe(0)
    await stillServes()
    expect(errors.filter(stageIs('msg1'))).toHaveLength(LOW_ORDER_POINTS.length)
    expect(errors.every((e) => /ephemeral key is not a valid Ed25519 key/.test(e.message))).toBe(true)
  })

  it('a client whose static key is small-order (encrypted correctly): a clean msg1 failure, no reply', async () => {
    errors.length = 0
    const clients = LOW_ORDER_POINTS.slice(0, 3).map((point) => {
      const state = h.createHandshakeState({ crypto, initiator: true, local: { publicKey: point, secretKey: clientKeys.secretKey }, remotePublicKey: serverKeys.publicKey })
      const c = raw(port)
      void c.write(framed(h.writeMessage1(state, HELLO)))
      return c
    })
    await Promise.all(clients.map((c) => c.closed))
    for (const c of clients) expect(c.received()).toBe(0)
    expect(errors.filter((e) => stageIs('msg1')(e) && /client public key is not a valid/.test(e.message))).toHaveLength(3)
  })

  it.each([
    ['before msg1', 0],
    ['inside the length', 2],
    ['inside msg1', 50],
  ])('a peer stalling %s is dropped after the handshake timeout, with nothing in reply', async (_, bytes) => {
    errors.length = 0
    const state = h.createHandshakeState({ crypto, initiator: true, local: clientKeys, remotePublicKey: serverKeys.publicKey })
    const c = raw(port)
    await c.write(framed(h.writeMessage1(state, HELLO)).subarray(0, bytes))
    // Meanwhile others are served.
    await stillServes()
    await c.closed
    expect(c.received()).toBe(0)
    await expectError((e) => e instanceof TimeoutError, 'timeout')
  })

  /** Completes a real handshake by hand over a raw socket, returning the secretstream codec. */
  async function handshaken() {
    const state = h.createHandshakeState({ crypto, initiator: true, local: clientKeys, remotePublicKey: serverKeys.publicKey })
    const c = raw(port)
    await c.write(framed(h.writeMessage1(state, HELLO)))
    const length = (await c.read(3))[0]!
    expect(h.readMessage2(state, await c.read(length))).toEqual(HELLO)
    const keys = h.split(state)
    const encoder = new mod.SecretStreamEncoder(crypto, keys.tx, mod.streamId(crypto, keys.hash, true))
    const decoder = new mod.SecretStreamDecoder(crypto, keys.rx, mod.streamId(crypto, keys.hash, false))
    const received: Uint8Array[] = []
    decoder.push(await c.read(HEADER_FRAMED), (p) => received.push(p))
    await c.write(encoder.headerMessage)
    return { c, keys, encoder, decoder }
  }

  it('a hand-made client interoperates (sanity check of the attack harness)', async () => {
    const { c, encoder, decoder } = await handshaken()
    await c.write(encoder.encode(Uint8Array.of(1, 2, 3)))
    const echoed: Uint8Array[] = []
    decoder.push(await c.read(3 + 17 + 3), (p) => echoed.push(Uint8Array.from(p)))
    expect(echoed).toEqual([Uint8Array.of(1, 2, 3)])
    await c.write(encoder.final())
    decoder.push(await c.read(3 + 17), () => {})
    expect(decoder.ended).toBe(true)
    c.socket.end()
    await c.closed
  })

  const length3 = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, n >> 16)
  const attacks: [string, (x: Awaited<ReturnType<typeof handshaken>>) => Uint8Array][] = [
    ['a flipped bit in a message', ({ encoder }) => {
      const f = encoder.encode(new Uint8Array(100).fill(7))
      f[60]! ^= 0x20
      return f
    }],
    ['a flipped bit in the tag byte', ({ encoder }) => {
      const f = encoder.encode(new Uint8Array(100).fill(7))
      f[3]! ^= 0x01
      return f
    }],
    ['a flipped bit in the MAC', ({ encoder }) => {
      const f = encoder.encode(new Uint8Array(10).fill(7))
      f[f.length - 1]! ^= 0x80
      return f
    }],
    ['messages out of order', ({ encoder }) => {
      const a = encoder.encode(Uint8Array.of(1))
      const b = encoder.encode(Uint8Array.of(2))
      return new Uint8Array([...b, ...a])
    }],
    ['a message shorter than its authenticator', () => new Uint8Array([...length3(16), ...new Uint8Array(16)])],
    ['a message longer than maxMessage', () => new Uint8Array([...length3(100_001), 1, 2, 3])],
    ['random bytes', () => crypto.randomBytes(5000)],
  ]

  it.each(attacks)('after the handshake, %s ends that connection with StreamError and releases nothing', async (_, make) => {
    const x = await handshaken()
    readErrors.length = 0
    // One good message first: it must come back; nothing after the bad one may.
    await x.c.write(x.encoder.encode(Uint8Array.of(42)))
    const echoed: Uint8Array[] = []
    x.decoder.push(await x.c.read(21), (p) => echoed.push(Uint8Array.from(p)))
    expect(echoed).toEqual([Uint8Array.of(42)])
    await x.c.write(make(x))
    await x.c.closed
    expect(x.c.received()).toBe(MSG2_FRAMED + HEADER_FRAMED + 21)
    expect(readErrors).toHaveLength(1)
    expect(readErrors[0]).toBeInstanceOf(StreamError)
    await stillServes()
  })

  it.each([
    ['a wrong stream id', (x: Awaited<ReturnType<typeof handshaken>>) => {
      void x
      return new Uint8Array([...length3(56), ...crypto.randomBytes(56)])
    }],
    ['a header message of 57 bytes', () => new Uint8Array([...length3(57), ...crypto.randomBytes(57)])],
  ])('%s in place of the header message: StreamError, nothing released', async (_, make) => {
    const state = h.createHandshakeState({ crypto, initiator: true, local: clientKeys, remotePublicKey: serverKeys.publicKey })
    const c = raw(port)
    readErrors.length = 0
    await c.write(framed(h.writeMessage1(state, HELLO)))
    await c.read(MSG2_FRAMED + HEADER_FRAMED)
    await c.write(make(undefined as never))
    await c.closed
    expect(c.received()).toBe(MSG2_FRAMED + HEADER_FRAMED)
    expect(readErrors).toHaveLength(1)
    expect(readErrors[0]).toBeInstanceOf(StreamError)
  })

  it.each([
    ['at a message boundary', false],
    ['inside a message', true],
  ])('EOF without FINAL %s (from a peer that announced FINAL) ends that connection with StreamError', async (_, partial) => {
    const x = await handshaken()
    readErrors.length = 0
    const m = x.encoder.encode(Uint8Array.of(1, 2))
    await x.c.write(partial ? m.subarray(0, 10) : m)
    x.c.socket.end()
    await x.c.closed
    expect(readErrors).toHaveLength(1)
    expect(readErrors[0]).toBeInstanceOf(StreamError)
    expect(String((readErrors[0] as Error).message)).toMatch(/truncated/)
  })

  it('many hostile connections at once do not disturb a good one', async () => {
    errors.length = 0
    const bad = Array.from({ length: 30 }, (_, i) => {
      const c = raw(port)
      if (i % 3 === 0) void c.write(crypto.randomBytes(99))
      else if (i % 3 === 1) void c.write(framed(new Uint8Array([...LOW_ORDER_POINTS[0]!, ...crypto.randomBytes(68)])))
      // else: stall
      return c
    })
    await stillServes()
    await Promise.all(bad.map((c) => c.closed))
    for (const c of bad) expect(c.received()).toBe(0)
    expect(toBase64(serverKeys.publicKey)).toBe(address.split('~noise:')[1])
  })
})
