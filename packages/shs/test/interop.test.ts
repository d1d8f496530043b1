import { afterEach, describe, expect, it } from 'vitest'
import { HandshakeError, MsError, createMultiServer, toBase64, type Connection } from '@ms/core'
import { net } from '@ms/net'
import { backends } from './backends.js'
import { byteDiff } from './bytes.js'
import { refMultiserverClient, refMultiserverEcho, refShsClient, refShsEchoServer, type RefKeys } from './reference.js'

const MiB = 1024 * 1024

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let n = 0
  for await (const c of readable) parts.push(c), (n += c.length)
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) out.set(p, o), (o += p.length)
  return out
}

/** Writes `data` in uneven pieces, closes (goodbye), and reads everything the peer sends back. */
async function echoRoundTrip(conn: Connection, data: Uint8Array): Promise<Uint8Array> {
  const reading = readAll(conn.readable)
  const w = conn.writable.getWriter()
  for (let o = 0, step = 1; o < data.length; o += step, step = (step * 7 + 1) % 200_000) await w.write(data.subarray(o, o + step))
  await w.close()
  return reading
}

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.allSettled(cleanups.splice(0).map((f) => f()))
})

describe.each(backends)('live interop with the npm reference ($name backend)', ({ mod }) => {
  const crypto = mod.shsCrypto
  const appKey = crypto.randomBytes(32)
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const ref = (k: { publicKey: Uint8Array; secretKey: Uint8Array }): RefKeys => ({ publicKey: Buffer.from(k.publicKey), secretKey: Buffer.from(k.secretKey) })

  function ourClient(options: { appKey?: Uint8Array } = {}) {
    return createMultiServer([[net(), mod.shs({ keys: clientKeys, appKey: options.appKey ?? appKey })]])
  }

  async function ourEchoServer(authorize?: (k: Uint8Array) => unknown, key = appKey) {
    const errors: MsError[] = []
    const ms = createMultiServer([[net({ host: '127.0.0.1' }), mod.shs({ keys: serverKeys, appKey: key, authorize })]])
    const listener = await ms.listen(
      (conn) => {
        conn.readable.pipeTo(conn.writable).catch(() => {})
      },
      { onError: (e) => errors.push(e) },
    )
    cleanups.push(() => listener.close())
    return { address: ms.stringify('device'), errors }
  }

  const waitFor = async (cond: () => boolean, ms = 5000) => {
    const end = Date.now() + ms
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    return cond()
  }

  it('our client <-> npm secret-handshake server: 1 MiB each way', async () => {
    const server = await refShsEchoServer(ref(serverKeys), Buffer.from(appKey))
    cleanups.push(server.close)
    const conn = await ourClient().connect(`net:127.0.0.1:${server.port}~shs:${toBase64(serverKeys.publicKey)}`)
    const data = crypto.randomBytes(MiB + 123)
    expect(byteDiff(await echoRoundTrip(conn, data), data)).toBeNull()
    expect(server.connections.map((c) => toBase64(c.remote))).toEqual([toBase64(clientKeys.publicKey)])
    await conn.close()
  })

  it('npm secret-handshake client <-> our server: 1 MiB each way', async () => {
    const seen: Uint8Array[] = []
    const { address, errors } = await ourEchoServer((k) => seen.push(k))
    const port = Number(address.split('~')[0]!.split(':').pop())
    const data = crypto.randomBytes(MiB + 7)
    const got = await refShsClient(port, ref(clientKeys), Buffer.from(appKey), Buffer.from(serverKeys.publicKey), data)
    expect(byteDiff(got, data)).toBeNull()
    expect(seen).toEqual([clientKeys.publicKey])
    expect(errors).toEqual([])
  })

  it('our client <-> npm multiserver net~shs server: 1 MiB each way', async () => {
    const server = await refMultiserverEcho(ref(serverKeys), Buffer.from(appKey))
    cleanups.push(server.close)
    expect(server.address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
    const conn = await ourClient().connect(server.address)
    expect(conn.remoteAddress).toBe(server.address)
    const data = crypto.randomBytes(MiB + 4096)
    expect(byteDiff(await echoRoundTrip(conn, data), data)).toBeNull()
    await conn.close()
  })

  it('npm multiserver net~shs client <-> our server: 1 MiB each way', async () => {
    const { address, errors } = await ourEchoServer()
    const data = crypto.randomBytes(MiB)
    const got = await refMultiserverClient(address, ref(clientKeys), Buffer.from(appKey), data)
    expect(byteDiff(got, data)).toBeNull()
    expect(errors).toEqual([])
  })

  describe('failures on both sides, as the reference fails', () => {
    it('wrong app key, our client: ours fails at msg2, theirs rejects msg1', async () => {
      const server = await refShsEchoServer(ref(serverKeys), Buffer.from(appKey))
      cleanups.push(server.close)
      const error = await ourClient({ appKey: crypto.randomBytes(32) })
        .connect(`net:127.0.0.1:${server.port}~shs:${toBase64(serverKeys.publicKey)}`)
        .then(() => null, (e: unknown) => e)
      expect(error).toBeInstanceOf(HandshakeError)
      expect((error as HandshakeError).stage).toBe('msg2')
      expect(await waitFor(() => server.errors.length === 1)).toBe(true)
    })

    it('wrong app key, their client: ours fails at msg1, theirs errors', async () => {
      const { address, errors } = await ourEchoServer()
      const port = Number(address.split('~')[0]!.split(':').pop())
      await expect(refShsClient(port, ref(clientKeys), Buffer.from(crypto.randomBytes(32)), Buffer.from(serverKeys.publicKey), new Uint8Array(10))).rejects.toBeDefined()
      expect(await waitFor(() => errors.length === 1)).toBe(true)
      expect((errors[0] as HandshakeError).stage).toBe('msg1')
    })

    it('wrong server key, our client: ours fails at msg4, theirs rejects msg3', async () => {
      const server = await refShsEchoServer(ref(serverKeys), Buffer.from(appKey))
      cleanups.push(server.close)
      const wrong = crypto.signKeypairFromSeed(crypto.randomBytes(32)).publicKey
      const error = await ourClient()
        .connect(`net:127.0.0.1:${server.port}~shs:${toBase64(wrong)}`)
        .then(() => null, (e: unknown) => e)
      expect((error as HandshakeError).stage).toBe('msg4')
      expect(await waitFor(() => server.errors.length === 1)).toBe(true)
    })

    it('wrong server key, their client: ours fails at msg3, theirs errors', async () => {
      const { address, errors } = await ourEchoServer()
      const port = Number(address.split('~')[0]!.split(':').pop())
      const wrong = crypto.signKeypairFromSeed(crypto.randomBytes(32)).publicKey
      await expect(refShsClient(port, ref(clientKeys), Buffer.from(appKey), Buffer.from(wrong), new Uint8Array(10))).rejects.toBeDefined()
      expect(await waitFor(() => errors.length === 1)).toBe(true)
      expect((errors[0] as HandshakeError).stage).toBe('msg3')
    })

    it('their authorize rejects our client: ours fails at msg4', async () => {
      const server = await refShsEchoServer(ref(serverKeys), Buffer.from(appKey), (_id, cb) => cb(null, false))
      cleanups.push(server.close)
      const error = await ourClient()
        .connect(`net:127.0.0.1:${server.port}~shs:${toBase64(serverKeys.publicKey)}`)
        .then(() => null, (e: unknown) => e)
      expect((error as HandshakeError).stage).toBe('msg4')
      expect(await waitFor(() => server.errors.length === 1)).toBe(true)
    })

    it('our authorize rejects their client: ours fails at authorize, theirs errors', async () => {
      const { address, errors } = await ourEchoServer(() => false)
      const port = Number(address.split('~')[0]!.split(':').pop())
      await expect(refShsClient(port, ref(clientKeys), Buffer.from(appKey), Buffer.from(serverKeys.publicKey), new Uint8Array(10))).rejects.toBeDefined()
      expect(await waitFor(() => errors.length === 1)).toBe(true)
      expect((errors[0] as HandshakeError).stage).toBe('authorize')
    })
  })
})
