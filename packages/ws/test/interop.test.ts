import { afterEach, describe, expect, it } from 'vitest'
import type * as http from 'node:http'
import { randomBytes } from 'node:crypto'
import { createMultiServer, toBase64, type Connection } from '@ms/core'
import { echo, firstDifference, patternBytes, readAll, writeAll } from '@ms/compliance'
import { shs, shsCrypto } from '@ms/shs'
import { ws } from '@ms/ws'
import { Multiserver, OriginalShs, OriginalWs, collect, loopbackServer, pull, sendThenWait, type PullDuplex } from './original.js'

const MiB = 1024 * 1024
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function stopServer(server: http.Server) {
  server.closeAllConnections()
  server.close()
}

/** Reads exactly `n` bytes from a readable, leaving the rest. */
async function readBytes(readable: ReadableStream<Uint8Array>, n: number): Promise<Uint8Array> {
  const reader = readable.getReader()
  const out = new Uint8Array(n)
  let got = 0
  try {
    while (got < n) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`ended after ${got} of ${n} bytes`)
      out.set(value.subarray(0, n - got), got)
      got += Math.min(value.byteLength, n - got)
    }
  } finally {
    reader.releaseLock()
  }
  return out
}

describe('plain ws interop with npm multiserver 3.8.2', () => {
  it('our client, their server: 1 MiB echoed intact, addresses understood both ways', async () => {
    const server = await loopbackServer()
    cleanups.push(() => stopServer(server))
    const theirs = Multiserver([OriginalWs({ server, host: '127.0.0.1' })])
    const stop = theirs.server((stream: PullDuplex) => pull(stream, stream))
    cleanups.push(() => stop())
    const address: string = theirs.stringify('device')
    const port = (server.address() as { port: number }).port
    expect(address).toBe(`ws://127.0.0.1:${port}`)

    const ours = createMultiServer([[ws()]])
    const c = await ours.connect(address)
    cleanups.push(() => c.close())
    const data = patternBytes(MiB, 21)
    const writer = c.writable.getWriter()
    const writing = (async () => {
      for (let offset = 0; offset < data.byteLength; offset += 64 * 1024) await writer.write(data.subarray(offset, offset + 64 * 1024))
    })()
    const reply = await readBytes(c.readable, data.byteLength)
    await writing
    expect(firstDifference(reply, data)).toBeNull()
    await c.close()
  })

  it('their client, our server: 1 MiB echoed intact, their end closes our side cleanly', async () => {
    let resolveAccepted!: (c: Connection) => void
    const accepted = new Promise<Connection>((resolve) => (resolveAccepted = resolve))
    const ours = createMultiServer([[ws({ host: '127.0.0.1' })]])
    const listener = await ours.listen((c) => {
      resolveAccepted(c)
      echo(c)
    })
    cleanups.push(() => listener.close())
    const address = ours.stringify()
    const stream = await new Promise<PullDuplex>((resolve, reject) =>
      Multiserver([OriginalWs()]).client(address, (err: unknown, s: PullDuplex) => (err ? reject(err) : resolve(s))),
    )
    const data = patternBytes(MiB, 23)
    const { sink, done } = collect(data.byteLength)
    pull(stream, sink)
    pull(sendThenWait(data, done), stream)
    expect(firstDifference(await done, data)).toBeNull()
    const s = await accepted
    expect(s.remoteAddress).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    // Their sink ended, which closes the WebSocket: our side winds down by itself.
    await s.closed
  })
})

describe('ws~shs interop with npm multiserver 3.8.2', () => {
  const appKey = randomBytes(32)
  const ourKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
  const theirKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
  const theirShs = () =>
    OriginalShs({
      keys: { publicKey: Buffer.from(theirKeys.publicKey), secretKey: Buffer.from(theirKeys.secretKey) },
      appKey: Buffer.from(appKey),
      auth: (_id: unknown, cb: (err: unknown, ok: unknown) => void) => cb(null, true),
    })

  it('our client, their server: 1 MiB each way, each sees the other\'s key, clean end', { timeout: 60_000 }, async () => {
    const server = await loopbackServer()
    cleanups.push(() => stopServer(server))
    const ours = patternBytes(MiB, 31)
    const theirs = patternBytes(MiB, 37)
    let theirSide!: Promise<{ got: Uint8Array; remote: Buffer }>
    const them = Multiserver([[OriginalWs({ server, host: '127.0.0.1' }), theirShs()]])
    const stop = them.server((stream: PullDuplex & { remote: Buffer }) => {
      const { sink, done } = collect(ours.byteLength)
      theirSide = done.then((got) => ({ got, remote: stream.remote }))
      pull(stream, sink)
      pull(sendThenWait(theirs, done), stream)
    })
    cleanups.push(() => stop())
    const address: string = them.stringify('device')
    expect(address).toBe(`ws://127.0.0.1:${(server.address() as { port: number }).port}~shs:${toBase64(theirKeys.publicKey)}`)

    const client = createMultiServer([[ws(), shs({ keys: ourKeys, appKey })]])
    const c = await client.connect(address)
    cleanups.push(() => c.close())
    expect(c.info.shs?.publicKey).toEqual(theirKeys.publicKey)
    expect(c.remoteAddress).toBe(address)
    const [, got] = await Promise.all([writeAll(c.writable, ours), readAll(c.readable)])
    expect(firstDifference(got, theirs)).toBeNull()
    const seen = await theirSide
    expect(firstDifference(seen.got, ours)).toBeNull()
    expect(Buffer.compare(seen.remote, Buffer.from(ourKeys.publicKey))).toBe(0)
    await c.closed
  })

  it('their client, our server: 1 MiB each way, each sees the other\'s key, clean end', { timeout: 60_000 }, async () => {
    const ours = patternBytes(MiB, 41)
    const theirs = patternBytes(MiB, 43)
    let ourSide!: Promise<{ got: Uint8Array; connection: Connection }>
    const server = createMultiServer([[ws({ host: '127.0.0.1' }), shs({ keys: ourKeys, appKey })]])
    const listener = await server.listen((connection) => {
      ourSide = Promise.all([readAll(connection.readable), writeAll(connection.writable, ours)]).then(([got]) => ({ got, connection }))
    })
    cleanups.push(() => listener.close())
    const address = server.stringify()
    expect(address).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+~shs:${toBase64(ourKeys.publicKey).replace(/[+/]/g, (c) => '\\' + c)}$`))

    const them = Multiserver([[OriginalWs(), theirShs()]])
    const stream = await new Promise<PullDuplex & { remote: Buffer }>((resolve, reject) =>
      them.client(address, (err: unknown, s: PullDuplex & { remote: Buffer }) => (err ? reject(err) : resolve(s))),
    )
    expect(Buffer.compare(stream.remote, Buffer.from(ourKeys.publicKey))).toBe(0)
    const { sink, done } = collect(ours.byteLength)
    pull(stream, sink)
    pull(sendThenWait(theirs, done), stream)
    expect(firstDifference(await done, ours)).toBeNull()
    const { got, connection } = await ourSide
    expect(firstDifference(got, theirs)).toBeNull()
    expect(connection.info.shs?.publicKey).toEqual(theirKeys.publicKey)
    expect(connection.remoteAddress).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+~shs:`))
    await connection.closed
  })
})
