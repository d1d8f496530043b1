// Node-only helpers (`@ms/compliance/node`): raw sockets and a live echo
// server, for tests of what a plugin does with bytes no well-behaved peer
// would send.
import { connect, type Socket } from 'node:net'
import { HandshakeError, createMultiServer, type MsError, type Suite } from '@ms/core'
import { ComplianceError } from './bounded.js'
import { firstDifference, patternBytes, readAll, writeAll } from './streams.js'

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

export interface EchoTargetOptions {
  /** The server's suite: a TCP transport on loopback (port 0), then the transforms under test. */
  server: () => Suite
  /** A well-behaved client's suite, for `stillServes()`. */
  client: () => Suite
}

/** A live echo server that records what went wrong, for hostile-input tests. */
export interface EchoTarget {
  /** The server's `device` address. */
  address: string
  /** Its TCP port, for `rawTcpClient`. */
  port: number
  /** Every error the MultiServer reported (`onError`): failed handshakes and the like. Clear it with `errors.length = 0`. */
  errors: MsError[]
  /** Errors of accepted connections' streams (a corrupted stream errors the readable the echo pipes from). */
  readErrors: unknown[]
  /** Resolves once a well-behaved client got 50 000 bytes echoed intact; the server must keep serving whatever came before. */
  stillServes(): Promise<void>
  /** Resolves once an error matching `predicate` is in `errors`; rejects after `timeout` ms naming the errors seen. */
  waitForError(predicate: (error: MsError) => boolean, what: string, timeout?: number): Promise<void>
  close(): Promise<void>
}

const describeError = (e: MsError) => (HandshakeError.is(e) ? `${e.name}:${e.stage}` : e.name)

/** Starts an echo server on `options.server()` (see `EchoTarget`). */
export async function startEchoTarget(options: EchoTargetOptions): Promise<EchoTarget> {
  const errors: MsError[] = []
  const readErrors: unknown[] = []
  const server = createMultiServer([options.server()])
  const listener = await server.listen(
    (connection) => {
      connection.readable.pipeTo(connection.writable).catch((error: unknown) => {
        readErrors.push(error)
        void connection.close()
      })
    },
    { onError: (error) => errors.push(error) },
  )
  const address = server.stringify('device')
  const port = Number(address.split('~')[0]!.split(':').pop())
  return {
    address,
    port,
    errors,
    readErrors,
    async stillServes() {
      const connection = await createMultiServer([options.client()]).connect(address)
      try {
        const data = patternBytes(50_000, errors.length + 1)
        const reading = readAll(connection.readable)
        await writeAll(connection.writable, data)
        const difference = firstDifference(await reading, data)
        if (difference !== null) throw new ComplianceError(`a well-behaved client got other bytes back: ${difference}`)
      } finally {
        await connection.close()
      }
    },
    async waitForError(predicate, what, timeout = 5000) {
      const started = Date.now()
      while (!errors.some(predicate)) {
        if (Date.now() - started > timeout) throw new ComplianceError(`no ${what} reported; got ${errors.map(describeError).join(', ') || 'nothing'}`)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
    close: () => listener.close(),
  }
}
