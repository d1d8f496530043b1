import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HandshakeError, MsError, StreamError, TimeoutError, toBase64 } from '@ms/core'
import { destroyRawTcpClients, rawTcpClient as raw, startEchoTarget, type EchoTarget } from '@ms/compliance/node'
import { net } from '@ms/net'
import { backends } from './backends.js'

// The X25519 points of small order (libsodium's blacklist), little-endian u-coordinates.
const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => new Uint8Array(Buffer.from(h, 'hex')))

describe.each(backends)('hostile peers against a live net~shs server ($name)', ({ mod }) => {
  const crypto = mod.shsCrypto
  const h = mod.handshake
  const appKey = crypto.randomBytes(32)
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  let errors: MsError[]
  let readErrors: unknown[]
  let address: string
  let port: number
  let target: EchoTarget

  beforeAll(async () => {
    target = await startEchoTarget({
      server: () => [net({ host: '127.0.0.1' }), mod.shs({ keys: serverKeys, appKey, timeout: 400 })],
      client: () => [net(), mod.shs({ keys: clientKeys, appKey })],
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

  it('random bytes: closed without a single byte in reply', async () => {
    errors.length = 0
    const c = raw(port)
    await c.write(crypto.randomBytes(64))
    await c.closed
    expect(c.received()).toBe(0)
    await expectError(stageIs('msg1'), 'msg1 failure')
    await stillServes()
  })

  it('valid HMAC over every low-order ephemeral key: a clean msg1 failure, no crash, no reply', async () => {
    errors.length = 0
    const clients = LOW_ORDER_POINTS.map((point) => {
      const c = raw(port)
      void c.write(new Uint8Array([...crypto.auth(point, appKey), ...point]))
      return c
    })
    await Promise.all(clients.map((c) => c.closed))
    for (const c of clients) expect(c.received()).toBe(0)
    await stillServes()
    expect(errors.filter(stageIs('msg1'))).toHaveLength(LOW_ORDER_POINTS.length)
    expect(errors.every((e) => /low-order/.test(e.message))).toBe(true)
  })

  it.each([
    ['before msg1', 0],
    ['inside msg1', 30],
    ['after msg1', 64],
    ['inside msg3', 64 + 50],
  ])('a peer stalling %s is dropped after the handshake timeout', async (_, bytes) => {
    errors.length = 0
    const state = h.createHandshakeState({ crypto, appKey, local: clientKeys, remotePublicKey: serverKeys.publicKey })
    const c = raw(port)
    const msg1 = h.createChallenge(state)
    await c.write(msg1.subarray(0, Math.min(bytes, 64)))
    if (bytes > 64) {
      h.verifyChallenge(state, await c.read(64), 'msg2')
      await c.write(h.clientCreateAuth(state).subarray(0, bytes - 64))
    }
    // Meanwhile others are served.
    await stillServes()
    await c.closed
    await expectError((e) => e instanceof TimeoutError, 'timeout')
  })

  /** Completes a real handshake by hand over a raw socket, returning the box-stream codec. */
  async function handshaken() {
    const state = h.createHandshakeState({ crypto, appKey, local: clientKeys, remotePublicKey: serverKeys.publicKey })
    const c = raw(port)
    await c.write(h.createChallenge(state))
    h.verifyChallenge(state, await c.read(64), 'msg2')
    await c.write(h.clientCreateAuth(state))
    h.clientVerifyAccept(state, await c.read(80))
    const keys = h.sessionKeys(state)
    return {
      c,
      keys,
      encoder: new mod.BoxEncoder(crypto, keys.encryptKey, keys.encryptNonce),
      decoder: new mod.BoxDecoder(crypto, keys.decryptKey, keys.decryptNonce),
    }
  }

  it('a hand-made client interoperates (sanity check of the attack harness)', async () => {
    const { c, encoder, decoder } = await handshaken()
    await c.write(encoder.encode(Uint8Array.of(1, 2, 3)))
    const echoed = decoder.push(await c.read(34 + 3))
    expect(echoed).toEqual(Uint8Array.of(1, 2, 3))
    await c.write(encoder.goodbye())
    decoder.push(await c.read(34))
    expect(decoder.ended).toBe(true)
    c.socket.end()
    await c.closed
  })

  const attacks: [string, (x: Awaited<ReturnType<typeof handshaken>>) => Uint8Array][] = [
    [
      'a header announcing 4097 bytes',
      ({ keys }) => {
        const header = new Uint8Array(18)
        header[0] = 0x10
        header[1] = 0x01
        const boxed = new Uint8Array(34)
        crypto.secretboxInto(boxed, header, keys.encryptNonce, keys.encryptKey)
        return boxed
      },
    ],
    [
      'a flipped bit in a body',
      ({ encoder }) => {
        const f = encoder.encode(new Uint8Array(100).fill(7))
        f[60]! ^= 0x20
        return f
      },
    ],
    [
      'a flipped bit in a header',
      ({ encoder }) => {
        const f = encoder.encode(new Uint8Array(100).fill(7))
        f[3]! ^= 0x01
        return f
      },
    ],
    [
      'frames out of order',
      ({ encoder }) => {
        const a = encoder.encode(Uint8Array.of(1))
        const b = encoder.encode(Uint8Array.of(2))
        return new Uint8Array([...b, ...a])
      },
    ],
    ['random bytes', () => crypto.randomBytes(5000)],
  ]

  it.each(attacks)('after the handshake, %s ends that connection with StreamError and releases nothing', async (_, make) => {
    const x = await handshaken()
    readErrors.length = 0
    // One good frame first: it must come back; nothing after the bad one may.
    await x.c.write(x.encoder.encode(Uint8Array.of(42)))
    expect(x.decoder.push(await x.c.read(35))).toEqual(Uint8Array.of(42))
    await x.c.write(make(x))
    await x.c.closed
    expect(x.c.received()).toBe(64 + 80 + 35)
    expect(readErrors).toHaveLength(1)
    expect(readErrors[0]).toBeInstanceOf(StreamError)
    await stillServes()
  })

  it('EOF without a goodbye ends that connection with StreamError', async () => {
    const x = await handshaken()
    readErrors.length = 0
    await x.c.write(x.encoder.encode(Uint8Array.of(1, 2)))
    x.c.socket.end()
    await x.c.closed
    expect(readErrors).toHaveLength(1)
    expect(readErrors[0]).toBeInstanceOf(StreamError)
    expect(String((readErrors[0] as Error).message)).toMatch(/goodbye/)
  })

  it('many hostile connections at once do not disturb a good one', async () => {
    errors.length = 0
    const bad = Array.from({ length: 30 }, (_, i) => {
      const c = raw(port)
      if (i % 3 === 0) void c.write(crypto.randomBytes(64))
      else if (i % 3 === 1) void c.write(new Uint8Array([...crypto.auth(LOW_ORDER_POINTS[0]!, appKey), ...LOW_ORDER_POINTS[0]!]))
      // else: stall
      return c
    })
    await stillServes()
    await Promise.all(bad.map((c) => c.closed))
    for (const c of bad) expect(c.received()).toBe(0)
    expect(toBase64(serverKeys.publicKey)).toBe(address.split('~shs:')[1])
  })
})
