import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { HandshakeError, StreamError, memoryPair, type Connection } from '@ms/core'
import { backends } from './backends.js'

const HELLO = Uint8Array.of(0x6d, 0x73, 0x01, 0x01)
const concat = (parts: readonly Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) out.set(p, o), (o += p.length)
  return out
}

/** Splits `bytes` at the given cut points (taken modulo its length). */
function chunks(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let last = 0
  for (const p of [...points, bytes.length]) {
    if (p > last) out.push(bytes.slice(last, p))
    last = p
  }
  return out
}

/** A mutation of a message: one flipped bit, a truncation, or extra bytes. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('grow' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
)
type Mutation = { kind: 'flip'; at: number; bit: number } | { kind: 'cut'; at: number } | { kind: 'grow'; extra: Uint8Array }
function mutate(msg: Uint8Array, m: Mutation): Uint8Array {
  if (m.kind === 'flip') {
    const out = Uint8Array.from(msg)
    out[m.at % out.length]! ^= 1 << m.bit
    return out
  }
  if (m.kind === 'cut') return msg.slice(0, m.at % msg.length)
  return concat([msg, m.extra])
}

describe.each(backends)('fuzz ($name)', ({ name, mod }) => {
  const crypto = mod.noiseCrypto
  const h = mod.handshake
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  // Pure-JS Ed25519 costs milliseconds per step: fewer runs there.
  const runs = name === 'noble' ? 12 : 60

  it('any change to msg1 is refused by the server with HandshakeError{msg1}, and nothing else is thrown', () => {
    fc.assert(
      fc.property(mutation, fc.boolean(), (m, withNetworkKey) => {
        const prologue = withNetworkKey ? new Uint8Array(32).fill(9) : undefined
        const client = h.createHandshakeState({ crypto, initiator: true, local: clientKeys, remotePublicKey: serverKeys.publicKey, prologue })
        const server = h.createHandshakeState({ crypto, initiator: false, local: serverKeys, prologue })
        const msg1 = mutate(h.writeMessage1(client, HELLO), m)
        let error: unknown
        try {
          h.readMessage1(server, msg1)
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(HandshakeError)
        expect((error as HandshakeError).stage).toBe('msg1')
      }),
      { numRuns: runs },
    )
  })

  it('any change to msg2 is refused by the client with HandshakeError{msg2}', () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const client = h.createHandshakeState({ crypto, initiator: true, local: clientKeys, remotePublicKey: serverKeys.publicKey })
        const server = h.createHandshakeState({ crypto, initiator: false, local: serverKeys })
        h.readMessage1(server, h.writeMessage1(client, HELLO))
        const msg2 = mutate(h.writeMessage2(server, HELLO), m)
        let error: unknown
        try {
          h.readMessage2(client, msg2)
        } catch (e) {
          error = e
        }
        expect(error).toBeInstanceOf(HandshakeError)
        expect((error as HandshakeError).stage).toBe('msg2')
      }),
      { numRuns: runs },
    )
  })

  /** A wire: the header message, some messages, then FINAL; with the plaintext of each message. */
  function wire(messages: Uint8Array[]) {
    const key = crypto.randomBytes(32)
    const id = crypto.randomBytes(32)
    const encoder = new mod.SecretStreamEncoder(crypto, key, id)
    const parts = [encoder.headerMessage, ...messages.map((m) => encoder.encode(m)), encoder.final()]
    // Where each message starts and ends on the wire (index 0: the header).
    const bounds: [number, number][] = []
    let o = 0
    for (const p of parts) bounds.push([o, (o += p.length)])
    return { bytes: concat(parts), bounds, decoder: () => new mod.SecretStreamDecoder(crypto, Uint8Array.from(key), id) }
  }

  const plaintexts = fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 })

  it('every chunk boundary: the decoder gives back exactly the plaintext and ends on FINAL', () => {
    fc.assert(
      fc.property(plaintexts, fc.array(fc.nat(), { maxLength: 40 }), (messages, cuts) => {
        const w = wire(messages)
        const decoder = w.decoder()
        const out: Uint8Array[] = []
        for (const chunk of chunks(w.bytes, cuts)) decoder.push(chunk, (p) => out.push(Uint8Array.from(p)))
        expect(Buffer.from(concat(out)).equals(Buffer.from(concat(messages)))).toBe(true)
        expect(decoder.ended).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('a flipped bit anywhere, any chunking: only whole messages before it are released, then StreamError (or a wait, never an end)', () => {
    fc.assert(
      fc.property(plaintexts, fc.array(fc.nat(), { maxLength: 20 }), fc.nat(), fc.nat(7), (messages, cuts, at, bit) => {
        const w = wire(messages)
        const pos = at % w.bytes.length
        const bad = Uint8Array.from(w.bytes)
        bad[pos]! ^= 1 << bit
        const hit = w.bounds.findIndex(([s, e]) => pos >= s && pos < e)
        const decoder = w.decoder()
        const out: Uint8Array[] = []
        let error: unknown
        try {
          for (const chunk of chunks(bad, cuts)) decoder.push(chunk, (p) => out.push(Uint8Array.from(p)))
        } catch (e) {
          error = e
        }
        // Messages 1..hit-1 (bounds index 0 is the header) are the most that may come out.
        const allowed = concat(messages.slice(0, Math.max(0, hit - 1)))
        const got = concat(out)
        expect(got.length).toBeLessThanOrEqual(allowed.length)
        expect(Buffer.from(got).equals(Buffer.from(allowed.subarray(0, got.length)))).toBe(true)
        expect(decoder.ended).toBe(false)
        if (error !== undefined) expect(error).toBeInstanceOf(StreamError)
        // A changed length can only make the decoder wait for bytes that never come.
        else expect(decoder.atBoundary).toBe(false)
      }),
      { numRuns: 300 },
    )
  })

  it('the transform over inner streams that deliver every byte at arbitrary boundaries, both directions', async () => {
    const client = mod.noise({ keys: clientKeys })
    const server = mod.noise({ keys: serverKeys })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 5000 }), async (sizes, data) => {
        const pair = memoryPair()
        const [c, s] = await Promise.all([
          client.upgradeOutbound(rechunk(pair.client, sizes), { publicKey: serverKeys.publicKey }, {}),
          server.upgradeInbound(rechunk(pair.server, sizes), {}),
        ])
        const reading = readAll(s.readable)
        const w = c.writable.getWriter()
        await w.write(data)
        await w.close()
        expect(Buffer.from(await reading).equals(Buffer.from(data))).toBe(true)
        const back = readAll(c.readable)
        const sw = s.writable.getWriter()
        await sw.write(data)
        await sw.close()
        expect(Buffer.from(await back).equals(Buffer.from(data))).toBe(true)
        await Promise.all([c.close(), s.close()])
      }),
      { numRuns: name === 'noble' ? 8 : 30 },
    )
  })
})

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of readable) parts.push(Uint8Array.from(c))
  return concat(parts)
}

/** The connection with its incoming bytes re-cut into pieces of the given sizes (cycling). */
function rechunk(connection: Connection, sizes: number[]): Connection {
  let i = 0
  const readable = connection.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        for (let o = 0; o < chunk.length; ) {
          const n = sizes[i++ % sizes.length]!
          controller.enqueue(chunk.slice(o, o + n))
          o += n
        }
      },
    }),
  )
  return { ...connection, readable, writable: connection.writable, takeChannel: undefined, close: connection.close, closed: connection.closed }
}
