/**
 * Fuzzing @ms/shs with fast-check: the box-stream decoder and each
 * handshake step, fed arbitrary bytes at arbitrary chunk boundaries. The
 * same bytes split any way must give the same result; hostile input must
 * only ever produce typed errors (StreamError / HandshakeError) and must
 * never release a byte that did not verify.
 */
import { ChannelReader, HandshakeError, MsError, StreamError, channelOf, connectionFromChannel, type Connection } from '@ms/core'
import { BoxDecoder, BoxEncoder, boxChannel, handshake, shs, shsCrypto } from '@ms/shs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const crypto = shsCrypto
const RUNS = Number(process.env.FUZZ_RUNS ?? 150)

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 })

/** Splits `data` at the given cut points (any values; reduced modulo the length). */
function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (data.length === 0 ? 0 : c % (data.length + 1))))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let from = 0
  for (const p of points) {
    out.push(data.subarray(from, p))
    from = p
  }
  out.push(data.subarray(from))
  return out
}

function concat(list: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(list))
}

interface DecodeOutcome {
  plain: Uint8Array
  ended: boolean
  error: string | undefined
}

/** Feeds chunks to a fresh decoder; records the plaintext released, the end, and the first error. */
function decode(key: Uint8Array, nonce: Uint8Array, chunks: Uint8Array[]): DecodeOutcome {
  const decoder = new BoxDecoder(crypto, key, nonce)
  const plain: Uint8Array[] = []
  let error: string | undefined
  for (const chunk of chunks) {
    try {
      plain.push(decoder.push(chunk).slice())
    } catch (e) {
      // Only ever a StreamError, and the decoder stays failed afterwards.
      expect(e).toBeInstanceOf(StreamError)
      error = (e as Error).message
      expect(() => decoder.push(new Uint8Array(1))).toThrow(StreamError)
      break
    }
  }
  return { plain: concat(plain), ended: decoder.ended, error }
}

function isPrefix(a: Uint8Array, b: Uint8Array): boolean {
  return a.length <= b.length && Buffer.from(a).equals(Buffer.from(b.subarray(0, a.length)))
}

/** A box stream of `messages`, with or without its goodbye. */
function encodeStream(key: Uint8Array, nonce: Uint8Array, messages: Uint8Array[], goodbye: boolean): Uint8Array {
  const encoder = new BoxEncoder(crypto, key, nonce)
  const parts = messages.map((m) => encoder.encode(m))
  if (goodbye) parts.push(encoder.goodbye())
  return concat(parts)
}

const messages = fc.array(fc.uint8Array({ minLength: 0, maxLength: 9000 }), { maxLength: 5 })
const cuts = fc.array(fc.nat(), { maxLength: 12 })

describe('box-stream decoder', () => {
  it('decodes a valid stream identically however it is split', () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ minLength: 24, maxLength: 24 }), messages, fc.boolean(), cuts, (key, nonce, msgs, goodbye, cutPoints) => {
        const wire = encodeStream(key, nonce, msgs, goodbye)
        const whole = decode(key, nonce, [wire])
        const pieces = decode(key, nonce, split(wire, cutPoints))
        const bytewise = decode(key, nonce, split(wire, Array.from({ length: wire.length }, (_, i) => i)))
        const expected = concat(msgs)
        for (const outcome of [whole, pieces, bytewise]) {
          expect(outcome.error).toBeUndefined()
          expect(outcome.ended).toBe(goodbye)
          expect(Buffer.from(outcome.plain).equals(Buffer.from(expected))).toBe(true)
        }
      }),
      { numRuns: RUNS / 3 },
    )
  })

  it('fails the same way however corrupted input is split, and releases only verified bytes', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), junk: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
      fc.record({ kind: fc.constant('swapFrames' as const) }),
    )
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ minLength: 24, maxLength: 24 }), messages, fc.boolean(), mutation, cuts, (key, nonce, msgs, goodbye, m, cutPoints) => {
        const original = encodeStream(key, nonce, msgs, goodbye)
        let wire: Uint8Array
        if (m.kind === 'flip') {
          if (original.length === 0) return
          wire = original.slice()
          const at = m.at % original.length
          wire[at]! ^= 1 << m.bit
        } else if (m.kind === 'truncate') {
          wire = original.subarray(0, m.at % (original.length + 1))
        } else if (m.kind === 'insert') {
          const at = m.at % (original.length + 1)
          wire = concat([original.subarray(0, at), m.junk, original.subarray(at)])
        } else {
          // Two separately encoded streams, second first: reordered frames.
          const encoder = new BoxEncoder(crypto, key, nonce)
          const a = encoder.encode(new Uint8Array(10).fill(1))
          const b = encoder.encode(new Uint8Array(10).fill(2))
          wire = concat([b, a])
        }
        const expected = m.kind === 'swapFrames' ? new Uint8Array(0) : concat(msgs)
        const whole = decode(key, nonce, [wire])
        const pieces = decode(key, nonce, split(wire, cutPoints))
        // Same verdict, same error, same end however the bytes were split.
        expect(pieces.error).toBe(whole.error)
        expect(pieces.ended).toBe(whole.ended)
        for (const outcome of [whole, pieces]) {
          // Nothing unverified is ever released: what came out is a prefix of what went in.
          expect(isPrefix(outcome.plain, expected)).toBe(true)
        }
        if (whole.error === undefined && pieces.error === undefined) {
          expect(Buffer.from(pieces.plain).equals(Buffer.from(whole.plain))).toBe(true)
        }
      }),
      { numRuns: RUNS },
    )
  })

  it('rejects arbitrary bytes under any split with the same StreamError (or waits for more)', () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.uint8Array({ maxLength: 5000 }), cuts, (key, nonce, junk, cutPoints) => {
        const whole = decode(key, nonce, [junk])
        const pieces = decode(key, nonce, split(junk, cutPoints))
        expect(pieces).toEqual(whole)
        // Random bytes never authenticate: no plaintext, no goodbye.
        expect(whole.plain.length).toBe(0)
        expect(whole.ended).toBe(false)
        if (junk.length >= 34) expect(whole.error).toBeDefined()
        else expect(whole.error).toBeUndefined()
      }),
      { numRuns: RUNS },
    )
  })
})

describe('box-stream decrypting side (box channel, bridged over a stream)', () => {
  /** Reads everything; returns the plaintext and how the stream ended. */
  async function drain(chunks: Uint8Array[], key: Uint8Array, nonce: Uint8Array) {
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        // Copies: a Connection's chunks belong to its reader, and the decrypting side decrypts inside them.
        for (const c of chunks) if (c.length > 0) controller.enqueue(c.slice())
        controller.close()
      },
    })
    // box-stream as shs runs it after the handshake: on the channel bridged over the source.
    const inner = channelOf({ readable: source, writable: new WritableStream(), remoteAddress: 'fuzz', direction: 'inbound', info: {}, close: async () => {}, closed: new Promise(() => {}) })
    const box = boxChannel({ inner, reader: new ChannelReader(inner, { address: 'fuzz' }), decoder: new BoxDecoder(crypto, key, nonce), encoder: new BoxEncoder(crypto, key, nonce), address: 'fuzz' })
    const reader = connectionFromChannel(box, { remoteAddress: 'fuzz', direction: 'inbound' }).readable.getReader()
    const out: Uint8Array[] = []
    for (;;) {
      try {
        const { done, value } = await reader.read()
        if (done) return { plain: concat(out), end: 'clean' }
        out.push(value)
      } catch (e) {
        expect(e).toBeInstanceOf(StreamError)
        return { plain: concat(out), end: 'error' }
      }
    }
  }

  it('ends cleanly only at a goodbye, errors on truncation, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(bytes32, fc.uint8Array({ minLength: 24, maxLength: 24 }), messages, fc.boolean(), fc.nat(), cuts, async (key, nonce, msgs, goodbye, cutAt, cutPoints) => {
        const full = encodeStream(key, nonce, msgs, goodbye)
        const expected = concat(msgs)
        const whole = await drain([full], key, nonce)
        const pieces = await drain(split(full, cutPoints), key, nonce)
        expect(pieces.end).toBe(whole.end)
        expect(whole.end).toBe(goodbye ? 'clean' : 'error')
        for (const r of [whole, pieces]) expect(Buffer.from(r.plain).equals(Buffer.from(expected))).toBe(true)
        // Cut anywhere before the end of the goodbye: never a clean end.
        if (full.length > 0) {
          const truncated = full.subarray(0, cutAt % full.length)
          const t = await drain(split(truncated, cutPoints), key, nonce)
          expect(t.end).toBe('error')
          expect(isPrefix(t.plain, expected)).toBe(true)
        }
      }),
      { numRuns: RUNS / 3 },
    )
  })
})

// ---------------------------------------------------------------- handshake steps

const appKeyArb = bytes32
const seedArb = bytes32

function keyPair(seed: Uint8Array) {
  return crypto.signKeypairFromSeed(seed)
}

/** Runs a full handshake with fixed inputs and returns each message on the wire. */
function honest(appKey: Uint8Array, serverSeed: Uint8Array, clientSeed: Uint8Array) {
  const server = keyPair(serverSeed)
  const client = keyPair(clientSeed)
  const c = handshake.createHandshakeState({ crypto, appKey, local: client, remotePublicKey: server.publicKey })
  const s = handshake.createHandshakeState({ crypto, appKey, local: server })
  const msg1 = handshake.createChallenge(c)
  handshake.verifyChallenge(s, msg1, 'msg1')
  const msg2 = handshake.createChallenge(s)
  handshake.verifyChallenge(c, msg2, 'msg2')
  const msg3 = handshake.clientCreateAuth(c)
  handshake.serverVerifyAuth(s, msg3)
  const msg4 = handshake.serverCreateAccept(s)
  handshake.clientVerifyAccept(c, msg4)
  return { server, client, c, s, msg1, msg2, msg3, msg4 }
}

/** Runs `fn` and returns the HandshakeError stage it threw, or 'ok'. Anything else fails the test. */
function stageOf(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (e) {
    expect(e).toBeInstanceOf(HandshakeError)
    return (e as HandshakeError).stage ?? 'none'
  }
}

describe('handshake steps on arbitrary bytes', () => {
  it('server msg1: arbitrary bytes fail with HandshakeError msg1', () => {
    fc.assert(
      fc.property(appKeyArb, seedArb, fc.uint8Array({ maxLength: 200 }), (appKey, seed, junk) => {
        const s = handshake.createHandshakeState({ crypto, appKey, local: keyPair(seed) })
        expect(stageOf(() => handshake.verifyChallenge(s, junk, 'msg1'))).toBe('msg1')
      }),
      { numRuns: RUNS },
    )
  })

  it('msg1 with a valid HMAC over a low-order key fails with HandshakeError msg1', () => {
    const lowOrder = [new Uint8Array(32), Uint8Array.from([1, ...new Array(31).fill(0)]), Uint8Array.from([0xec, ...new Array(30).fill(0xff), 0x7f])]
    fc.assert(
      fc.property(appKeyArb, seedArb, fc.constantFrom(...lowOrder), (appKey, seed, point) => {
        const s = handshake.createHandshakeState({ crypto, appKey, local: keyPair(seed) })
        const msg1 = concat([crypto.auth(point, appKey), point])
        expect(stageOf(() => handshake.verifyChallenge(s, msg1, 'msg1'))).toBe('msg1')
      }),
      { numRuns: 30 },
    )
  })

  it('client msg2, server msg3 and client msg4: arbitrary or bit-flipped input fails at that stage', () => {
    fc.assert(
      fc.property(
        appKeyArb,
        seedArb,
        seedArb,
        fc.constantFrom('msg2' as const, 'msg3' as const, 'msg4' as const),
        fc.oneof(fc.record({ junk: fc.uint8Array({ maxLength: 200 }) }), fc.record({ flipAt: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) })),
        (appKey, serverSeed, clientSeed, step, input) => {
          const server = keyPair(serverSeed)
          const client = keyPair(clientSeed)
          const c = handshake.createHandshakeState({ crypto, appKey, local: client, remotePublicKey: server.publicKey })
          const s = handshake.createHandshakeState({ crypto, appKey, local: server })
          const msg1 = handshake.createChallenge(c)
          handshake.verifyChallenge(s, msg1, 'msg1')
          const msg2 = handshake.createChallenge(s)
          const mutate = (valid: Uint8Array) => {
            if ('junk' in input) return input.junk
            const out = valid.slice()
            out[input.flipAt % out.length]! ^= 1 << input.bit
            return out
          }
          if (step === 'msg2') {
            expect(stageOf(() => handshake.verifyChallenge(c, mutate(msg2), 'msg2'))).toBe('msg2')
            return
          }
          handshake.verifyChallenge(c, msg2, 'msg2')
          const msg3 = handshake.clientCreateAuth(c)
          if (step === 'msg3') {
            expect(stageOf(() => handshake.serverVerifyAuth(s, mutate(msg3)))).toBe('msg3')
            return
          }
          handshake.serverVerifyAuth(s, msg3)
          const msg4 = handshake.serverCreateAccept(s)
          expect(stageOf(() => handshake.clientVerifyAccept(c, mutate(msg4)))).toBe('msg4')
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('steps called out of order fail with HandshakeError, never a TypeError', () => {
    fc.assert(
      fc.property(appKeyArb, seedArb, fc.uint8Array({ minLength: 112, maxLength: 112 }), fc.uint8Array({ minLength: 80, maxLength: 80 }), (appKey, seed, m3, m4) => {
        const s = handshake.createHandshakeState({ crypto, appKey, local: keyPair(seed) })
        const c = handshake.createHandshakeState({ crypto, appKey, local: keyPair(seed), remotePublicKey: keyPair(seed).publicKey })
        expect(stageOf(() => handshake.serverVerifyAuth(s, m3))).not.toBe('ok')
        expect(stageOf(() => handshake.serverCreateAccept(s))).not.toBe('ok')
        expect(stageOf(() => handshake.clientVerifyAccept(c, m4))).not.toBe('ok')
        expect(stageOf(() => handshake.clientCreateAuth(c))).not.toBe('ok')
        expect(stageOf(() => handshake.sessionKeys(s))).not.toBe('ok')
      }),
      { numRuns: 40 },
    )
  })

  it('an honest handshake agrees on keys (sanity for the properties above)', () => {
    fc.assert(
      fc.property(appKeyArb, seedArb, seedArb, (appKey, a, b) => {
        const h = honest(appKey, a, b)
        const ck = handshake.sessionKeys(h.c)
        const sk = handshake.sessionKeys(h.s)
        expect(Buffer.from(ck.encryptKey).equals(Buffer.from(sk.decryptKey))).toBe(true)
        expect(Buffer.from(ck.decryptNonce).equals(Buffer.from(sk.encryptNonce))).toBe(true)
      }),
      { numRuns: 30 },
    )
  })
})

// ---------------------------------------------------------------- the transform over split I/O

/**
 * A connection whose inbound bytes we push in whatever chunks we like and
 * whose outbound bytes we collect: the shs transform sees exactly the
 * chunk boundaries the property chose.
 */
function scripted() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const readable = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
  const written: Uint8Array[] = []
  let wake: (() => void) | undefined
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      written.push(chunk.slice())
      wake?.()
    },
  })
  let closedResolve!: () => void
  const closed = new Promise<void>((r) => (closedResolve = r))
  const connection: Connection = {
    readable,
    writable,
    remoteAddress: 'mem:fuzz',
    direction: 'inbound',
    info: {},
    closed,
    close: async () => {
      try {
        controller.error(new StreamError('closed'))
      } catch {}
      closedResolve()
    },
  }
  return {
    connection,
    push: (chunks: Uint8Array[]) => chunks.forEach((c) => c.length > 0 && controller.enqueue(c)),
    end: () => controller.close(),
    /** Resolves with the first `n` bytes the transform wrote. */
    async take(n: number): Promise<Uint8Array> {
      for (;;) {
        const all = concat(written)
        if (all.length >= n) return all.subarray(0, n)
        await new Promise<void>((r) => (wake = r))
      }
    },
  }
}

describe('shs transform (server side) over arbitrarily split input', () => {
  it('accepts an honest client however its bytes are split, and learns its key', async () => {
    await fc.assert(
      fc.asyncProperty(appKeyArb, seedArb, seedArb, cuts, cuts, async (appKey, serverSeed, clientSeed, cuts1, cuts3) => {
        const server = keyPair(serverSeed)
        const t = shs({ keys: server, appKey, timeout: 5000 })
        const io = scripted()
        const upgraded = t.upgradeInbound(io.connection, {})
        const c = handshake.createHandshakeState({ crypto, appKey, local: keyPair(clientSeed), remotePublicKey: server.publicKey })
        io.push(split(handshake.createChallenge(c), cuts1))
        handshake.verifyChallenge(c, await io.take(64), 'msg2')
        io.push(split(handshake.clientCreateAuth(c), cuts3))
        const connection = await upgraded
        expect(Buffer.from(connection.info.shs!.publicKey).equals(Buffer.from(keyPair(clientSeed).publicKey))).toBe(true)
        handshake.clientVerifyAccept(c, (await io.take(144)).subarray(64))
        await io.connection.close()
      }),
      { numRuns: 25 },
    )
  })

  it('rejects arbitrary bytes with the same typed error however they are split', async () => {
    await fc.assert(
      fc.asyncProperty(appKeyArb, seedArb, fc.uint8Array({ maxLength: 300 }), cuts, async (appKey, seed, junk, cutPoints) => {
        const outcome = async (chunks: Uint8Array[]) => {
          const t = shs({ keys: keyPair(seed), appKey, timeout: 5000 })
          const io = scripted()
          const upgraded = t.upgradeInbound(io.connection, {})
          io.push(chunks)
          io.end()
          try {
            await upgraded
            return 'accepted'
          } catch (e) {
            expect(e).toBeInstanceOf(MsError)
            return `${(e as Error).name}/${(e as HandshakeError).stage}`
          } finally {
            await io.connection.close()
          }
        }
        const whole = await outcome([junk])
        const pieces = await outcome(split(junk, cutPoints))
        expect(pieces).toBe(whole)
        expect(whole).toBe('HandshakeError/msg1')
      }),
      { numRuns: RUNS / 3 },
    )
  })
})
