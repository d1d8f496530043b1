// Adapter for our packages (@ms/core, @ms/net, @ms/unix, @ms/shs, @ms/noise, @ms/ws): listen/dial a
// suite through createMultiServer, and wrap each Connection (WHATWG streams)
// in the small Conn interface the workloads use (see workloads.mjs).
import { createMultiServer } from '@ms/core'
import { net } from '@ms/net'
import { socketPath } from './socket-path.mjs'

const HOST = '127.0.0.1'

async function transportFor(suite, listening) {
  const options = listening ? { host: HOST, port: 0 } : {}
  if (suite.startsWith('ws')) {
    const { ws } = await import('@ms/ws')
    return ws(options)
  }
  if (suite.startsWith('unix')) {
    const { unix } = await import('@ms/unix')
    return unix(listening ? { path: socketPath('ms-bench-unix-') } : {})
  }
  return net(options)
}

async function suiteFor(suite, keys, appKey, listening) {
  const transport = await transportFor(suite, listening)
  if (suite.endsWith('~noise')) {
    // No network key: the wire of @hyperswarm/secret-stream, as deployed.
    const { noise } = await import('@ms/noise')
    return [transport, noise({ keys })]
  }
  if (!suite.endsWith('~shs')) return [transport]
  const { shs } = await import('@ms/shs')
  return [transport, shs({ keys, appKey })]
}

/** Listens on 127.0.0.1 port 0; `onConnection(connection)` gets every accepted Connection. */
export async function listenConnections(suite, keys, appKey, onConnection, onError) {
  const ms = createMultiServer([await suiteFor(suite, keys, appKey, true)])
  const listener = await ms.listen(onConnection, {
    onError,
    // The handshake figures keep up to 64 dials in flight; the default is
    // far above that, set here so the figure never depends on it.
    maxPendingUpgrades: 4096,
  })
  return { address: ms.stringify('device'), close: () => listener.close() }
}

/** A dialler for one suite: `dial(address)` resolves to a Connection. */
export async function dialConnection(suite, keys, appKey) {
  const ms = createMultiServer([await suiteFor(suite, keys, appKey, false)])
  return (address) => ms.connect(address)
}

/** Listens on 127.0.0.1 port 0; `onConn(conn)` gets every accepted connection. */
export function listen(suite, keys, appKey, onConn, onError) {
  return listenConnections(suite, keys, appKey, (connection) => onConn(wrap(connection)), onError)
}

/** A dialler for one suite: `dial(address)` resolves to a Conn. */
export async function dialer(suite, keys, appKey) {
  const dial = await dialConnection(suite, keys, appKey)
  return async (address) => wrap(await dial(address))
}

function wrap(connection) {
  const reader = connection.readable.getReader()
  const writer = connection.writable.getWriter()
  let idleRead
  return {
    async write(bytes) {
      await writer.ready
      await writer.write(bytes)
    },
    /** Writes `n` bytes taken from `chunk` (repeated), honouring backpressure. */
    async pump(n, chunk) {
      let last
      while (n > 0) {
        const piece = n >= chunk.length ? chunk : chunk.subarray(0, n)
        n -= piece.length
        await writer.ready
        last = writer.write(piece)
        last.catch(() => {})
      }
      await last
    },
    /** Reads until at least `n` bytes arrived; returns the count. */
    async readAtLeast(n) {
      let got = 0
      while (got < n) {
        const { done, value } = await reader.read()
        if (done) throw new Error(`stream ended after ${got} of ${n} bytes`)
        got += value.byteLength
      }
      return got
    },
    async readToEnd() {
      for (;;) {
        const { done } = await reader.read()
        if (done) return
      }
    },
    /** Leaves one read pending, as an application waiting for data would. */
    idle() {
      idleRead = reader.read().catch(() => {})
    },
    async endWrite() {
      await writer.close()
    },
    close() {
      return connection.close()
    },
    get idleRead() {
      return idleRead
    },
  }
}
