import { inflateRawSync } from 'node:zlib'
import { LimitError, StreamError, createMultiServer, memoryPair, utf8, type Connection } from '@ms/core'
import { transformSuite } from '@ms/compliance'
import { net } from '@ms/net'
import { SSB_APP_KEY, shs, shsCrypto } from '@ms/shs'
import { describe, expect, it } from 'vitest'
import { deflate } from '../src/index.js'

const keys = () => shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const serverKeys = keys()
const clientKeys = keys()

// The shared behaviour every transform must show, over the in-memory transport...
transformSuite({ name: 'deflate', server: () => [deflate()], client: () => [deflate()] })

// ...and stacked as an outsider would use it: net~shs~deflate.
transformSuite({
  name: 'shs~deflate over net',
  server: () => [shs({ keys: serverKeys, appKey: SSB_APP_KEY }), deflate()],
  client: () => [shs({ keys: clientKeys, appKey: SSB_APP_KEY }), deflate()],
  transport: () => ({ server: net(), client: net() }),
  largeBytes: 4 * 1024 * 1024,
  parallel: 20,
})

async function readText(readable: ReadableStream<Uint8Array>): Promise<string> {
  let text = ''
  const reader = readable.getReader()
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += utf8.decode(r.value)
  return text
}

async function readBytes(readable: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  const reader = readable.getReader()
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value)
  return Buffer.concat(chunks)
}

describe('deflate on the wire', () => {
  it('sends raw DEFLATE (RFC 1951) that zlib decodes, much smaller for repetitive data', async () => {
    const { client, server } = memoryPair()
    const compressed = await deflate().upgradeOutbound(client, {}, {})
    const text = 'the quick brown fox jumps over the lazy dog\n'.repeat(2000)
    const writer = compressed.writable.getWriter()
    const wire = readBytes(server.readable)
    await writer.write(utf8.encode(text))
    await writer.close()
    const bytes = await wire
    expect(bytes.byteLength).toBeLessThan(text.length / 20)
    // An independent decoder (zlib's one-shot API) reads what we sent.
    expect(inflateRawSync(bytes).toString('utf8')).toBe(text)
    await compressed.close()
  })

  it('flushes every write, so request/response works without closing', async () => {
    const { client, server } = memoryPair()
    const [a, b] = await Promise.all([deflate().upgradeOutbound(client, {}, {}), deflate().upgradeInbound(server, {})])
    const aw = a.writable.getWriter()
    const br = b.readable.getReader()
    await aw.write(utf8.encode('ping'))
    const got = await br.read()
    expect(utf8.decode(got.value!)).toBe('ping')
    const bw = b.writable.getWriter()
    await bw.write(utf8.encode('pong'))
    const ar = a.readable.getReader()
    expect(utf8.decode((await ar.read()).value!)).toBe('pong')
    await a.close()
  })

  it('fails the readable with StreamError on corrupt input', async () => {
    const { client, server } = memoryPair()
    const b = await deflate().upgradeInbound(server, {})
    const raw = client.writable.getWriter()
    await raw.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]))
    await expect(b.readable.getReader().read()).rejects.toBeInstanceOf(StreamError)
    await client.close()
  })

  it('refuses a chunk that inflates past maxInflate with LimitError', async () => {
    const { client, server } = memoryPair()
    const a = await deflate().upgradeOutbound(client, {}, {})
    const b = await deflate({ maxInflate: 1024 }).upgradeInbound(server, {})
    const writer = a.writable.getWriter()
    void writer.write(new Uint8Array(1024 * 1024)).catch(() => {})
    await expect(b.readable.getReader().read()).rejects.toBeInstanceOf(LimitError)
    await a.close()
  })

  it('stacks as net~shs~deflate: advertised, dialled, and visible in remoteAddress and info', async () => {
    const server = createMultiServer([[net(), shs({ keys: serverKeys, appKey: SSB_APP_KEY }), deflate()]])
    const listener = await server.listen((c: Connection) => void c.readable.pipeTo(c.writable).catch(() => c.close()))
    try {
      const address = server.stringify('device')
      expect(address).toMatch(/^net:127\.0\.0\.1:\d+~shs:[A-Za-z0-9+/]{43}=~deflate$/)
      const client = createMultiServer([[net(), shs({ keys: clientKeys, appKey: SSB_APP_KEY }), deflate({ level: 9 })]])
      const c = await client.connect(address)
      expect(c.remoteAddress).toBe(address)
      expect(c.info.deflate).toEqual({ level: 9 })
      expect(c.info.shs?.publicKey).toEqual(serverKeys.publicKey)
      const writer = c.writable.getWriter()
      await writer.write(utf8.encode('compressed and encrypted'))
      await writer.close()
      expect(await readText(c.readable)).toBe('compressed and encrypted')
      await c.close()
    } finally {
      await listener.close()
    }
  })

  it('parses only a bare deflate segment and rejects bad options', () => {
    const t = deflate()
    expect(t.parse({ name: 'deflate', data: [] })).toEqual({})
    expect(t.parse({ name: 'deflate', data: ['9'] })).toBeNull()
    expect(t.parse({ name: 'gzip', data: [] })).toBeNull()
    expect(() => deflate({ level: 10 })).toThrow(TypeError)
  })
})
