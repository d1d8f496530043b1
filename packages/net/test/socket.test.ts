import { createConnection, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { StreamError, type Connection } from '@ms/core'
import { fromNodeSocket } from '@ms/core/node'
import { readAll, waitUntil } from '@ms/compliance'
import { closeServer, listenRaw } from './helpers.js'

// fromNodeSocket lives in @ms/core/node; it is tested here, over real
// sockets, because @ms/net is its main user.

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A connected pair: `conn` wraps our end, `peer` is the raw other end. */
async function pair(extra: { halfClose?: boolean } = {}): Promise<{ conn: Connection; peer: Socket; socket: Socket; server: Server }> {
  let resolvePeer!: (s: Socket) => void
  const accepted = new Promise<Socket>((resolve) => (resolvePeer = resolve))
  const server = await listenRaw('127.0.0.1', resolvePeer)
  const { port } = server.address() as { port: number }
  const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true })
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const peer = await accepted
  peer.on('error', () => {})
  const conn = fromNodeSocket(socket, { remoteAddress: `net:127.0.0.1:${port}`, direction: 'outbound', ...extra })
  cleanup.push(async () => {
    peer.destroy()
    await conn.close()
    await closeServer(server)
  })
  return { conn, peer, socket, server }
}


describe('fromNodeSocket', () => {
  it('carries remoteAddress, direction and an empty info', async () => {
    const { conn } = await pair()
    expect(conn.remoteAddress).toMatch(/^net:127\.0\.0\.1:\d+$/)
    expect(conn.direction).toBe('outbound')
    expect(conn.info).toEqual({})
  })

  it('a reset errors the readable with a StreamError carrying ECONNRESET and the address', async () => {
    const { conn, peer } = await pair()
    const reader = conn.readable.getReader()
    const pending = reader.read()
    peer.resetAndDestroy()
    const error = await pending.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamError)
    expect((error as StreamError & { code?: string }).code).toBe('ECONNRESET')
    expect((error as StreamError).address).toBe(conn.remoteAddress)
    await conn.closed
    const writer = conn.writable.getWriter()
    await expect(writer.write(new Uint8Array([1]))).rejects.toBeInstanceOf(StreamError)
  })

  it('close() is idempotent, never rejects, resolves once released, and errors pending reads', async () => {
    const { conn, peer, socket } = await pair()
    const reader = conn.readable.getReader()
    const pending = reader.read().catch((e: unknown) => e)
    // The peer is half-open capable: our teardown reaches it as an end.
    const peerEnded = new Promise<void>((resolve) => peer.once('end', () => resolve()))
    peer.resume()
    const a = conn.close(new Error('because'))
    const b = conn.close()
    await expect(a).resolves.toBeUndefined()
    await expect(b).resolves.toBeUndefined()
    await expect(conn.closed).resolves.toBeUndefined()
    expect(socket.destroyed).toBe(true)
    expect(await pending).toBeInstanceOf(StreamError)
    await peerEnded
    await expect(conn.close()).resolves.toBeUndefined()
  })

  it('closing the writable half-closes: the peer sees the end and can still reply', async () => {
    const { conn, peer } = await pair()
    const got: Buffer[] = []
    peer.on('data', (d: Buffer) => got.push(d))
    const ended = new Promise<void>((resolve) => peer.once('end', resolve))
    const writer = conn.writable.getWriter()
    await writer.write(new TextEncoder().encode('hello'))
    await writer.close()
    await ended
    expect(Buffer.concat(got).toString()).toBe('hello')
    peer.end('reply after end')
    expect(new TextDecoder().decode(await readAll(conn.readable))).toBe('reply after end')
    await conn.closed
  })

  it('reports halfClose: false when told the socket cannot carry one', async () => {
    expect((await pair()).conn.halfClose).toBeUndefined()
    expect((await pair({ halfClose: false })).conn.halfClose).toBe(false)
  })

  it('aborting the writable resets the socket: the peer sees ECONNRESET, not an end', async () => {
    const { conn, peer, socket } = await pair()
    const peerFailed = new Promise<string | undefined>((resolve) => {
      peer.once('error', (error: NodeJS.ErrnoException) => resolve(error.code))
      peer.once('end', () => resolve('end'))
    })
    peer.resume()
    await conn.writable.abort(new Error('stop'))
    await conn.closed
    expect(socket.destroyed).toBe(true)
    expect(await peerFailed).toBe('ECONNRESET')
  })

  it('cancelling the readable keeps the writable usable, then releases the socket', async () => {
    const { conn, peer } = await pair()
    await conn.readable.cancel()
    peer.write('ignored')
    const got: Buffer[] = []
    peer.on('data', (d: Buffer) => got.push(d))
    const ended = new Promise<void>((resolve) => peer.once('end', resolve))
    const writer = conn.writable.getWriter()
    await writer.write(new TextEncoder().encode('still talking'))
    await writer.close()
    await ended
    expect(Buffer.concat(got).toString()).toBe('still talking')
    // Both our directions are done: the socket is released without waiting for the peer.
    await conn.closed
  })

  it('a slow reader pauses the socket instead of buffering without bound', async () => {
    const { conn, peer, socket } = await pair()
    // The streams are built on first use: this reader exists, it is just slow.
    const readable = conn.readable
    const total = 32 * 1024 * 1024
    const chunk = Buffer.alloc(256 * 1024, 1)
    let sent = 0
    const writing = new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < total) {
          sent += chunk.length
          if (!peer.write(chunk)) return void peer.once('drain', pump)
        }
        peer.end()
        resolve()
      }
      pump()
    })
    // Our queue filled and the socket was paused (the event this test is about)...
    await waitUntil(() => socket.bytesRead >= 256 * 1024 && socket.isPaused(), 'our socket to fill its queue and pause', 15_000)
    // ...having read at most its queue (256 KiB) plus a socket read or two,
    expect(socket.bytesRead).toBeLessThan(1024 * 1024)
    // so the rest waits at the peer, whose writes now wait for drain.
    expect(sent).toBeLessThan(total)
    const all = await readAll(readable)
    await writing
    expect(all.byteLength).toBe(total)
  })

  it('rejects chunks that are not Uint8Array', async () => {
    const { conn } = await pair()
    const writer = conn.writable.getWriter()
    await expect(writer.write('text' as never)).rejects.toBeInstanceOf(TypeError)
  })

  it('an already closed socket gives a closed connection', async () => {
    const { socket, peer } = await pair()
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.destroy()
    peer.destroy()
    await gone
    const conn = fromNodeSocket(socket, { remoteAddress: 'net:127.0.0.1:1', direction: 'outbound' })
    await conn.closed
    await expect(conn.readable.getReader().read()).rejects.toBeInstanceOf(StreamError)
    await expect(conn.close()).resolves.toBeUndefined()
  })
})

// Throughput against a raw socket is a benchmark figure (`pnpm bench --only net-bulk`),
// not a test: timed assertions flake on shared machines.

describe('fromNodeSocket: streams built on first use, or the channel taken instead', () => {
  it('keeps bytes that arrived before the streams existed, even from a socket that was flowing', async () => {
    let resolvePeer!: (s: Socket) => void
    const accepted = new Promise<Socket>((resolve) => (resolvePeer = resolve))
    const server = await listenRaw('127.0.0.1', resolvePeer)
    const { port } = server.address() as { port: number }
    const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true })
    // A protocol exchange read the socket first (as the SOCKS client does), then let go.
    const first = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    const peer = await accepted
    peer.write('hello')
    expect((await first).toString()).toBe('hello')
    const conn = fromNodeSocket(socket, { remoteAddress: `net:127.0.0.1:${port}`, direction: 'outbound' })
    cleanup.push(async () => {
      peer.destroy()
      await conn.close()
      await closeServer(server)
    })
    peer.end('after the handover')
    // The bytes (and the FIN) reach our paused socket before anyone reads.
    await waitUntil(() => socket.readableLength >= 'after the handover'.length, 'the bytes to arrive in our socket')
    expect(Buffer.from(await readAll(conn.readable)).toString()).toBe('after the handover')
  })

  it('hands its channel over once; then the streams are gone, and taking after using the streams fails', async () => {
    const { conn, peer } = await pair()
    const channel = conn.takeChannel?.()
    expect(channel).toBeDefined()
    expect(conn.takeChannel?.()).toBeUndefined()
    expect(() => conn.readable).toThrow(TypeError)
    expect(() => conn.writable).toThrow(TypeError)
    const got: Buffer[] = []
    const ended = new Promise<void>((resolve) => {
      channel!.start({
        data: (chunk) => void got.push(Buffer.from(chunk)),
        end: resolve,
        drain: () => {},
        error: (error) => {
          throw error
        },
        readError: (error) => {
          throw error
        },
      })
    })
    const fromPeer = new Promise<string>((resolve) => {
      let text = ''
      peer.on('data', (d: Buffer) => (text += d.toString()))
      peer.on('end', () => resolve(text))
    })
    expect(channel!.write(new TextEncoder().encode('over the channel'))).toBe(true)
    await channel!.end()
    expect(await fromPeer).toBe('over the channel')
    peer.end('back')
    await ended
    expect(Buffer.concat(got).toString()).toBe('back')
    await conn.closed

    const other = await pair()
    void other.conn.readable
    expect(other.conn.takeChannel?.()).toBeUndefined()
  })

  it('close() releases a socket whose streams were never built, without an error to anyone', async () => {
    const { conn, socket } = await pair()
    await conn.close()
    expect(socket.destroyed).toBe(true)
  })
})
