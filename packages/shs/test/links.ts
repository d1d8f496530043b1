import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import { afterAll } from 'vitest'
import { memoryPair, type Connection } from '@ms/core'
import { fromNodeSocket } from '@ms/core/node'

/**
 * The two kinds of inner connection shs runs over: WHATWG streams only (the
 * in-memory pair; ws and any third-party transport look the same), where
 * shs runs on the channel `channelOf` bridges over the streams, and a
 * connection offering its own `ByteChannel` (a real TCP pair on loopback
 * through `fromNodeSocket`, which offers `takeChannel`). Both report the
 * memory pair's addresses, so tests can assert on them either way.
 */
export type Link = { client: Connection; server: Connection }

const sockets = new Set<Socket>()
afterAll(() => {
  for (const socket of sockets) socket.destroy()
})

async function tcpPair(): Promise<Link> {
  const server = createServer({ allowHalfOpen: true })
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const client = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen: true })
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject))
  const inbound = await accepted
  server.close()
  sockets.add(client).add(inbound)
  return {
    client: fromNodeSocket(client, { remoteAddress: 'mem:server', direction: 'outbound' }),
    server: fromNodeSocket(inbound, { remoteAddress: 'mem:client', direction: 'inbound' }),
  }
}

export const links: { name: string; pair: () => Promise<Link> }[] = [
  { name: 'streams', pair: async () => memoryPair() },
  { name: 'channel', pair: tcpPair },
]
