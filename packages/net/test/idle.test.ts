import { createConnection, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { isMsError, type Connection } from '@ms/core'
import { net } from '../src/index.js'

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function pair(idleTimeout: number): Promise<{ client: Socket; server: Connection }> {
  let resolve!: (c: Connection) => void
  const accepted = new Promise<Connection>((r) => (resolve = r))
  const listener = await net({ idleTimeout }).listen!((c) => resolve(c), {})
  cleanup.push(() => listener.close())
  const port = Number(listener.addresses('device')[0]!.data.at(-1))
  const client = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true })
  client.on('error', () => {})
  cleanup.push(() => client.destroy())
  const server = await accepted
  cleanup.push(() => server.close())
  return { client, server }
}

describe('net idleTimeout (a limit of "Running at scale")', () => {
  it('fails a connection on which no byte moves with a TimeoutError carrying its address, and closes the socket', async () => {
    const { client, server } = await pair(300)
    const started = Date.now()
    // The server's socket is destroyed: ours sees its end (or a reset).
    const clientClosed = new Promise((resolve) => {
      client.once('end', resolve)
      client.once('close', resolve)
    })
    client.resume()
    const error = await server.readable.getReader().read().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isMsError(error, 'TimeoutError')).toBe(true)
    expect((error as { address?: string }).address).toBe(`net:127.0.0.1:${client.localPort}`)
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    await clientClosed
  })

  it('keeps a connection that keeps talking past several timeouts', async () => {
    const { client, server } = await pair(300)
    const reader = server.readable.getReader()
    for (let i = 0; i < 8; i++) {
      client.write(Uint8Array.of(i))
      const { value } = await reader.read()
      expect(Array.from(value!)).toEqual([i])
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // 800 ms of traffic with a 300 ms idle timeout, and still open.
    client.write(Uint8Array.of(99))
    expect(Array.from((await reader.read()).value!)).toEqual([99])
  })
})
