import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { Worker } from 'node:worker_threads'

/** A port nothing listens on (bound, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function listenRaw(host: string, onSocket: (s: Socket) => void = () => {}): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, onSocket)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  return server
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/**
 * A TCP port on 127.0.0.1 that never completes a handshake: a listener with
 * a backlog of 1 (Node treats 0 as its default, 511) in a worker thread that is blocked (so nothing accepts),
 * its queue filled by three dummy connections. Further SYNs are dropped by the
 * kernel, so a dial hangs until a timeout or an abort ends it.
 */
export async function blackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const lock = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads')
    const net = require('node:net')
    const server = net.createServer()
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port)
      // Block this thread's event loop: nothing is ever accepted.
      Atomics.wait(workerData, 0, 0)
      server.close()
    })
    `,
    { eval: true, workerData: lock },
  )
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const dummies: Socket[] = []
  const connected: Promise<void>[] = []
  for (let i = 0; i < 3; i++) {
    const s = createConnection({ port, host: '127.0.0.1' })
    s.on('error', () => {})
    dummies.push(s)
    connected.push(new Promise((resolve) => s.once('connect', () => resolve())))
  }
  // The kernel completes backlog + 1 = 2 handshakes into the full accept
  // queue and drops the SYNs after them: once two dummies are connected the
  // queue is full (the third dummy stays in SYN_SENT like the dials under test).
  let connects = 0
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('blackhole: the accept queue did not fill within 5 s')), 5000)
    for (const c of connected) {
      void c.then(() => {
        if (++connects === 2) {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  })
  return {
    port,
    async close() {
      for (const s of dummies) s.destroy()
      Atomics.store(lock, 0, 1)
      Atomics.notify(lock, 0)
      await worker.terminate()
    },
  }
}

/** This machine's addresses in a scope, computed straight from os.networkInterfaces(). */
export function machineAddresses(scope: 'device' | 'local' | 'public', family?: 'IPv4' | 'IPv6'): string[] {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (family && info.family !== family) continue
      const address = info.address.replace(/%.*$/, '')
      const v4 = info.family === 'IPv4'
      const isLoop = v4 ? address.startsWith('127.') : address === '::1'
      const isPriv = v4
        ? /^(10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.)/.test(address)
        : /^(f[cd]|fe[89ab])/i.test(address)
      const s = isLoop ? 'device' : isPriv ? 'local' : 'public'
      if (s === scope) out.add(address)
    }
  }
  return [...out]
}

export function hasIPv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === '::1'))
}
