import { afterEach, describe, expect, it } from 'vitest'
import { HandshakeError, MsError, createMultiServer, toBase64, type Connection } from '@ms/core'
import { echoRoundTrip, firstDifference, readAll, waitUntil } from '@ms/compliance'
import { net } from '@ms/net'
import { backends } from './backends.js'
import { refMultiserverClient, refMultiserverEcho, refShsClient, refShsEchoServer, type RefKeys } from './reference.js'

const MiB = 1024 * 1024

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

  it('our client <-> npm secret-handshake server: 1 MiB each way', async () => {
    const server = await refShsEchoServer(ref(serverKeys), Buffer.from(appKey))
    cleanups.push(server.close)
    const conn = await ourClient().connect(`net:127.0.0.1:${server.port}~shs:${toBase64(serverKeys.publicKey)}`)
    const data = crypto.randomBytes(MiB + 123)
    expect(firstDifference(await echoRoundTrip(conn, data), data)).toBeNull()
    expect(server.connections.map((c) => toBase64(c.remote))).toEqual([toBase64(clientKeys.publicKey)])
    await conn.close()
  })

  it('npm secret-handshake client <-> our server: 1 MiB each way', async () => {
    const seen: Uint8Array[] = []
    const { address, errors } = await ourEchoServer((k) => seen.push(k))
    const port = Number(address.split('~')[0]!.split(':').pop())
    const data = crypto.randomBytes(MiB + 7)
    const got = await refShsClient(port, ref(clientKeys), Buffer.from(appKey), Buffer.from(serverKeys.publicKey), data)
    expect(firstDifference(got, data)).toBeNull()
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
    expect(firstDifference(await echoRoundTrip(conn, data), data)).toBeNull()
    await conn.close()
  })

  it('npm multiserver net~shs client <-> our server: 1 MiB each way', async () => {
    const { address, errors } = await ourEchoServer()
    const data = crypto.randomBytes(MiB)
    const got = await refMultiserverClient(address, ref(clientKeys), Buffer.from(appKey), data)
    expect(firstDifference(got, data)).toBeNull()
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
      await waitUntil(() => server.errors.length === 1, 'one error at the server')
    })

    it('wrong app key, their client: ours fails at msg1, theirs errors', async () => {
      const { address, errors } = await ourEchoServer()
      const port = Number(address.split('~')[0]!.split(':').pop())
      await expect(refShsClient(port, ref(clientKeys), Buffer.from(crypto.randomBytes(32)), Buffer.from(serverKeys.publicKey), new Uint8Array(10))).rejects.toBeDefined()
      await waitUntil(() => errors.length === 1, 'one error reported')
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
      await waitUntil(() => server.errors.length === 1, 'one error at the server')
    })

    it('wrong server key, their client: ours fails at msg3, theirs errors', async () => {
      const { address, errors } = await ourEchoServer()
      const port = Number(address.split('~')[0]!.split(':').pop())
      const wrong = crypto.signKeypairFromSeed(crypto.randomBytes(32)).publicKey
      await expect(refShsClient(port, ref(clientKeys), Buffer.from(appKey), Buffer.from(wrong), new Uint8Array(10))).rejects.toBeDefined()
      await waitUntil(() => errors.length === 1, 'one error reported')
      expect((errors[0] as HandshakeError).stage).toBe('msg3')
    })

    it('their authorize rejects our client: ours fails at msg4', async () => {
      const server = await refShsEchoServer(ref(serverKeys), Buffer.from(appKey), (_id, cb) => cb(null, false))
      cleanups.push(server.close)
      const error = await ourClient()
        .connect(`net:127.0.0.1:${server.port}~shs:${toBase64(serverKeys.publicKey)}`)
        .then(() => null, (e: unknown) => e)
      expect((error as HandshakeError).stage).toBe('msg4')
      await waitUntil(() => server.errors.length === 1, 'one error at the server')
    })

    it('our authorize rejects their client: ours fails at authorize, theirs errors', async () => {
      const { address, errors } = await ourEchoServer(() => false)
      const port = Number(address.split('~')[0]!.split(':').pop())
      await expect(refShsClient(port, ref(clientKeys), Buffer.from(appKey), Buffer.from(serverKeys.publicKey), new Uint8Array(10))).rejects.toBeDefined()
      await waitUntil(() => errors.length === 1, 'one error reported')
      expect((errors[0] as HandshakeError).stage).toBe('authorize')
    })
  })
})
