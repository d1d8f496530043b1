import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Connection } from '@ms/core'
import { afterEach, describe, expect, it } from 'vitest'

// The bench's "ideal" implementation (src/impl-ideal.mjs: secret-handshake
// and box-stream straight on sodium-native and bare sockets) must speak the
// real protocol, or its figures mean nothing: here it talks to @ms/shs over
// net both ways round, with multi-frame payloads, a frame split across
// writes and the goodbye in both directions.
const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src')
const load = (name: string) => import(pathToFileURL(path.join(src, name)).href)

interface Conn {
  write(bytes: Uint8Array): Promise<void>
  pump(n: number, chunk: Uint8Array): Promise<void>
  readAtLeast(n: number): Promise<number>
  readToEnd(): Promise<void>
  endWrite(): Promise<void>
  close(): Promise<void>
}
interface Listener {
  address: string
  close(): Promise<void>
}
type Keys = { publicKey: Uint8Array; secretKey: Uint8Array }
interface Ideal {
  listen(suite: string, keys: Keys, appKey: Uint8Array, onConn: (conn: Conn) => void, onError?: (error: unknown) => void): Promise<Listener>
  dialer(suite: string, keys: Keys, appKey: Uint8Array): Promise<(address: string) => Promise<Conn>>
}
interface Ours {
  listenConnections(suite: string, keys: Keys, appKey: Uint8Array, onConnection: (c: Connection) => void, onError?: (error: unknown) => void): Promise<Listener>
  dialConnection(suite: string, keys: Keys, appKey: Uint8Array): Promise<(address: string) => Promise<Connection>>
}

const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))
async function keys() {
  const { freshKeys } = await load('keys.mjs')
  const k = freshKeys()
  const pair = (p: { publicKey: string; secretKey: string }) => ({ publicKey: fromBase64(p.publicKey), secretKey: fromBase64(p.secretKey) })
  return { server: pair(k.server), client: pair(k.client), appKey: fromBase64(k.appKey) }
}

// A payload that is not all one byte, over many 4096-byte frames and a partial one: more than
// one socket read (at most 64 KiB each, not a multiple of a 4130-byte frame), so frames arrive
// split across reads.
const SIZE = 64 * 4096 + 1234
const payload = (seed: number) => Uint8Array.from({ length: SIZE }, (_, i) => (i * 131 + seed) & 0xff)

async function readAll(connection: Connection): Promise<Uint8Array> {
  const reader = connection.readable.getReader()
  const parts: Uint8Array[] = []
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parts.push(value.slice())
  }
  return new Uint8Array(Buffer.concat(parts))
}

async function writeAll(connection: Connection, bytes: Uint8Array): Promise<void> {
  const writer = connection.writable.getWriter()
  // Two writes that split a frame boundary differently from the reader's chunks.
  await writer.write(bytes.slice(0, 5000))
  await writer.write(bytes.slice(5000))
  await writer.close()
}

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describe('bench ideal implementation', () => {
  it('an @ms/shs client and the ideal server exchange data both ways and say goodbye', async () => {
    const ideal = (await load('impl-ideal.mjs')) as Ideal
    const ours = (await load('impl-ours.mjs')) as Ours
    const k = await keys()
    const errors: unknown[] = []
    let onConn!: (conn: Conn) => void
    const accepted = new Promise<Conn>((resolve) => (onConn = resolve))
    const listener = await ideal.listen('net~shs', k.server, k.appKey, (conn) => onConn(conn), (error) => errors.push(error))
    cleanup.push(() => listener.close())

    const dial = await ours.dialConnection('net~shs', k.client, k.appKey)
    const connection = await dial(listener.address)
    cleanup.push(() => connection.close())
    const answer = readAll(connection)
    const sent = writeAll(connection, payload(3))
    const conn = await accepted
    cleanup.push(() => conn.close())
    // The ideal server reads the client's payload to its goodbye, then answers and says goodbye.
    expect(await conn.readAtLeast(SIZE)).toBe(SIZE)
    await conn.readToEnd()
    await sent
    await conn.write(payload(9))
    await conn.endWrite()
    expect(Buffer.from(await answer).equals(Buffer.from(payload(9)))).toBe(true)
    expect(errors).toEqual([])
  })

  it('the ideal client and an @ms/shs server exchange data both ways and say goodbye', async () => {
    const ideal = (await load('impl-ideal.mjs')) as Ideal
    const ours = (await load('impl-ours.mjs')) as Ours
    const k = await keys()
    let onConnection!: (connection: Connection) => void
    const accepted = new Promise<Connection>((resolve) => (onConnection = resolve))
    const listener = await ours.listenConnections('net~shs', k.server, k.appKey, (connection) => onConnection(connection))
    cleanup.push(() => listener.close())

    const dial = await ideal.dialer('net~shs', k.client, k.appKey)
    const conn = await dial(listener.address)
    cleanup.push(() => conn.close())
    const server = await accepted
    cleanup.push(() => server.close())
    const received = readAll(server)
    const answered = writeAll(server, payload(5))
    // The payload in one write (frames of 4096 and the rest), then three more bytes.
    await conn.write(payload(7))
    await conn.write(new Uint8Array([1, 2, 3]))
    await conn.endWrite()
    expect(await conn.readAtLeast(SIZE)).toBe(SIZE)
    await conn.readToEnd()
    await answered
    expect(Buffer.from(await received).equals(Buffer.concat([payload(7), Buffer.from([1, 2, 3])]))).toBe(true)
  })

  it('the ideal client fails against a server with another app key', async () => {
    const ideal = (await load('impl-ideal.mjs')) as Ideal
    const ours = (await load('impl-ours.mjs')) as Ours
    const k = await keys()
    const other = await keys()
    const listener = await ours.listenConnections('net~shs', k.server, other.appKey, () => {}, () => {})
    cleanup.push(() => listener.close())
    const dial = await ideal.dialer('net~shs', k.client, k.appKey)
    await expect(dial(listener.address)).rejects.toThrow()
  })
})
