import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import NoiseSecretStream from '@hyperswarm/secret-stream'

/**
 * @hyperswarm/secret-stream 6.x as the reference peer, over real TCP: an
 * echo server and a client that sends bytes, ends, and collects the echo.
 */
export interface RefKeys {
  publicKey: Buffer
  secretKey: Buffer
}

export interface RefSession {
  remotePublicKey: Buffer | null
  handshakeHash: Buffer | null
}

export async function refEchoServer(keyPair: RefKeys): Promise<{ port: number; sessions: RefSession[]; errors: unknown[]; close: () => Promise<void> }> {
  const sessions: RefSession[] = []
  const errors: unknown[] = []
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    const stream = new NoiseSecretStream(false, socket, { pattern: 'IK', keyPair })
    stream.on('error', (e: unknown) => errors.push(e))
    stream.on('connect', () => sessions.push({ remotePublicKey: stream.remotePublicKey, handshakeHash: stream.handshakeHash }))
    stream.on('data', (d: Buffer) => stream.write(d))
    stream.on('end', () => stream.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    port,
    sessions,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Dials, sends `data` in pieces of up to 64 KiB, ends, and resolves with everything received before the end. */
export function refClient(port: number, keyPair: RefKeys, remotePublicKey: Buffer, data: Uint8Array): Promise<{ received: Buffer; session: RefSession }> {
  return new Promise((resolve, reject) => {
    // Not half-open: secret-stream does not end its side when the server hangs up mid-handshake, and the socket would stay open.
    const socket = tcpConnect({ port, host: '127.0.0.1' })
    const stream = new NoiseSecretStream(true, socket, { pattern: 'IK', keyPair, remotePublicKey })
    const parts: Buffer[] = []
    stream.on('data', (d: Buffer) => parts.push(d))
    stream.on('error', reject)
    stream.on('end', () => {
      resolve({ received: Buffer.concat(parts), session: { remotePublicKey: stream.remotePublicKey, handshakeHash: stream.handshakeHash } })
      stream.end()
    })
    stream.on('close', () => reject(new Error('reference stream closed before its end')))
    for (let o = 0; o < data.length; o += 65536) stream.write(Buffer.from(data.subarray(o, o + 65536)))
    stream.end()
  })
}
