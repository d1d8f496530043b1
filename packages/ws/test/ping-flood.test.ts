/**
 * A peer that sends only ping frames and never reads (issue 19): every
 * ping is owed a pong, and pings never reach our readable's queue, so the
 * readable's backpressure never pauses the socket. Unless something bounds
 * the pongs, the server's write buffer for that connection grows with the
 * flood. It must stay bounded: the server either stops answering (and
 * reading) or drops the connection.
 *
 * Today npm ws bounds it: it terminates a peer once 60 automatic pongs
 * wait unwritten (its `maxPendingAutoPongs`, default 60); the connection
 * ends after ~200 KB of pings. With that cap off, this test measured the
 * server's socket holding ~60 MB of pongs after 64 MiB of pings. The test
 * guards the bound against a ws upgrade or an option change.
 */
import { afterEach, describe, expect, it } from 'vitest'
import http from 'node:http'
import { createConnection, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { Connection } from '@ms/core'
import { ws } from '@ms/ws'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** One masked ping frame with a 125-byte payload (the most a control frame may carry). */
function pingFrame(): Buffer {
  const frame = Buffer.alloc(2 + 4 + 125)
  frame[0] = 0x89
  frame[1] = 0x80 | 125
  randomBytes(4).copy(frame, 2)
  // The payload is masked with the key; its content does not matter.
  return frame
}

describe('a WebSocket peer that floods pings and never reads', () => {
  it('cannot grow the server write buffer without bound', async () => {
    // Our own HTTP server, so that the test can watch the upgraded TCP socket.
    const server = http.createServer()
    const upgraded: Duplex[] = []
    server.on('upgrade', (_req, socket: Duplex) => upgraded.push(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const accepted: Connection[] = []
    const listener = await ws({ server }).listen!((c) => {
      accepted.push(c)
      // The application holds its reader and never reads, as an idle app would.
      c.readable.getReader()
    }, {})
    cleanups.push(() => listener.close())
    cleanups.push(() => {
      for (const socket of upgraded) socket.destroy()
    })
    const port = (server.address() as { port: number }).port

    const attacker: Socket = createConnection({ host: '127.0.0.1', port })
    cleanups.push(() => attacker.destroy())
    attacker.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      attacker.once('connect', resolve)
      attacker.once('error', reject)
    })
    attacker.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
    // Read only the 101 response; from then on the attacker never reads.
    const head = await new Promise<string>((resolve) => {
      let text = ''
      const onData = (chunk: Buffer) => {
        text += chunk.toString('latin1')
        if (!text.includes('\r\n\r\n')) return
        attacker.off('data', onData)
        attacker.pause()
        resolve(text)
      }
      attacker.on('data', onData)
    })
    expect(head.startsWith('HTTP/1.1 101')).toBe(true)
    await expect.poll(() => accepted.length, { timeout: 5000 }).toBe(1)
    const serverSocket = upgraded[0]!
    let serverClosed = false
    serverSocket.once('close', () => (serverClosed = true))

    // 64 KiB of pings per batch (500 of them); 64 MiB in all, each owing a
    // 127-byte pong. The attacker itself waits whenever the server stops
    // taking its bytes, so that its own buffer stays small.
    const batch = Buffer.concat(Array.from({ length: 500 }, pingFrame))
    const budget = 64 * 1024 * 1024
    let sent = 0
    let maxServerBuffer = 0
    const deadline = Date.now() + 20_000
    while (sent < budget && !serverClosed && !attacker.destroyed && Date.now() < deadline) {
      if (attacker.writableLength > 1024 * 1024) {
        // The server stopped reading: wait (bounded) for it to take more.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 200)
          attacker.once('drain', () => (clearTimeout(timer), resolve()))
        })
      } else {
        attacker.write(batch)
        sent += batch.length
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      maxServerBuffer = Math.max(maxServerBuffer, serverSocket.writableLength)
    }
    maxServerBuffer = Math.max(maxServerBuffer, serverSocket.writableLength)
    // Unbounded, the server would hold nearly all 64 MiB of pongs it owes
    // minus what the kernel's buffers absorbed (a few MiB on loopback).
    expect(maxServerBuffer).toBeLessThan(1024 * 1024)
    // npm ws (>= 8.23, our floor) drops a peer that owes it 60 pongs not
    // yet written (maxPendingAutoPongs); the application's connection then
    // ends with an error rather than hanging.
    if (serverClosed) {
      const outcome = await Promise.race([
        accepted[0]!.closed.then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still open after 5 s'), 5000).unref()),
      ])
      expect(outcome).toBe('closed')
    }
  }, 60_000)
})
