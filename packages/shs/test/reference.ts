// Thin typed wrappers around the reference implementations (CommonJS,
// pull-streams): npm secret-handshake 1.1.21 and npm multiserver 3.8.2.
import { createRequire } from 'node:module'
import * as nodeNet from 'node:net'

const require = createRequire(import.meta.url)
/* eslint-disable @typescript-eslint/no-explicit-any */
const SHS = require('secret-handshake')
const pull = require('pull-stream')
const toPull = require('stream-to-pull-stream')
const MultiServer = require('multiserver')
const MsNet = require('multiserver/plugins/net')
const MsShs = require('multiserver/plugins/shs')

export interface RefKeys {
  publicKey: Buffer
  secretKey: Buffer
}

type Auth = (id: Buffer, cb: (err: unknown, ok?: unknown) => void) => void

/** Sends `data` in 64 KiB pieces over a plaintext pull duplex, collecting what comes back. */
function exchange(plain: any, data: Uint8Array): Promise<Buffer> {
  const pieces: Buffer[] = []
  for (let o = 0; o < data.length; o += 65536) pieces.push(Buffer.from(data.subarray(o, o + 65536)))
  return new Promise((resolve, reject) => {
    pull(pull.values(pieces), plain.sink)
    pull(
      plain.source,
      pull.collect((err: unknown, chunks: Buffer[]) => (err ? reject(err) : resolve(Buffer.concat(chunks)))),
    )
  })
}

/** A TCP server speaking npm secret-handshake that echoes every plaintext byte back. */
export async function refShsEchoServer(keys: RefKeys, appKey: Buffer, authorize: Auth = (_id, cb) => cb(null, true), noDelay = process.env.REF_NODELAY === '1') {
  const errors: unknown[] = []
  const connections: { remote: Buffer; auth: unknown }[] = []
  const sockets = new Set<nodeNet.Socket>()
  const createServerStream = SHS.createServer(keys, authorize, appKey, 5000)
  const server = nodeNet.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket)
    if (noDelay) socket.setNoDelay(true)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    const wire = toPull.duplex(socket)
    const shsStream = createServerStream((err: unknown, plain: any) => {
      if (err) return errors.push(err)
      connections.push({ remote: plain.remote, auth: plain.auth })
      pull(plain, plain)
    })
    pull(wire, shsStream, wire)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as nodeNet.AddressInfo).port
  return {
    port,
    errors,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Dials with npm secret-handshake, sends `data`, resolves with what came back (or the handshake error). */
export function refShsClient(port: number, keys: RefKeys, appKey: Buffer, serverKey: Buffer, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = nodeNet.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    socket.on('error', reject)
    const wire = toPull.duplex(socket)
    const createClientStream = SHS.createClient(keys, appKey, 5000)
    const shsStream = createClientStream(serverKey, (err: unknown, plain: any) => {
      if (err) {
        socket.destroy()
        return reject(err)
      }
      exchange(plain, data).then(
        (got) => {
          socket.end()
          resolve(got)
        },
        (e) => {
          socket.destroy()
          reject(e)
        },
      )
    })
    pull(wire, shsStream, wire)
  })
}

/** A free loopback port; npm multiserver's net plugin cannot listen on port 0 and report the port. */
async function freePort(): Promise<number> {
  const probe = nodeNet.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as nodeNet.AddressInfo).port
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

/** npm multiserver 3.8.2 with net~shs, echoing every connection. */
export async function refMultiserverEcho(keys: RefKeys, appKey: Buffer, auth: Auth = (_id, cb) => cb(null, true)) {
  const port = await freePort()
  const errors: unknown[] = []
  const ms = MultiServer([[MsNet({ host: '127.0.0.1', port, scope: 'device' }), MsShs({ keys, appKey, auth, timeout: 5000 })]])
  let close!: (cb: () => void) => void
  await new Promise<void>((resolve, reject) => {
    close = ms.server(
      (stream: any) => pull(stream, stream),
      (err: unknown) => errors.push(err),
      (err: unknown) => (err ? reject(err) : resolve()),
    )
  })
  return { address: ms.stringify('device') as string, errors, close: () => new Promise<void>((resolve) => close(() => resolve())) }
}

/** Dials with npm multiserver 3.8.2, sends `data`, resolves with what came back. */
export function refMultiserverClient(address: string, keys: RefKeys, appKey: Buffer, data: Uint8Array): Promise<Buffer> {
  const ms = MultiServer([[MsNet({ scope: 'device' }), MsShs({ keys, appKey, auth: (_id: Buffer, cb: Auth) => cb as never, timeout: 5000 })]])
  return new Promise((resolve, reject) => {
    ms.client(address, (err: unknown, stream: any) => {
      if (err) return reject(err)
      exchange(stream, data).then(resolve, reject)
    })
  })
}
