/**
 * `pnpm soak` / `pnpm soak:short`: one server process (net~shs and ws~shs),
 * client processes that mix good transfers with hostile peers and a
 * handshake flood for a fixed time, then a settle phase in which the server
 * must return to its starting resources. Prints a report; exits 1 when a
 * must-condition fails, 2 on a harness failure. Loopback only; bounded in
 * time (every phase has a deadline) and in count (`maxOps` per client).
 *
 *   node dist/soak.js [--duration 60] [--json report.json] [--quiet]
 */
import { fork, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ClientConfig, type ClientReport, type Role, type ServerConfig, type ServerSample, randomBase64, sleep } from './shared.js'

const here = dirname(fileURLToPath(import.meta.url))

export interface SoakOptions {
  /** Seconds of mixed traffic. */
  duration: number
  /** Print progress lines. */
  log?: (line: string) => void
  /** Run only these client groups (good-net, good-ws, hostile-net, hostile-ws, flood-net); for diagnosis. */
  only?: string[]
}

export interface Check {
  name: string
  ok: boolean
  detail: string
}

export interface SoakResult {
  ok: boolean
  checks: Check[]
  figures: Record<string, unknown>
  clients: ClientReport[]
  server: { start: ServerSample; peak: Record<string, number>; end: ServerSample; errors: Record<string, number> }
}

const MiB = 1024 * 1024

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {})
  const duration = options.duration * 1000
  const short = options.duration <= 90
  const appKey = randomBase64(32)
  const serverSeed = randomBase64(32)
  const handshakeTimeout = 3000
  const serverConfig: ServerConfig = {
    serverSeed,
    appKey,
    handshakeTimeout,
    maxPendingUpgrades: 64,
    maxConnections: 1024,
    maxSize: 64 * MiB,
    transferDeadline: 120_000,
    sampleInterval: 250,
  }
  const children = new Set<ChildProcess>()
  const killAll = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.once('exit', killAll)

  try {
    // ------------------------------------------------------------ server
    const server = fork(join(here, 'server.js'), [], {
      env: { ...process.env, SOAK_CONFIG: JSON.stringify(serverConfig) },
      // SOAK_SERVER_PROF=<dir> writes a CPU profile of the server, for diagnosis.
      execArgv: ['--expose-gc', ...(process.env.SOAK_SERVER_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.SOAK_SERVER_PROF] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    children.add(server)
    // A send to a server that already exited fails with EPIPE; its exit is
    // handled below, so the 'error' event must not crash the orchestrator.
    server.on('error', () => {})
    const samples: ServerSample[] = []
    let crash: string | undefined
    let serverExit: number | null | undefined
    const waiters: { type: string; resolve: (m: { sample: ServerSample; addresses?: string[] }) => void }[] = []
    server.on('message', (m: { type: string; sample: ServerSample; error?: string; addresses?: string[] }) => {
      if (m.type === 'stats') samples.push(m.sample)
      if (m.type === 'crash') crash = m.error
      for (const w of waiters.splice(0)) {
        if (w.type === m.type) w.resolve(m)
        else waiters.push(w)
      }
    })
    server.on('exit', (code) => (serverExit = code))
    const next = (type: string, timeout = 30_000) =>
      new Promise<{ sample: ServerSample; addresses?: string[] }>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`soak: the server did not send ${type} within ${timeout} ms (crash: ${crash ?? 'none'})`)), timeout)
        waiters.push({
          type,
          resolve: (m) => {
            clearTimeout(t)
            resolve(m)
          },
        })
      })
    const ready = await next('ready')
    const addresses = ready.addresses!
    const netAddress = addresses.find((a) => a.startsWith('net:'))!
    const wsAddress = addresses.find((a) => a.startsWith('ws:'))!
    log(`server ready: ${addresses.join(' ')}`)
    await sleep(1000)
    server.send({ cmd: 'gc' })
    const start = (await next('gc')).sample
    server.send({ cmd: 'reset-eld' })
    log(`start: rss ${mb(start.rss)} heap ${mb(start.heapUsed)} handles ${total(start.handles)} fds ${start.fds}`)

    // ------------------------------------------------------------ clients
    const t0 = Date.now() + 500
    const until = t0 + duration
    const floodFrom = t0 + Math.round(duration * 0.35)
    const floodUntil = t0 + Math.round(duration * 0.65)
    const base = { appKey, handshakeTimeout, minSize: 1 * MiB, maxSize: short ? 3 * MiB : 4 * MiB, serverMaxSize: serverConfig.maxSize, maxOps: 1_000_000 }
    const hostile = (c: number): { role: Role; concurrency: number }[] => [
      { role: 'abort', concurrency: c },
      { role: 'reset', concurrency: c },
      { role: 'stopread', concurrency: 2 },
      { role: 'slowloris', concurrency: 6 },
      { role: 'random', concurrency: c },
      { role: 'badkey', concurrency: c },
    ]
    const plan: ClientConfig[] = [
      { ...base, name: 'good-net', transport: 'net', address: netAddress, from: t0, until, roles: [{ role: 'good', concurrency: 3 }], maxOps: short ? 200 : 2000 },
      { ...base, name: 'good-ws', transport: 'ws', address: wsAddress, from: t0, until, roles: [{ role: 'good', concurrency: 3 }], maxOps: short ? 200 : 2000 },
      { ...base, name: 'hostile-net', transport: 'net', address: netAddress, from: t0, until, roles: hostile(2) },
      { ...base, name: 'hostile-ws', transport: 'ws', address: wsAddress, from: t0, until, roles: hostile(2) },
      { ...base, name: 'flood-net', transport: 'net', address: netAddress, from: floodFrom, until: floodUntil, roles: [{ role: 'flood', concurrency: 300 }], maxOps: 200_000 },
    ]
    if (options.only) plan.splice(0, plan.length, ...plan.filter((p) => options.only!.includes(p.name)))
    const reports: ClientReport[] = []
    const clientProblems: string[] = []
    const startClient = (config: ClientConfig, into: ClientReport[]) => {
      const child = fork(join(here, 'client.js'), [], {
        env: { ...process.env, SOAK_CONFIG: JSON.stringify(config) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      children.add(child)
      let reported = false
      child.on('message', (m: { type: string; report: ClientReport }) => {
        if (m.type === 'report') {
          reported = true
          into.push(m.report)
        }
      })
      return new Promise<void>((resolve) => {
          // Hard bound: a client that has not finished a minute after its deadline is killed and counted.
          const hard = setTimeout(() => {
            clientProblems.push(`${config.name} did not finish in time; killed`)
            child.kill('SIGKILL')
          }, config.until - Date.now() + 150_000)
          child.on('exit', (code, signal) => {
            clearTimeout(hard)
            children.delete(child)
            if (!reported) clientProblems.push(`${config.name} exited (${code ?? signal}) without a report`)
            resolve()
          })
        })
    }
    const clientExits = plan.map((config) => startClient(config, reports))
    log(`clients: ${plan.map((p) => p.name).join(', ')}; mix for ${options.duration} s, flood from ${((floodFrom - t0) / 1000).toFixed(0)} s to ${((floodUntil - t0) / 1000).toFixed(0)} s`)
    const progress = setInterval(() => {
      const s = samples.at(-1)
      if (s) log(`t+${((Date.now() - t0) / 1000).toFixed(0)}s rss ${mb(s.rss)} open ${s.open} handshakes ${s.counters.handshakes} ok ${s.counters.transfersOk} lag ${s.windowLagMax} ms`)
    }, 5000)
    await Promise.all(clientExits)
    clearInterval(progress)
    const clientsDone = Date.now()
    log(`clients done ${((clientsDone - until) / 1000).toFixed(1)} s after the deadline`)
    const mixSample = samples.at(-1)!

    // ------------------------------------------------------------ stalled readers
    // 16 peers (8 net, 8 ws) each ask for 64 MiB and then stop reading. While
    // they hold on, a GC'd sample shows what the server retains for them:
    // what it could not send must wait in bounded buffers, not pile up.
    const stallReports: ClientReport[] = []
    // Exactly 8 operations per process (maxOps); `until` only bounds a slow start.
    const stallBase = { ...base, from: 0, until: Date.now() + 20_000, maxOps: 8, holdMs: 6000, roles: [{ role: 'stopread' as Role, concurrency: 8 }] }
    const stallExits = [
      startClient({ ...stallBase, name: 'stall-net', transport: 'net', address: netAddress }, stallReports),
      startClient({ ...stallBase, name: 'stall-ws', transport: 'ws', address: wsAddress }, stallReports),
    ]
    // Wait until most of them hold a connection, then let the buffers fill.
    const stallWait = Date.now() + 15_000
    while ((samples.at(-1)?.open ?? 0) < 12 && Date.now() < stallWait) await sleep(100)
    await sleep(1500)
    server.send({ cmd: 'gc' })
    const stallSample = (await next('gc')).sample
    await Promise.all(stallExits)
    const stalledPeers = stallReports.reduce((a, r) => a + (r.counts['stopread:heldUntilWeLeft'] ?? 0) + (r.counts['stopread:closedByServer'] ?? 0), 0)
    const stallRetained = stallSample.arrayBuffers + stallSample.external - (start.arrayBuffers + start.external)
    log(`stalled readers: ${stallSample.open} open, server retains ${mb(stallRetained)} MiB of buffers for them`)

    // ------------------------------------------------------------ flood alone
    // The flood during the mix competes with everything else for two shared
    // cores; this short phase measures what the server serves under the flood alone.
    const aloneReports: ClientReport[] = []
    const aloneFrom = Date.now() + 1500
    const aloneUntil = aloneFrom + (short ? 6000 : 10_000)
    const aloneExit = startClient({ ...base, name: 'flood-alone', transport: 'net', address: netAddress, from: aloneFrom, until: aloneUntil, roles: [{ role: 'flood', concurrency: 300 }], maxOps: 200_000 }, aloneReports)
    await aloneExit
    const aloneSamples = samples.filter((x) => x.t >= aloneFrom && x.t <= aloneUntil)
    const aloneFirst = samples.filter((x) => x.t < aloneFrom).at(-1) ?? start
    const aloneLast = aloneSamples.at(-1) ?? aloneFirst
    const aloneSeconds = (aloneLast.t - aloneFirst.t) / 1000
    const floodAlone = {
      seconds: +aloneSeconds.toFixed(1),
      serverHandshakesPerSecond: aloneSeconds > 0 ? +((aloneLast.counters.handshakes! - aloneFirst.counters.handshakes!) / aloneSeconds).toFixed(1) : 0,
      serverUpgradesEndedPerSecond: aloneSeconds > 0 ? +((aloneLast.handshakeMs.n - aloneFirst.handshakeMs.n) / aloneSeconds).toFixed(1) : 0,
      serverCpuShare: aloneSeconds > 0 ? +((aloneLast.cpuMs - aloneFirst.cpuMs) / (aloneSeconds * 1000)).toFixed(2) : 0,
      maxLag: Math.max(0, ...aloneSamples.map((x) => x.windowLagMax)),
      msg1AnsweredPerSecond: +(aloneReports[0]?.floodAnsweredRate ?? 0).toFixed(1),
      counts: aloneReports[0]?.counts,
    }
    log(`flood alone: ${floodAlone.serverHandshakesPerSecond} full handshakes/s, ${floodAlone.serverUpgradesEndedPerSecond} handshake attempts ended/s, server CPU ${floodAlone.serverCpuShare}`)

    // ------------------------------------------------------------ settle
    let end: ServerSample | undefined
    const settleDeadline = Date.now() + 30_000
    for (;;) {
      server.send({ cmd: 'gc' })
      end = (await next('gc')).sample
      if ((end.open === 0 && total(end.handles) <= total(start.handles) && end.fds <= start.fds) || Date.now() > settleDeadline) break
      await sleep(500)
    }
    const settleMs = Date.now() - clientsDone
    log(`end: rss ${mb(end.rss)} heap ${mb(end.heapUsed)} handles ${total(end.handles)} fds ${end.fds} open ${end.open} (settled in ${settleMs} ms)`)

    server.send({ cmd: 'stop' })
    await Promise.race([next('stopped', 10_000).catch(() => undefined), new Promise((r) => server.once('exit', r))])
    await Promise.race([new Promise((r) => (serverExit !== undefined ? r(undefined) : server.once('exit', r))), sleep(5000)])
    if (serverExit === undefined) server.kill('SIGKILL')

    // ------------------------------------------------------------ figures
    const all = [start, ...samples, end]
    const peak = {
      rss: Math.max(...all.map((s) => s.rss)),
      heapUsed: Math.max(...all.map((s) => s.heapUsed)),
      arrayBuffers: Math.max(...all.map((s) => s.arrayBuffers)),
      handles: Math.max(...all.map((s) => total(s.handles))),
      fds: Math.max(...all.map((s) => s.fds)),
      open: Math.max(...all.map((s) => s.peakOpen)),
    }
    const good = reports.filter((r) => r.name.startsWith('good'))
    const sum = (list: ClientReport[], key: string) => list.reduce((a, r) => a + (r.counts[key] ?? 0), 0)
    const goodStarted = sum(good, 'started')
    const goodVerified = sum(good, 'verified')
    const goodFailed = sum(good, 'failed')
    const goodAbandoned = sum(good, 'abandoned')
    const hostileReports = reports.filter((r) => r.name.startsWith('hostile'))
    const flood = reports.find((r) => r.name === 'flood-net')
    const inFlood = samples.filter((s) => s.t >= floodFrom && s.t <= floodUntil)
    const beforeFlood = samples.filter((s) => s.t < floodFrom).at(-1) ?? start
    const afterFlood = inFlood.at(-1) ?? beforeFlood
    const floodSeconds = (afterFlood.t - beforeFlood.t) / 1000
    const serverHandshakesPerSecond = floodSeconds > 0 ? (afterFlood.counters.handshakes! - beforeFlood.counters.handshakes!) / floodSeconds : 0
    const upgradesPerSecond = floodSeconds > 0 ? (afterFlood.handshakeMs.n - beforeFlood.handshakeMs.n) / floodSeconds : 0
    const cpuDuringFlood = floodSeconds > 0 ? (afterFlood.cpuMs - beforeFlood.cpuMs) / (floodSeconds * 1000) : 0
    const mixSeconds = (mixSample.t - start.t) / 1000
    const lagDuringFlood = Math.max(0, ...inFlood.map((s) => s.windowLagMax))
    const lagOverall = Math.max(0, ...samples.map((s) => s.windowLagMax))

    const figures = {
      durationSeconds: options.duration,
      good: {
        started: goodStarted,
        verified: goodVerified,
        failed: goodFailed,
        abandoned: goodAbandoned,
        shedRetries: sum(good, 'shed'),
        // Why they were retried: HandshakeError/msg2 is the server hanging up
        // (shed under load), TimeoutError the client's own connect timeout.
        shedBy: Object.fromEntries(
          good.flatMap((r) => Object.keys(r.counts).filter((k) => k.startsWith('shed:'))).map((k) => [`${k.slice(5)}`, sum(good, k)]),
        ),
        mibSent: +(sum(good, 'bytesSent') / MiB).toFixed(1),
        mibReceived: +(sum(good, 'bytesReceived') / MiB).toFixed(1),
        latencyMs: Object.fromEntries(good.map((r) => [r.name, r.latency])),
      },
      server: {
        rssMiB: { start: mb(start.rss), peak: mb(peak.rss), endOfMix: mb(mixSample.rss), end: mb(end.rss) },
        heapUsedMiB: { start: mb(start.heapUsed), peak: mb(peak.heapUsed), end: mb(end.heapUsed) },
        arrayBuffersMiB: { start: mb(start.arrayBuffers), peak: mb(peak.arrayBuffers), end: mb(end.arrayBuffers) },
        handles: { start: start.handles, peak: peak.handles, end: end.handles },
        fds: { start: start.fds, peak: peak.fds, end: end.fds },
        openConnections: { peak: peak.open, end: end.open },
        settleMs,
        cpuShareOverall: +((mixSample.cpuMs - start.cpuMs) / 1000 / Math.max(1, mixSeconds)).toFixed(2),
        loadAverage: loadavg().map((x) => +x.toFixed(1)),
        eventLoopDelayMs: { ...roundAll(mixSample.eld), maxLagDuringFlood: lagDuringFlood, maxLagOverall: lagOverall },
        handshakes: mixSample.counters.handshakes,
        handshakeMs: end.handshakeMs,
        transfers: { ok: mixSample.counters.transfersOk, bad: mixSample.counters.transfersBad, broken: mixSample.counters.transfersBroken, appTimeouts: mixSample.counters.appTimeouts },
        errorsByKind: end.errors,
      },
      flood: {
        seconds: +floodSeconds.toFixed(1),
        serverHandshakesPerSecond: +serverHandshakesPerSecond.toFixed(1),
        serverUpgradesEndedPerSecond: +upgradesPerSecond.toFixed(1),
        serverCpuShare: +cpuDuringFlood.toFixed(2),
        clientFullHandshakesPerSecond: +(flood?.floodRate ?? 0).toFixed(1),
        msg1AnsweredPerSecond: +(flood?.floodAnsweredRate ?? 0).toFixed(1),
        counts: flood?.counts,
      },
      floodAlone,
      stalledReaders: { open: stallSample.open, retainedMiB: mb(stallRetained), perConnectionMiB: stallSample.open ? mb(stallRetained / stallSample.open) : 0, rssMiB: mb(stallSample.rss) },
      heldMs: Object.fromEntries(hostileReports.flatMap((r) => Object.entries(r.held ?? {}).map(([k, v]) => [`${r.name}:${k}`, v]))),
    }

    // ------------------------------------------------------------ checks
    const checks: Check[] = []
    const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail })
    check('server did not crash', crash === undefined && (serverExit === 0 || serverExit === null || serverExit === undefined), crash ?? `exit ${serverExit}`)
    check('every client process reported', clientProblems.length === 0 && reports.length === plan.length && stallReports.length === 2 && aloneReports.length === 1, clientProblems.join('; ') || `${reports.length}/${plan.length}`)
    for (const name of ['good-net', 'good-ws'].filter((n) => plan.some((p) => p.name === n))) {
      const r = good.find((g) => g.name === name)
      const started = r?.counts.started ?? 0
      const verified = r?.counts.verified ?? 0
      check(`${name}: every started transfer completed and verified`, started > 0 && verified === started, `${verified}/${started} verified`)
    }
    const stuck = [...reports, ...stallReports, ...aloneReports].flatMap((r) => r.stuck)
    check('no client operation hung (60 s watchdog)', stuck.length === 0, stuck.slice(0, 5).join('; ') || 'none')
    check('good clients saw no server-caused errors', goodFailed === 0 && good.every((r) => r.failures.length === 0), good.flatMap((r) => r.failures).slice(0, 5).join(' | ') || 'none')
    check('no good transfer abandoned', goodAbandoned === 0, `${goodAbandoned} abandoned after retrying through the handshake cap`)
    check('server reported only typed errors', (end.counters.untypedErrors ?? 0) === 0, end.untypedSamples.join(' | ') || 'all MsError')
    check('server verified every transfer it completed', (mixSample.counters.transfersBad ?? 0) === 0, `${mixSample.counters.transfersBad} bad`)
    check('hostile peers never got a low-order or wrong-key handshake through', hostileReports.every((r) => r.failures.length === 0), hostileReports.flatMap((r) => r.failures).slice(0, 5).join(' | ') || 'none')
    // A process that is not scheduled cannot fire its timers: the bound allows for the largest stall seen.
    check(
      'no handshake outlived the handshake timeout (+1 s + the largest event-loop stall)',
      end.handshakeMs.n > 0 && end.handshakeMs.max <= handshakeTimeout + 1000 + end.maxLag,
      `server-side: max ${end.handshakeMs.max} ms over ${end.handshakeMs.n} handshakes, timeout ${handshakeTimeout} ms, largest stall ${end.maxLag} ms`,
    )
    check('connections all closed after the clients left', end.open === 0 && end.listenerConnections === 0, `open ${end.open}, listener ${end.listenerConnections}`)
    check('open handles back to the start level', total(end.handles) <= total(start.handles), `start ${fmtHandles(start.handles)}; end ${fmtHandles(end.handles)}`)
    check('file descriptors back to the start level', end.fds <= start.fds, `start ${start.fds}, end ${end.fds}`)
    // RSS never shrinks all the way (V8 and malloc keep some pages); the heap
    // after a full GC must, and RSS must not keep what the peak took.
    check('heap back to the start level after GC (+8 MiB)', end.heapUsed <= start.heapUsed + 8 * MiB, `start ${mb(start.heapUsed)} MiB, end ${mb(end.heapUsed)} MiB`)
    check(
      'buffers and native allocations back to the start level (+4 MiB)',
      end.arrayBuffers + end.external <= start.arrayBuffers + start.external + 4 * MiB,
      `array buffers + external: start ${mb(start.arrayBuffers + start.external)} MiB, end ${mb(end.arrayBuffers + end.external)} MiB`,
    )
    // RSS keeps pages the allocators do not return (V8 spaces, malloc arenas),
    // more after a higher peak; the bound catches gross native leaks only.
    check('RSS back near the start level (+192 MiB)', end.rss <= start.rss + 192 * MiB, `start ${mb(start.rss)} MiB, peak ${mb(peak.rss)} MiB, end ${mb(end.rss)} MiB`)
    check(
      'peers that stop reading do not make the server buffer without bound (< 4 MiB each)',
      stalledPeers >= 8 && stallSample.open >= 8 && stallRetained < stallSample.open * 4 * MiB,
      `${stallSample.open} connections stalled (peers asked for ${mb(serverConfig.maxSize)} MiB each, ${stalledPeers} reported); after GC the server held ${mb(stallRetained)} MiB of buffers for them`,
    )
    check(
      'the flood was served (handshakes completed during it)',
      serverHandshakesPerSecond > 0 && floodAlone.serverHandshakesPerSecond > 0,
      `${serverHandshakesPerSecond.toFixed(1)} handshakes/s during the mix, ${floodAlone.serverHandshakesPerSecond} with the flood alone`,
    )

    return {
      ok: checks.every((c) => c.ok),
      checks,
      figures,
      clients: reports,
      server: { start, peak, end, errors: end.errors },
    }
  } finally {
    killAll()
    process.off('exit', killAll)
  }
}

function total(handles: Record<string, number>): number {
  return Object.values(handles).reduce((a, b) => a + b, 0)
}

function fmtHandles(handles: Record<string, number>): string {
  return Object.entries(handles)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

function mb(bytes: number): number {
  return +(bytes / MiB).toFixed(1)
}

function roundAll(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(2)]))
}

// ---------------------------------------------------------------- CLI
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  const arg = (name: string) => {
    const i = args.indexOf(name)
    return i === -1 ? undefined : args[i + 1]
  }
  const duration = Number(arg('--duration') ?? 60)
  const jsonPath = arg('--json')
  const quiet = args.includes('--quiet')
  try {
    const only = arg('--only')?.split(',')
    const result = await runSoak({ duration, only, log: quiet ? undefined : (line) => console.log(`[soak] ${line}`) })
    if (jsonPath) writeFileSync(jsonPath, JSON.stringify(result, null, 2))
    console.log(JSON.stringify(result.figures, null, 2))
    for (const c of result.checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`)
    console.log(result.ok ? 'soak: all must-conditions hold' : 'soak: FAILED')
    process.exitCode = result.ok ? 0 : 1
  } catch (error) {
    console.error('soak: harness failure:', error)
    process.exitCode = 2
  }
}
