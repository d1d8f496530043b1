// Node-only helpers (`@ms/compliance/node`): raw sockets, for tests of what
// a plugin does with bytes no well-behaved peer would send.
import { connect, type Socket } from 'node:net'

/** A TCP client that sends exactly the bytes a test gives it and reads exactly what came back. */
export interface RawTcpClient {
  socket: Socket
  /** Resolves when the socket has closed (the server ended or reset it, or `socket.destroy()`). */
  closed: Promise<void>
  /** How many bytes arrived so far, ever (read or not). */
  received(): number
  /** Resolves once `bytes` are handed to the kernel. */
  write(bytes: Uint8Array): Promise<void>
  /** The next `n` bytes; rejects when the stream ends first. */
  read(n: number): Promise<Uint8Array>
}

const open = new Set<Socket>()

/**
 * Connects a raw TCP client to `host:port` (loopback by default). It is not
 * half-open: when the server ends its side, the client ends too and
 * `closed` resolves, so "the server hung up" is one await. Errors are
 * swallowed: hostile tests expect resets. Destroy it when done, or call
 * `destroyRawTcpClients()` (e.g. in `afterAll`).
 */
export function rawTcpClient(port: number, host = '127.0.0.1'): RawTcpClient {
  const socket = connect({ port, host, allowHalfOpen: false })
  open.add(socket)
  let buffered = Buffer.alloc(0)
  let total = 0
  let waiter: (() => void) | undefined
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      open.delete(socket)
      waiter?.()
      resolve()
    }),
  )
  socket.on('error', () => {})
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d])
    total += d.length
    waiter?.()
  })
  socket.on('end', () => waiter?.())
  return {
    socket,
    closed,
    received: () => total,
    write: (bytes) => new Promise<void>((resolve) => socket.write(bytes, () => resolve())),
    async read(n) {
      while (buffered.length < n) {
        if (socket.readableEnded || socket.destroyed) throw new Error(`closed after ${buffered.length} of ${n} bytes`)
        await new Promise<void>((resolve) => (waiter = resolve))
      }
      const out = buffered.subarray(0, n)
      buffered = buffered.subarray(n)
      return new Uint8Array(out)
    },
  }
}

/** Destroys every raw client still open. */
export function destroyRawTcpClients(): void {
  for (const socket of open) socket.destroy()
  open.clear()
}
