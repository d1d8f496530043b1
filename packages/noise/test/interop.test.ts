import { afterEach, describe, expect, it } from 'vitest'
import { HandshakeError, MsError, createMultiServer, toBase64, type Connection } from '@ms/core'
import { echoRoundTrip, firstDifference, readAll, waitUntil } from '@ms/compliance'
import { net } from '@ms/net'
import { backends } from './backends.js'
import { refClient, refEchoServer, type RefKeys } from './reference.js'

const MiB = 1024 * 1024

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.allSettled(cleanups.splice(0).map((f) => f()))
})

describe.each(backends)('live interop with @hyperswarm/secret-stream 6 over TCP ($name backend)', ({ mod }) => {
  const crypto = mod.noiseCrypto
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const ref = (k: { publicKey: Uint8Array; secretKey: Uint8Array }): RefKeys => ({ publicKey: Buffer.from(k.publicKey), secretKey: Buffer.from(k.secretKey) })

  function ourClient(networkKey?: Uint8Array) {
    return createMultiServer([[net(), mod.noise({ keys: clientKeys, networkKey })]])
  }

  async function ourEchoServer(options: { authorize?: (k: Uint8Array) => unknown; networkKey?: Uint8Array } = {}) {
    const errors: MsError[] = []
    const accepted: Connection[] = []
    const ms = createMultiServer([[net({ host: '127.0.0.1' }), mod.noise({ keys: serverKeys, ...options })]])
    const listener = await ms.listen(
      (conn) => {
        accepted.push(conn)
        conn.readable.pipeTo(conn.writable).catch(() => {})
      },
      { onError: (e) => errors.push(e) },
    )
    cleanups.push(() => listener.close())
    const address = ms.stringify('device')!
    return { address, port: Number(address.split('~')[0]!.split(':').pop()), errors, accepted }
  }

  it('our client <-> their server: more than 1 MiB each way, same handshake hash and keys on both ends', async () => {
    const server = await refEchoServer(ref(serverKeys))
    cleanups.push(server.close)
    const conn = await ourClient().connect(`net:127.0.0.1:${server.port}~noise:${toBase64(serverKeys.publicKey)}`)
    expect(conn.remoteAddress).toBe(`net:127.0.0.1:${server.port}~noise:${toBase64(serverKeys.publicKey)}`)
    expect(toBase64(conn.info.noise!.publicKey)).toBe(toBase64(serverKeys.publicKey))
    const data = crypto.randomBytes(MiB + 123)
    expect(firstDifference(await echoRoundTrip(conn, data), data)).toBeNull()
    expect(server.sessions).toHaveLength(1)
    expect(toBase64(server.sessions[0]!.remotePublicKey!)).toBe(toBase64(clientKeys.publicKey))
    expect(toBase64(server.sessions[0]!.handshakeHash!)).toBe(toBase64(conn.info.noise!.handshakeHash))
    expect(server.errors).toEqual([])
    await conn.close()
  })

  it('their client <-> our server: more than 1 MiB each way, same handshake hash and keys on both ends', async () => {
    const { port, errors, accepted } = await ourEchoServer()
    const data = crypto.randomBytes(MiB + 7)
    const { received, session } = await refClient(port, ref(clientKeys), Buffer.from(serverKeys.publicKey), data)
    expect(firstDifference(received, data)).toBeNull()
    expect(accepted).toHaveLength(1)
    expect(toBase64(accepted[0]!.info.noise!.publicKey)).toBe(toBase64(clientKeys.publicKey))
    expect(toBase64(session.handshakeHash!)).toBe(toBase64(accepted[0]!.info.noise!.handshakeHash))
    expect(toBase64(session.remotePublicKey!)).toBe(toBase64(serverKeys.publicKey))
    expect(errors).toEqual([])
  })

  it('wrong server key, our client: ours fails at msg2, theirs refuses msg1 and sends nothing', async () => {
    const server = await refEchoServer(ref(serverKeys))
    cleanups.push(server.close)
    const wrong = crypto.signKeypairFromSeed(crypto.randomBytes(32)).publicKey
    const error = await ourClient()
      .connect(`net:127.0.0.1:${server.port}~noise:${toBase64(wrong)}`)
      .then(() => null, (e: unknown) => e)
    expect(error).toBeInstanceOf(HandshakeError)
    expect((error as HandshakeError).stage).toBe('msg2')
    await waitUntil(() => server.errors.length === 1, 'one error at the server')
    expect(server.sessions).toEqual([])
  })

  it('wrong server key, their client: ours fails at msg1 and writes nothing', async () => {
    const { port, errors, accepted } = await ourEchoServer()
    const wrong = crypto.signKeypairFromSeed(crypto.randomBytes(32)).publicKey
    await expect(refClient(port, ref(clientKeys), Buffer.from(wrong), new Uint8Array(10))).rejects.toBeDefined()
    await waitUntil(() => errors.length === 1, 'one error reported')
    expect((errors[0] as HandshakeError).stage).toBe('msg1')
    expect(accepted).toEqual([])
  })

  it('a network key on our side only: the handshake fails at msg1 on either side', async () => {
    const server = await ourEchoServer({ networkKey: crypto.randomBytes(32) })
    await expect(refClient(server.port, ref(clientKeys), Buffer.from(serverKeys.publicKey), new Uint8Array(10))).rejects.toBeDefined()
    await waitUntil(() => server.errors.length === 1, 'one error at the server')
    expect((server.errors[0] as HandshakeError).stage).toBe('msg1')
    const theirs = await refEchoServer(ref(serverKeys))
    cleanups.push(theirs.close)
    const error = await ourClient(crypto.randomBytes(32))
      .connect(`net:127.0.0.1:${theirs.port}~noise:${toBase64(serverKeys.publicKey)}`)
      .then(() => null, (e: unknown) => e)
    expect((error as HandshakeError).stage).toBe('msg2')
  })

  it('our authorize rejects their client: ours fails at authorize and writes nothing', async () => {
    const { port, errors, accepted } = await ourEchoServer({ authorize: () => false })
    await expect(refClient(port, ref(clientKeys), Buffer.from(serverKeys.publicKey), new Uint8Array(10))).rejects.toBeDefined()
    await waitUntil(() => errors.length === 1, 'one error reported')
    expect((errors[0] as HandshakeError).stage).toBe('authorize')
    expect(accepted).toEqual([])
  })
})
