import { describe, expect, it } from 'vitest'
import { firstDifference, transportSuite } from '@ms/compliance'
import {
  appendSegment,
  createMultiServer,
  memory,
  memoryPair,
  throwIfAborted,
  writeOrAbort,
  type Connection,
  type Segment,
  type Transform,
  type UpgradeOptions,
} from '@ms/core'
import { net } from '@ms/net'
import { shs, shsCrypto } from '@ms/shs/sodium'

// A plugin is written on WHATWG streams or on the byte channel, never both;
// @ms/core bridges the two. shs is a channel plugin; rot13 below is the
// top-level README's streams-only transform, as a third party writes it.
// Stacked under shs, shs runs on the channel bridged over rot13's streams;
// stacked over shs, rot13 reads shs's lazy streams. Both orders, over a
// transport with a channel of its own (net) and one without (mem).

const rotate = (bytes: Uint8Array) =>
  bytes.map((b) => (b >= 65 && b <= 90 ? ((b - 52) % 26) + 65 : b >= 97 && b <= 122 ? ((b - 84) % 26) + 97 : b))

function rot13(): Transform<Record<string, never>> {
  async function upgrade(inner: Connection, { signal }: UpgradeOptions = {}): Promise<Connection> {
    throwIfAborted(signal, inner.remoteAddress)
    const writer = inner.writable.getWriter()
    return {
      readable: inner.readable.pipeThrough(new TransformStream({ transform: (chunk, c) => c.enqueue(rotate(chunk)) })),
      writable: new WritableStream({
        write: (chunk, c) => writeOrAbort(writer.write(rotate(chunk)), c, (reason) => void writer.abort(reason).catch(() => {})),
        close: () => writer.close(),
        // An abort reaches the peer as an error (the Connection contract), not as close()'s end.
        abort: (reason) => writer.abort(reason),
      }),
      remoteAddress: appendSegment(inner.remoteAddress, { name: 'rot13', data: [] }),
      direction: inner.direction,
      info: inner.info,
      close: (reason) => inner.close(reason),
      closed: inner.closed,
    }
  }
  return {
    name: 'rot13',
    parse: (segment: Segment) => (segment.name === 'rot13' && segment.data.length === 0 ? {} : null),
    advertise: () => ({ name: 'rot13', data: [] }),
    upgradeOutbound: (connection, _options, options) => upgrade(connection, options),
    upgradeInbound: (connection, options) => upgrade(connection, options),
  }
}

const appKey = shsCrypto.randomBytes(32)
const serverKeys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const clientKeys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const serverShs = () => shs({ keys: serverKeys, appKey })
const clientShs = () => shs({ keys: clientKeys, appKey })
const sizes = { largeBytes: 4 * 1024 * 1024, parallel: 25 }

const transports = [
  { name: 'net', server: () => net({ host: '127.0.0.1' }), client: () => net() },
  { name: 'mem', server: () => memory(), client: () => memory() },
]

for (const t of transports) {
  transportSuite({
    name: `${t.name}~rot13~shs (shs on the channel bridged over a streams transform)`,
    server: () => [t.server(), rot13(), serverShs()],
    client: () => [t.client(), rot13(), clientShs()],
    // shs on top offers its own channel, whatever is below it.
    channel: true,
    ...sizes,
  })

  transportSuite({
    name: `${t.name}~shs~rot13 (a streams transform over shs's lazy streams)`,
    server: () => [t.server(), serverShs(), rot13()],
    client: () => [t.client(), clientShs(), rot13()],
    channel: false,
    ...sizes,
  })
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of readable) parts.push(chunk)
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) out.set(p, (offset += p.length) - p.length)
  return out
}

describe('stacking streams and channel plugins', () => {
  it('net~rot13~shs~rot13: the two kinds alternate, end to end through a MultiServer', async () => {
    const server = createMultiServer([[net({ host: '127.0.0.1' }), rot13(), serverShs(), rot13()]])
    const client = createMultiServer([[net(), rot13(), clientShs(), rot13()]])
    let accept!: (c: Connection) => void
    const got = new Promise<Connection>((resolve) => (accept = resolve))
    const listener = await server.listen((c) => accept(c))
    try {
      const address = server.stringify('device')!
      expect(address).toMatch(/^net:127\.0\.0\.1:\d+~rot13~shs:[A-Za-z0-9+/]{43}=~rot13$/)
      const c = await client.connect(address)
      const s = await got
      expect(c.remoteAddress).toMatch(/~rot13~shs:[A-Za-z0-9+/]{43}=~rot13$/)
      expect(s.info.shs?.publicKey).toEqual(clientKeys.publicKey)
      const text = new TextEncoder().encode('Hello, stacked world')
      const w = c.writable.getWriter()
      await w.write(text)
      await w.close()
      expect(new TextDecoder().decode(await readAll(s.readable))).toBe('Hello, stacked world')
      await s.writable.close()
      expect((await readAll(c.readable)).length).toBe(0)
      await Promise.all([c.close(), s.close()])
    } finally {
      await listener.close()
    }
  })

  it('shs over rot13 over mem puts rot13 of shs frames on the wire (the bridge carries the bytes unchanged)', async () => {
    const { client, server } = memoryPair()
    // Record the raw bytes the client side sends, under rot13.
    const wire: Uint8Array[] = []
    const tap: Connection = {
      ...client,
      readable: client.readable,
      writable: new WritableStream<Uint8Array>({
        async write(chunk) {
          wire.push(chunk.slice())
          await writer.write(chunk)
        },
        close: () => writer.close(),
        abort: (reason) => client.close(reason),
      }),
    }
    const writer = client.writable.getWriter()
    const [c, s] = await Promise.all([
      rot13()
        .upgradeOutbound(tap, {}, {})
        .then((r) => clientShs().upgradeOutbound(r, { publicKey: serverKeys.publicKey }, {})),
      rot13()
        .upgradeInbound(server, {})
        .then((r) => serverShs().upgradeInbound(r, {})),
    ])
    const message = new TextEncoder().encode('plain text never reaches the wire')
    const w = c.writable.getWriter()
    await w.write(message)
    await w.close()
    expect(firstDifference(await readAll(s.readable), message)).toBeNull()
    // The handshake and the box-stream went through rot13 both ways (shs
    // verified every byte), and the plaintext is on the wire in neither form.
    const flat = Buffer.concat(wire)
    expect(flat.length).toBeGreaterThan(64 + 112 + message.length)
    expect(flat.includes(Buffer.from(message))).toBe(false)
    expect(flat.includes(Buffer.from(rotate(message)))).toBe(false)
    await Promise.all([c.close(), s.close()])
  })

  it('shs over a bridged connection without half-close (like Tor) keeps it open until the peer said goodbye', async () => {
    const { client, server } = memoryPair()
    const [c, s] = await Promise.all([
      clientShs().upgradeOutbound(torLike(client), { publicKey: serverKeys.publicKey }, {}),
      serverShs().upgradeInbound(torLike(server), {}),
    ])
    // The client ends first; the server still answers, and the answer
    // arrives: had the client's shs closed its inner writable at once, that
    // would have ended its reading too, and the answer would be lost.
    const cw = c.writable.getWriter()
    await cw.write(new TextEncoder().encode('question'))
    await cw.close()
    expect(new TextDecoder().decode(await readAll(s.readable))).toBe('question')
    const answer = shsCrypto.randomBytes(300_000)
    const sw = s.writable.getWriter()
    const reading = readAll(c.readable)
    await sw.write(answer)
    await sw.close()
    expect(firstDifference(await reading, answer)).toBeNull()
    await Promise.all([c.close(), s.close()])
  })
})

/**
 * A streams connection with Tor's rule: closing the writable sends what was
 * written, then ends both directions (our readable ends, the peer's writes
 * go nowhere). `halfClose: false` says so.
 */
function torLike(inner: Connection): Connection {
  const writer = inner.writable.getWriter()
  const reader = inner.readable.getReader()
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let ended = false
  const endReading = () => {
    if (ended) return
    ended = true
    reader.cancel().catch(() => {})
    try {
      readController.close()
    } catch {
      // already closed or errored
    }
  }
  return {
    readable: new ReadableStream<Uint8Array>(
      {
        start: (c) => void (readController = c),
        async pull(c) {
          const r = await reader.read()
          if (ended) return
          if (r.done) {
            ended = true
            c.close()
          } else c.enqueue(r.value)
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    ),
    writable: new WritableStream<Uint8Array>({
      write: (chunk) => writer.write(chunk),
      async close() {
        await writer.close()
        endReading()
      },
      abort: (reason) => inner.close(reason),
    }),
    remoteAddress: inner.remoteAddress,
    direction: inner.direction,
    info: inner.info,
    close: (reason) => inner.close(reason),
    closed: inner.closed,
    halfClose: false,
  }
}
