/**
 * Limits on our own server's connections before their WebSocket upgrade
 * (issue 19): `handshakeTimeout` holds within about a second of its
 * setting, and connections that send nothing are bounded in number.
 * Node's own `headersTimeout` is checked only every
 * `connectionsCheckingInterval` (30 s by default), so a slowloris upgrade
 * used to hold its socket ~32 s with the 10 s default.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createConnection, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Connection, TransportListener } from '@ms/core'
import { ws } from '@ms/ws'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function listen(options: Parameters<typeof ws>[0]): Promise<{ listener: TransportListener; port: number; accepted: Connection[] }> {
  const accepted: Connection[] = []
  const listener = await ws(options).listen!((c) => {
    accepted.push(c)
    cleanups.push(() => c.close())
  }, {})
  cleanups.push(() => listener.close())
  const port = Number(listener.addresses('device')[0]!.data[1])
  return { listener, port, accepted }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    cleanups.push(() => socket.destroy())
    socket.on('error', () => {})
    // Flowing, so the server's FIN is seen and the socket closes.
    socket.resume()
    socket.once('connect', () => resolve(socket))
    socket.once('error', reject)
  })
}

const closedAt = (socket: Socket) => new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())))

function upgradeRequest(port: number): Buffer {
  return Buffer.from(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
}

describe('ws upgrade limits (own server)', () => {
  it('closes a slowloris upgrade within about a second of handshakeTimeout', async () => {
    const handshakeTimeout = 1500
    const { port, accepted } = await listen({ handshakeTimeout })
    const socket = await open(port)
    const t0 = performance.now()
    const closed = closedAt(socket)
    // One byte of a never-ending header every 100 ms: always sending, never done.
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nX-Pad: ${'a'.repeat(10_000)}`)
    let i = 0
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(request.subarray(i, ++i))
    }, 100)
    cleanups.push(() => clearInterval(trickle))
    const elapsed = (await closed) - t0
    clearInterval(trickle)
    expect(elapsed).toBeGreaterThanOrEqual(handshakeTimeout - 50)
    // Within a second of the setting, with room for a loaded machine's timers.
    expect(elapsed).toBeLessThan(handshakeTimeout + 1000)
    expect(accepted).toHaveLength(0)
  })

  it('closes a silent connection after handshakeTimeout, but not one that upgraded in time', async () => {
    const handshakeTimeout = 800
    const { port, accepted } = await listen({ handshakeTimeout })
    const silent = await open(port)
    const good = await open(port)
    const t0 = performance.now()
    const silentClosed = closedAt(silent)
    let goodClosed = false
    good.once('close', () => (goodClosed = true))
    good.write(upgradeRequest(port))
    await expect.poll(() => accepted.length).toBe(1)
    const elapsed = (await silentClosed) - t0
    expect(elapsed).toBeLessThan(handshakeTimeout + 1000)
    // Well past the deadline, the upgraded connection is still open: the deadline was the upgrade's only.
    await new Promise((r) => setTimeout(r, handshakeTimeout))
    expect(goodClosed).toBe(false)
  })

  it('bounds connections that have not upgraded, dropping the oldest, and still upgrades a newcomer', async () => {
    const max = 8
    const { port, accepted } = await listen({ maxPendingRequests: max, handshakeTimeout: 30_000 })
    const silent: Socket[] = []
    for (let i = 0; i < 3 * max; i++) silent.push(await open(port))
    // After a turn of the server's event loop, only the newest `max` are left.
    await expect.poll(() => silent.filter((s) => !s.destroyed).length, { timeout: 10_000 }).toBeLessThanOrEqual(max)
    const stillOpen = silent.map((s) => !s.destroyed)
    expect(stillOpen.slice(0, 2 * max).some(Boolean)).toBe(false)
    // A client that sends its request at once is upgraded even though the cap is full.
    const good = await open(port)
    good.write(upgradeRequest(port))
    await expect.poll(() => accepted.length, { timeout: 10_000 }).toBe(1)
  })

  it('rejects bad limits', () => {
    expect(() => ws({ handshakeTimeout: 0 })).toThrow(TypeError)
    expect(() => ws({ maxPendingRequests: 0 })).toThrow(TypeError)
  })
})
