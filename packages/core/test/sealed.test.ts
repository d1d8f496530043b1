import { describe, expect, it } from 'vitest'
import {
  ChannelReader,
  HandshakeError,
  StreamError,
  TimeoutError,
  channelHandshake,
  channelOf,
  connectionFromChannel,
  handshakeOptions,
  memoryPair,
  sealedChannel,
  type Connection,
  type FrameDecoder,
  type FrameEncoder,
  type SealedChannelOptions,
} from '../src/index.js'

/**
 * A toy framed "cipher" (1-byte length, bytes xor 0x55; a 0 length is the
 * end marker), enough to check what sealedChannel adds around any coder:
 * half-close by the marker, truncation, and channelHandshake's
 * staging.
 */
class ToyEncoder implements FrameEncoder {
  encodedLength(length: number): number {
    return length + Math.ceil(length / 255)
  }
  encodeInto(out: Uint8Array, plain: Uint8Array): number {
    let o = 0
    for (let i = 0; i < plain.length; i += 255) {
      const part = plain.subarray(i, i + 255)
      out[o++] = part.length
      for (const b of part) out[o++] = b ^ 0x55
    }
    return o
  }
  endMarker(): Uint8Array {
    return Uint8Array.of(0)
  }
}

class ToyDecoder implements FrameDecoder {
  ended = false
  #left = 0
  get atBoundary(): boolean {
    return this.#left === 0
  }
  pushOwned(chunk: Uint8Array, emit: (plain: Uint8Array) => void): void {
    const out: number[] = []
    for (const b of chunk) {
      if (this.ended) break
      if (this.#left === 0) {
        if (b === 0) this.ended = true
        else this.#left = b
        continue
      }
      out.push(b ^ 0x55)
      this.#left--
    }
    if (out.length > 0) emit(Uint8Array.from(out))
  }
}

function seal(connection: Connection, options: Partial<SealedChannelOptions> = {}): Connection {
  const inner = channelOf(connection)
  const reader = new ChannelReader(inner, { address: connection.remoteAddress })
  const channel = sealedChannel({ inner, reader, decoder: new ToyDecoder(), encoder: new ToyEncoder(), name: 'toy', address: connection.remoteAddress, ...options })
  return connectionFromChannel(channel, { remoteAddress: connection.remoteAddress, direction: connection.direction })
}

async function readAll(connection: Connection): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of connection.readable) chunks.push(chunk)
  return Buffer.concat(chunks).toString()
}

const text = (s: string) => new TextEncoder().encode(s)

describe('sealedChannel', () => {
  it('round-trips both ways, each direction ended by its marker (half-close)', async () => {
    const pair = memoryPair()
    const client = seal(pair.client)
    const server = seal(pair.server)
    const writer = client.writable.getWriter()
    await writer.write(text('hello '.repeat(100)))
    await writer.close()
    expect(await readAll(server)).toBe('hello '.repeat(100))
    // The client's direction ended; the server can still answer.
    const reply = server.writable.getWriter()
    await reply.write(text('bye'))
    await reply.close()
    expect(await readAll(client)).toBe('bye')
    await Promise.all([client.close(), server.close()])
  })

  it('an inner end without the marker fails the reading side as a truncation', async () => {
    const pair = memoryPair()
    const server = seal(pair.server)
    const raw = pair.client.writable.getWriter()
    await raw.write(Uint8Array.of(3, 1 ^ 0x55, 2 ^ 0x55, 3 ^ 0x55))
    await raw.close()
    const error = await readAll(server).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamError)
    expect((error as Error).message).toMatch(/^toy: the connection ended without its end marker \(truncated stream\)/)
    await Promise.all([pair.client.close(), server.close()])
  })
})

describe('channelHandshake', () => {
  const base = { name: 'toy', address: 'mem:peer', timeout: 5000 }

  it('a peer hanging up mid-handshake is a HandshakeError with the stage and its hint', async () => {
    const pair = memoryPair()
    const dialing = channelHandshake(pair.client, { ...base, direction: 'outbound', hints: { 'outbound:reply': 'the server hung up' } }, async (io) => {
      io.write(Uint8Array.of(1))
      return io.read(4, 'reply')
    })
    await pair.server.close()
    const error = await dialing.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HandshakeError)
    expect(error).toMatchObject({ stage: 'reply', message: 'toy: the server hung up' })
    await pair.client.close()
  })

  it('the timeout keeps its type and says where the handshake was', async () => {
    const pair = memoryPair()
    const error = await channelHandshake(pair.client, { ...base, direction: 'outbound', timeout: 50 }, (io) => io.read(4, 'reply')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as Error).message).toMatch(/toy handshake \(outbound, during reply\)/)
    await Promise.all([pair.client.close(), pair.server.close()])
  })

  it('authorize: a falsy result or a throw rejects with stage authorize; a truthy one is returned', async () => {
    const pair = memoryPair()
    const key = Uint8Array.of(1, 2, 3)
    const { result } = await channelHandshake(pair.server, { ...base, direction: 'inbound' }, (io) => io.authorize(() => ({ role: 'admin' }), key, 'mem:peer'))
    expect(result).toEqual({ role: 'admin' })
    for (const authorize of [() => false, () => Promise.reject(new Error('no'))]) {
      const other = memoryPair()
      const error = await channelHandshake(other.server, { ...base, direction: 'inbound' }, (io) => io.authorize(authorize, key, 'mem:peer')).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(HandshakeError)
      expect((error as HandshakeError).stage).toBe('authorize')
      await Promise.all([other.client.close(), other.server.close()])
    }
    await Promise.all([pair.client.close(), pair.server.close()])
  })
})

describe('handshakeOptions', () => {
  it('defaults to accepting everyone within 5 s, and names the transform in its TypeErrors', () => {
    const { authorize, timeout } = handshakeOptions('toy', {})
    expect(authorize(new Uint8Array(32))).toBeTruthy()
    expect(timeout).toBe(5000)
    expect(() => handshakeOptions('toy', { authorize: 'yes' as never })).toThrow(/^toy: authorize must be a function$/)
    expect(() => handshakeOptions('toy', { timeout: 0 })).toThrow(/^toy: timeout must be a positive number of milliseconds, got 0$/)
  })
})
