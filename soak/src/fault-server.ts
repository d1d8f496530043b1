/**
 * The server for the fault tests, run inside its own network namespace
 * (`ip netns exec <ns> node fault-server.js`). Serves the transfer protocol
 * on net~shs and ws~shs on every interface of that namespace and reports
 * over IPC: `ready` (ports, key), then one `event` per finished or failed
 * connection, and `stats` on request.
 */
import { createMultiServer, isMsError, type Connection } from '@ms/core'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import { ws } from '@ms/ws'
import { serveTransfer } from './protocol.js'
import { keyPairFromSeed } from './shared.js'

interface FaultServerConfig {
  serverSeed: string
  appKey: string
  handshakeTimeout: number
  maxSize: number
  idleSeed: string
}

const config = JSON.parse(process.env.SOAK_CONFIG ?? '{}') as FaultServerConfig
const send = (m: unknown) => process.send?.(m)
const keys = keyPairFromSeed(config.serverSeed)
const appKey = Buffer.from(config.appKey, 'base64')
const transform = () => shs({ keys, appKey, timeout: config.handshakeTimeout })
// Keep-alive probes after 2 s idle (interval and count come from the namespace's sysctls).
const netTransport = net({ host: '0.0.0.0', port: 0, scope: 'local', keepAlive: 2000 })
const wsTransport = ws({ host: '0.0.0.0', port: 0, scope: 'local', keepAlive: 2000 })
const ms = createMultiServer([
  [netTransport, transform()],
  [wsTransport, transform()],
])

const open = new Set<Connection>()
const idleKey = Buffer.from(keyPairFromSeed(config.idleSeed).publicKey)

/** An idle peer: read until the connection ends or breaks, and say how and when. */
async function holdIdle(connection: Connection) {
  const t0 = Date.now()
  const reader = connection.readable.getReader()
  try {
    for (;;) if ((await reader.read()).done) break
    send({ type: 'event', kind: 'idle', ok: true, remote: connection.remoteAddress, ms: Date.now() - t0, t: Date.now() })
  } catch (error) {
    send({ type: 'event', kind: 'idle', ok: false, remote: connection.remoteAddress, ms: Date.now() - t0, t: Date.now(), error: describe(error) })
  }
}
const describe = (error: unknown) => ({
  typed: isMsError(error),
  name: (error as Error)?.name,
  code: (error as { code?: string }).code,
  stage: (error as { stage?: string }).stage,
  message: String((error as Error)?.message ?? error),
})

const listener = await ms.listen(
  (connection) => {
    open.add(connection)
    const t0 = Date.now()
    if (idleKey.equals(connection.info.shs!.publicKey)) {
      void holdIdle(connection).finally(() => void connection.close().then(() => open.delete(connection)))
      return
    }
    serveTransfer(connection, config.maxSize)
      .then((r) => send({ type: 'event', kind: 'transfer', ok: r.verified, remote: connection.remoteAddress, ms: Date.now() - t0, t: Date.now() }))
      .catch((error: unknown) => send({ type: 'event', kind: 'transfer', ok: false, remote: connection.remoteAddress, ms: Date.now() - t0, t: Date.now(), error: describe(error) }))
      .finally(() => void connection.close().then(() => open.delete(connection)))
  },
  { onError: (error) => send({ type: 'event', kind: 'listen', ok: false, t: Date.now(), error: describe(error), remote: error.address }) },
)

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'stats') send({ type: 'stats', open: open.size, connections: listener.connections.size, remotes: [...open].map((c) => c.remoteAddress.split('~')[0]), handles: process.getActiveResourcesInfo().length })
  if (m.cmd === 'stop') void listener.close().then(() => process.disconnect?.())
})

const ports = ms
  .stringify('local')
  .split(';')
  .map((a) => /^(net|ws):(?:\/\/)?[^~]*:([0-9]+)/.exec(a))
  .filter((m) => m !== null)
  .map((m) => [m[1], Number(m[2])])
send({ type: 'ready', ports: Object.fromEntries(ports), key: Buffer.from(keys.publicKey).toString('base64') })
