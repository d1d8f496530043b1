/**
 * The soak server: one process, `net~shs` and `ws~shs`, serving the
 * transfer protocol to every peer that completes a handshake. Driven by its
 * parent over IPC: it reports `ready` with its addresses, then a `stats`
 * sample every interval, and on `{ cmd: 'gc' }` collects garbage and sends
 * one sample; on `{ cmd: 'stop' }` it closes everything and exits.
 */
import { readdirSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createMultiServer, isMsError, type Connection } from '@ms/core'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import { ws } from '@ms/ws'
import { serveTransfer } from './protocol.js'
import { type ServerConfig, type ServerSample, keyPairFromSeed } from './shared.js'

const config = JSON.parse(process.env.SOAK_CONFIG ?? '{}') as ServerConfig
const send = (message: unknown) => process.send?.(message)

const keys = keyPairFromSeed(config.serverSeed)
const appKey = Buffer.from(config.appKey, 'base64')
// How long each inbound handshake took on the server, success or failure:
// none may outlast the handshake timeout by more than the event loop's lag.
const handshakeTimes = { max: 0, sum: 0, n: 0, overTimeout: 0 }
let maxLagSeen = 0
function transform() {
  const inner = shs({ keys, appKey, timeout: config.handshakeTimeout })
  return {
    ...inner,
    async upgradeInbound(connection: Connection, options: { signal?: AbortSignal }) {
      const t0 = performance.now()
      try {
        return await inner.upgradeInbound(connection, options)
      } finally {
        const ms = performance.now() - t0
        handshakeTimes.n++
        handshakeTimes.sum += ms
        if (ms > handshakeTimes.max) handshakeTimes.max = ms
        // Counted against the stalls seen so far; the final check compares the longest handshake with the largest stall of the whole run.
        if (ms > config.handshakeTimeout + 1000 + maxLagSeen) handshakeTimes.overTimeout++
      }
    },
  }
}
const ms = createMultiServer([
  [net({ port: 0, maxConnections: config.maxConnections }), transform()],
  [ws({ port: 0 }), transform()],
])

const counters = {
  handshakes: 0,
  transfersOk: 0,
  transfersBad: 0,
  transfersBroken: 0,
  appTimeouts: 0,
  bytesIn: 0,
  bytesOut: 0,
  untypedErrors: 0,
}
const errorsByKind: Record<string, number> = {}
const untypedSamples: string[] = []
let peakConnections = 0

function countError(error: unknown, where: string) {
  if (!(isMsError(error))) {
    counters.untypedErrors++
    if (untypedSamples.length < 5) untypedSamples.push(`${where}: ${String((error as Error)?.stack ?? error)}`)
  }
  const name = (error as Error)?.name ?? typeof error
  const stage = (error as { stage?: string }).stage
  const code = (error as { code?: string }).code
  const key = `${where}:${name}${stage ? `/${stage}` : ''}${code ? `/${code}` : ''}`
  errorsByKind[key] = (errorsByKind[key] ?? 0) + 1
}

const eld = monitorEventLoopDelay({ resolution: 10 })
eld.enable()
// A separate histogram per sample window so the parent can see the delay during the flood.
let windowMax = 0
let windowStart = Date.now()
const probe = setInterval(() => {
  const lag = Date.now() - windowStart - 50
  if (lag > windowMax) windowMax = lag
  if (lag > maxLagSeen) maxLagSeen = lag
  windowStart = Date.now()
}, 50)

const open = new Set<Connection>()

function onConnection(connection: Connection) {
  counters.handshakes++
  open.add(connection)
  if (open.size > peakConnections) peakConnections = open.size
  // Application-level safety net only: if the library's own timeouts let a
  // connection sit forever, this closes it and the count shows it.
  const guard = setTimeout(() => {
    counters.appTimeouts++
    void connection.close()
  }, config.transferDeadline)
  serveTransfer(connection, config.maxSize)
    .then((result) => {
      counters.bytesIn += result.received
      counters.bytesOut += result.sent
      if (result.verified) counters.transfersOk++
      else counters.transfersBad++
    })
    .catch((error: unknown) => {
      counters.transfersBroken++
      countError(error, 'transfer')
    })
    .finally(() => {
      clearTimeout(guard)
      void connection.close().then(() => open.delete(connection))
    })
}

function handles(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) out[name] = (out[name] ?? 0) + 1
  return out
}

function fds(): number {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return -1
  }
}

function sample(): ServerSample {
  const m = process.memoryUsage()
  const s: ServerSample = {
    t: Date.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    handles: handles(),
    fds: fds(),
    open: open.size,
    peakOpen: peakConnections,
    listenerConnections: listener.connections.size,
    eld: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6, mean: eld.mean / 1e6 },
    windowLagMax: windowMax,
    cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000),
    maxLag: maxLagSeen,
    handshakeMs: { max: Math.round(handshakeTimes.max), mean: handshakeTimes.n ? Math.round(handshakeTimes.sum / handshakeTimes.n) : 0, n: handshakeTimes.n, overTimeout: handshakeTimes.overTimeout },
    counters: { ...counters },
    errors: { ...errorsByKind },
    untypedSamples,
  }
  windowMax = 0
  peakConnections = open.size
  return s
}

const listener = await ms.listen(onConnection, {
  maxPendingUpgrades: config.maxPendingUpgrades,
  onError: (error) => countError(error, 'listen'),
})

const sampler = setInterval(() => send({ type: 'stats', sample: sample() }), config.sampleInterval)

process.on('uncaughtException', (error) => {
  send({ type: 'crash', error: String(error?.stack ?? error) })
  process.exit(70)
})
process.on('unhandledRejection', (error) => {
  send({ type: 'crash', error: `unhandled rejection: ${String((error as Error)?.stack ?? error)}` })
  process.exit(71)
})

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'gc') {
    // Two passes: the first frees what finalizers release in the second.
    globalThis.gc?.()
    globalThis.gc?.()
    setTimeout(() => send({ type: 'gc', sample: sample() }), 50)
  } else if (message.cmd === 'reset-eld') {
    eld.reset()
  } else if (message.cmd === 'stop') {
    clearInterval(sampler)
    clearInterval(probe)
    eld.disable()
    void listener.close().then(() => {
      send({ type: 'stopped', sample: sample() })
      process.disconnect?.()
    })
  }
})

send({ type: 'ready', addresses: ms.stringify('device').split(';'), sample: sample() })
