import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { StreamError, type Connection } from '@ms/core'
import { fromNodeWebSocket } from '@ms/ws'

/*
 * The readable side of a WebSocket connection when the application does not
 * read (issue 19, item 3): the socket is paused once the queue is full, and
 * a paused socket, which reads nothing, still learns that the peer left.
 */

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** An npm `ws` server whose connections go through our adapter; resolves with the first one. */
async function pair(options: { highWaterMark?: number; pausedProbeInterval?: number } = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())))
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const accepted = new Promise<{ socket: WebSocket; connection: Connection }>((resolve) =>
    wss.once('connection', (socket) => {
      cleanups.push(() => socket.terminate())
      const connection = fromNodeWebSocket(socket, {
        remoteAddress: 'ws://test',
        direction: 'inbound',
        info: {},
        highWaterMark: options.highWaterMark ?? 256 * 1024,
        closeTimeout: 1000,
        pausedProbeInterval: options.pausedProbeInterval,
      })
      resolve({ socket, connection })
    }),
  )
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate: false })
  cleanups.push(() => client.terminate())
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve())
    client.once('error', reject)
  })
  return { client, ...(await accepted) }
}

/** Sends `message(i)` until the server has paused its socket (bounded: fails after `limit` ms). */
async function sendUntilPaused(client: WebSocket, server: WebSocket, message: (i: number) => Uint8Array, limit = 20_000): Promise<number> {
  const start = Date.now()
  let sent = 0
  while (!server.isPaused) {
    if (Date.now() - start > limit) throw new Error(`the server never paused its socket (${sent} messages sent)`)
    for (let i = 0; i < 1000; i++) client.send(message(sent + i))
    sent += 1000
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return sent
}

describe('a WebSocket connection whose application does not read', () => {
  it('pauses its socket after a bounded number of 1-byte messages', async () => {
    const { client, socket, connection } = await pair()
    const reader = connection.readable.getReader()
    // Message i is the byte i % 251, so that order and loss show.
    const sent = await sendUntilPaused(client, socket, (i) => Uint8Array.of(i % 251))
    // Each queued message counts its byte plus the ~256 bytes a queued
    // object costs, so a 256 KiB queue pauses after about 1,000 of them
    // (it once took 256 Ki, some 37 MB of heap). The rest of the socket's
    // current read still arrives after the pause, gathered into one buffer.
    expect(sent).toBeLessThan(20_000)
    // Everything that was queued is delivered, in order, once the reader reads.
    client.close()
    let total = 0
    let chunks = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      for (let i = 0; i < value.byteLength; i++) if (value[i] !== (total + i) % 251) throw new Error(`byte ${total + i} is ${value[i]}`)
      total += value.byteLength
      chunks++
    }
    // Messages that came after the pause were gathered: fewer chunks than messages.
    expect(chunks).toBeLessThan(sent)
    // ws sends everything before its close frame; the client's buffered sends all arrive.
    expect(total).toBe(sent)
  })

  it('still notices that the peer left while paused', async () => {
    const { client, socket, connection } = await pair({ pausedProbeInterval: 100 })
    const reader = connection.readable.getReader()
    const message = new Uint8Array(16 * 1024)
    await sendUntilPaused(client, socket, () => message)
    // The peer goes away without a word; our socket reads nothing while
    // paused, so only the probes' writes can find out.
    client.terminate()
    const outcome = await Promise.race([
      connection.closed.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000).unref()),
    ])
    expect(outcome).toBe('closed')
    // Queued data is dropped and the reader learns why: the connection broke.
    await expect(reader.closed).rejects.toBeInstanceOf(StreamError)
  })
})
