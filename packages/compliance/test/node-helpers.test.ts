import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ComplianceError, echo, echoRoundTrip, firstDifference, memory, memoryPair, patternBytes } from '@ms/compliance'
import { destroyRawTcpClients, rawTcpClient, startEchoTarget } from '@ms/compliance/node'

describe('echoRoundTrip', () => {
  it('returns exactly what an echo peer sent back, after writes of uneven sizes', async () => {
    const { client, server } = memoryPair()
    const sizes: number[] = []
    // Count the writes the server side sees, then echo.
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sizes.push(chunk.byteLength)
        controller.enqueue(chunk)
      },
    })
    void server.readable.pipeThrough(tap).pipeTo(server.writable)
    const data = patternBytes(300_000, 5)
    expect(firstDifference(await echoRoundTrip(client, data), data)).toBeNull()
    expect(new Set(sizes).size).toBeGreaterThan(2)
    expect(sizes[0]).toBe(1)
  })

  it('works against compliance’s own echo', async () => {
    const { client, server } = memoryPair()
    echo(server)
    const data = patternBytes(10_000, 6)
    expect(firstDifference(await echoRoundTrip(client, data), data)).toBeNull()
  })
})

describe('rawTcpClient', () => {
  let server: Server
  let port: number
  const accepted: Socket[] = []
  beforeAll(async () => {
    // Answers "ok" to each 4-byte request "ping", hangs up on anything else.
    server = createServer((socket) => {
      accepted.push(socket)
      let buffered = Buffer.alloc(0)
      socket.on('error', () => {})
      socket.on('data', (d: Buffer) => {
        buffered = Buffer.concat([buffered, d])
        while (buffered.length >= 4) {
          const request = buffered.subarray(0, 4).toString()
          buffered = buffered.subarray(4)
          if (request === 'ping') socket.write('ok')
          else return void socket.end()
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })
  afterAll(async () => {
    destroyRawTcpClients()
    for (const socket of accepted) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('writes exact bytes, reads exact lengths across packets, counts what arrived', async () => {
    const c = rawTcpClient(port)
    await c.write(new TextEncoder().encode('pi'))
    await c.write(new TextEncoder().encode('ngping'))
    expect(new TextDecoder().decode(await c.read(3))).toBe('oko')
    expect(new TextDecoder().decode(await c.read(1))).toBe('k')
    expect(c.received()).toBe(4)
    c.socket.destroy()
    await c.closed
  })

  it('resolves closed and rejects a read when the server hangs up', async () => {
    const c = rawTcpClient(port)
    await c.write(new TextEncoder().encode('junk'))
    await c.closed
    await expect(c.read(1)).rejects.toThrow(/closed after 0 of 1 bytes/)
    expect(c.received()).toBe(0)
  })

  it('destroyRawTcpClients closes every client still open', async () => {
    const clients = [rawTcpClient(port), rawTcpClient(port)]
    await Promise.all(clients.map((c) => new Promise((resolve) => c.socket.once('connect', resolve))))
    destroyRawTcpClients()
    await Promise.all(clients.map((c) => c.closed))
    expect(clients.every((c) => c.socket.destroyed)).toBe(true)
  })
})

describe('startEchoTarget', () => {
  it('echoes for a well-behaved client and says when an expected error never came', async () => {
    const target = await startEchoTarget({ server: () => [memory()], client: () => [memory()] })
    try {
      expect(target.address).toMatch(/^mem:/)
      await target.stillServes()
      await target.stillServes()
      expect(target.errors).toEqual([])
      const waited = target.waitForError(() => true, 'handshake failure', 50)
      await expect(waited).rejects.toBeInstanceOf(ComplianceError)
      await expect(waited).rejects.toThrow(/no handshake failure reported; got nothing/)
    } finally {
      await target.close()
    }
  })
})
