#!/usr/bin/env node
// pnpm bench: runs every figure (see README.md) as fresh child processes,
// prints a table and writes the same figures as JSON.
//
//   node src/run.mjs [--smoke] [--only net-shs-bulk,handshakes] [--mode sep|same]
//                    [--impl ours,ideal,noise,pull,theirs,raw] [--runs N] [--bytes MiB] [--json FILE]
//                    [--cpu-prof DIR] [--source] [--verbose]
import { fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freshKeys } from './keys.mjs'
import { CLUSTER_PARAMS, clusterRows, clusterTargets, runClusterCase } from './cluster.mjs'
import { MiB, median } from './stats.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const WORKER = path.join(here, 'worker.mjs')

// ---------------------------------------------------------------- options
function parseArgs(argv) {
  const options = { bytes: null, smoke: false, only: null, modes: null, impls: null, runs: null, json: null, cpuProf: null, source: false, verbose: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    const name = arg.split('=')[0]
    if (name === '--smoke') options.smoke = true
    else if (name === '--only') options.only = value().split(',')
    else if (name === '--mode') options.modes = value().split(',')
    else if (name === '--impl') options.impls = value().split(',')
    else if (name === '--runs') options.runs = Number(value())
    else if (name === '--bytes') options.bytes = Number(value()) * MiB
    else if (name === '--json') options.json = value()
    else if (name === '--cpu-prof') options.cpuProf = path.resolve(value())
    else if (name === '--source') options.source = true
    else if (name === '--verbose') options.verbose = true
    else if (name === '--help' || name === '-h') {
      console.log('usage: node src/run.mjs [--smoke] [--only GROUPS] [--mode sep,same] [--impl ours,ideal,noise,pull,theirs,raw] [--runs N] [--bytes MiB] [--json FILE] [--cpu-prof DIR] [--source] [--verbose]')
      console.log(`groups: ${GROUPS.join(', ')}`)
      process.exit(0)
    } else throw new Error(`unknown option ${arg}`)
  }
  return options
}

const GROUPS = ['net-bulk', 'unix-bulk', 'net-shs-bulk', 'ws-shs-bulk', 'handshakes', 'latency', 'memory', 'cluster']

const FULL = {
  runs: 3,
  bulk: { bytes: 256 * MiB, chunk: 64 * 1024 },
  handshakes: { count: 800, warmup: 50, seconds: 4 },
  latency: { count: 200, warmup: 20 },
  latencyRtt: { count: 40, warmup: 4, rtt: 20 },
  memory: { conns: 1000, batches: 3, warmup: 50, settle: 300 },
  limits: { ms: 1000 },
  cluster: CLUSTER_PARAMS.full,
  timeout: 240_000,
}
const SMOKE = {
  runs: 1,
  bulk: { bytes: 4 * MiB, chunk: 64 * 1024 },
  handshakes: { count: 24, warmup: 4, seconds: 10 },
  latency: { count: 10, warmup: 2 },
  latencyRtt: { count: 4, warmup: 1, rtt: 20 },
  memory: { conns: 200, batches: 1, warmup: 4, settle: 50 },
  limits: { ms: 100 },
  cluster: CLUSTER_PARAMS.smoke,
  timeout: 60_000,
}

// ---------------------------------------------------------------- cases
/**
 * Every row of the table: one group (figure family), one variant, one mode
 * (`sep`: server and client in separate processes; `same`: one process),
 * measured for each implementation.
 */
function buildRows(options, P) {
  const rows = []
  const modes = options.modes ?? ['sep', 'same']
  const wanted = (group) => !options.only || options.only.includes(group)
  const impls = (list) => (options.impls ? list.filter((i) => options.impls.includes(i)) : list)
  for (const [group, suite, list] of [
    ['net-bulk', 'net', ['ours', 'theirs', 'raw']],
    ['unix-bulk', 'unix', ['ours', 'theirs', 'raw']],
    ['net-shs-bulk', 'net~shs', ['ours', 'ideal', 'noise', 'theirs']],
    ['ws-shs-bulk', 'ws~shs', ['ours', 'noise', 'theirs']],
  ]) {
    if (!wanted(group)) continue
    for (const variant of ['one-way', 'both-ways'])
      for (const mode of modes)
        rows.push({
          group, variant, mode, suite, figure: 'bulk', impls: impls(list), unit: 'MiB/s', better: 'higher',
          params: { ...P.bulk, both: variant === 'both-ways' },
          // CPU time per MiB moved, both sides: steadier than the rate on a shared machine.
          metrics: ['value', 'cpu'], metricUnits: { cpu: 'µs CPU/MiB' }, metricBetter: { cpu: 'lower' },
        })
  }
  if (wanted('handshakes'))
    for (const inflight of [8, 64])
      for (const mode of modes)
        rows.push({
          group: 'handshakes', variant: `${inflight} in flight`, mode, suite: 'net~shs', figure: 'handshakes', impls: impls(['ours', 'ideal', 'noise', 'pull', 'theirs', 'raw']),
          unit: '/s', better: 'higher', params: { ...P.handshakes, inflight },
          // CPU time per handshake, both sides: where the rate is bound by CPU, and whose.
          metrics: ['value', 'cpu'], metricUnits: { cpu: 'µs CPU/hs' }, metricBetter: { cpu: 'lower' },
        })
  if (wanted('latency'))
    for (const mode of modes)
      rows.push({
        group: 'latency', variant: 'connect', mode, suite: 'net~shs', figure: 'latency', impls: impls(['ours', 'ideal', 'noise', 'pull', 'theirs']),
        unit: 'ms', better: 'lower', metrics: ['median', 'p99'], params: P.latency,
      })
  // The same over a 20 ms round trip (a delaying proxy): what saving a round trip buys (shs 2, noise 1).
  if (wanted('latency'))
    rows.push({
      group: 'latency', variant: `connect, ${P.latencyRtt.rtt} ms RTT`, mode: 'sep', suite: 'net~shs', figure: 'latency', impls: impls(['ours', 'ideal', 'noise', 'theirs']),
      unit: 'ms', better: 'lower', metrics: ['median', 'p99'], params: P.latencyRtt,
    })
  if (wanted('memory'))
    for (const mode of modes)
      rows.push({
        group: 'memory', variant: `idle, after ${P.memory.conns}`, mode, suite: 'net~shs', figure: 'memory', impls: impls(['ours', 'ideal', 'noise', 'pull', 'theirs']),
        unit: 'KiB/conn', better: 'lower', metrics: ['value', 'heap', 'first'], scale: 1 / 1024, params: P.memory,
      })
  // node:cluster, 1 worker and one per core (cluster.mjs); always separate processes.
  if (wanted('cluster') && modes.includes('sep')) rows.push(...clusterRows(P.cluster, impls))
  return rows.filter((row) => row.impls.length > 0)
}

// ---------------------------------------------------------------- processes
function execArgv(options, tag) {
  const args = ['--expose-gc']
  if (options.source) args.push('--conditions=@ms/source', '--import', 'tsx')
  if (options.cpuProf) {
    mkdirSync(options.cpuProf, { recursive: true })
    args.push('--cpu-prof', '--cpu-prof-dir', options.cpuProf, '--cpu-prof-name', `${tag}-${Date.now()}.cpuprofile`)
  }
  return args
}

function startWorker(job, options, tag, script = WORKER) {
  const child = fork(script, [JSON.stringify(job)], {
    execArgv: execArgv(options, tag),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...(options.verbose ? { BENCH_VERBOSE: '1' } : {}) },
  })
  // Sends to a worker that already exited fail with EPIPE; exits are handled elsewhere.
  child.on('error', () => {})
  const inbox = []
  let wake
  let exitInfo
  child.on('message', (message) => {
    inbox.push(message)
    wake?.()
  })
  child.on('exit', (code, signal) => {
    exitInfo = { code, signal }
    wake?.()
  })
  child.on('error', (error) => {
    exitInfo = { error }
    wake?.()
  })
  return {
    child,
    /** The next message matching `types`; rejects if the process dies first. */
    async next(types) {
      for (;;) {
        const i = inbox.findIndex((m) => types.includes(m.type) || m.type === 'error')
        if (i >= 0) {
          const [message] = inbox.splice(i, 1)
          if (message.type === 'error') throw new Error(message.message)
          return message
        }
        if (exitInfo) throw new Error(`${tag} exited (${JSON.stringify(exitInfo)}) before sending ${types.join('/')}`)
        await new Promise((resolve) => (wake = resolve))
        wake = undefined
      }
    },
    onMessage(fn) {
      child.on('message', fn)
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    },
    exited() {
      return new Promise((resolve) => (exitInfo || child.exitCode !== null ? resolve() : child.once('exit', () => resolve())))
    },
  }
}

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000}s`)), ms))),
  ]).finally(() => clearTimeout(timer))
}

async function runCase(row, impl, options, P) {
  if (row.figure === 'cluster') return runClusterCase(row, options, P, { startWorker, withTimeout })
  const tag = `${row.group}-${row.variant}-${row.mode}-${impl}`.replace(/[^a-z0-9-]+/gi, '_')
  // Raw sockets stand for the transport alone: plain TCP (or unix), same exchange, no crypto.
  const suite = impl === 'raw' ? row.suite.split('~')[0] : row.suite
  const job = { figure: row.figure, impl, suite, mode: row.mode, params: row.params, keys: freshKeys() }
  const workers = []
  const attempt = async () => {
    if (row.mode === 'same') {
      const both = startWorker({ ...job, role: 'both' }, options, tag)
      workers.push(both)
      const { result } = await both.next(['result'])
      await both.exited()
      return result
    }
    const server = startWorker({ ...job, role: 'server' }, options, `${tag}-server`)
    workers.push(server)
    const { address } = await server.next(['ready'])
    const client = startWorker({ ...job, role: 'client', address }, options, `${tag}-client`)
    workers.push(client)
    // Relay the client's questions (the server's RSS) to the server and back.
    client.onMessage((m) => m.type === 'ask' && server.child.send(m))
    server.onMessage((m) => m.type === 'answer' && client.child.send(m))
    const { result } = await client.next(['result'])
    server.child.send({ type: 'stop' })
    const stopped = await server.next(['stopped'])
    result.serverErrors = stopped.serverErrors
    await Promise.all([server.exited(), client.exited()])
    return result
  }
  try {
    return await withTimeout(attempt(), P.timeout, tag)
  } finally {
    for (const w of workers) w.kill()
  }
}

async function runLimits(options, P) {
  const worker = startWorker({ figure: 'limits', role: 'limits', params: P.limits }, options, 'limits')
  try {
    const { result } = await withTimeout(worker.next(['result']), P.timeout, 'limits')
    return result
  } finally {
    worker.kill()
  }
}

// ---------------------------------------------------------------- report
const fmt = (x, digits) => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-'
  if (digits !== undefined) return x.toFixed(digits)
  const a = Math.abs(x)
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3)
}
const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${(x * 100).toFixed(0)}%`)
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null)

/** The machine's limit for a row, in the row's unit, with its name; or null. */
function limitFor(row, metric, limits, figures) {
  const sep = row.mode === 'sep'
  if (row.group === 'net-bulk' || row.group === 'unix-bulk') {
    const raw = figures[rowKey(row, metric)]?.raw?.median
    return raw ? { value: raw, name: row.group === 'net-bulk' ? 'raw net.Socket' : 'raw unix socket' } : null
  }
  if (!limits) return null
  if (row.figure === 'bulk') {
    const seal = limits.secretboxMiBs
    const open = limits.secretboxOpenMiBs
    // CPU per MiB moved, both sides: every byte is sealed once and opened once.
    if (metric === 'cpu') return { value: 1e6 / seal + 1e6 / open, name: 'secretbox 4096B' }
    // One process seals and opens every byte on one core; two processes
    // each do one side of each direction on their own core.
    const value = sep ? (row.params.both ? 2 / (1 / seal + 1 / open) : Math.min(seal, open)) : 1 / (1 / seal + 1 / open)
    return { value, name: 'secretbox 4096B' }
  }
  if (row.figure === 'handshakes') {
    const h = limits.handshake
    // CPU per handshake: the crypto's own, both sides.
    if (metric === 'cpu') return { value: h.clientUs + h.serverUs, name: 'handshake crypto' }
    return { value: sep ? h.separatePerSecond : h.samePerSecond, name: 'handshake crypto' }
  }
  if (row.figure === 'latency' && metric === 'median') {
    const h = limits.handshake
    return { value: (h.clientUs + h.serverUs) / 1000, name: 'handshake crypto' }
  }
  return null
}

/**
 * The crypto limit combined with the transport's own cost, measured with
 * raw sockets in the same run: each byte (or connection) costs the crypto
 * plus the bare socket work on the same core, so 1/(1/crypto + 1/raw).
 * Informational: no target is stated against it.
 */
function ceilingFor(row, metric, limit, figures) {
  if (!limit) return null
  if (metric !== 'value' && metric !== 'cpu') return null
  let raw
  if (row.figure === 'bulk' && row.suite.includes('~')) raw = figures[rowKey({ ...row, group: 'net-bulk' }, metric)]?.raw?.median
  else if (row.figure === 'handshakes') raw = figures[rowKey(row, metric)]?.raw?.median
  if (!raw) return null
  // CPU costs add up: the crypto's plus the bare connection's.
  if (metric === 'cpu') return { value: limit.value + raw, name: `${limit.name} + raw TCP` }
  return { value: 1 / (1 / limit.value + 1 / raw), name: `${limit.name} + raw TCP` }
}

const rowKey = (row, metric) => `${row.group} | ${row.variant} | ${row.mode}${metric && metric !== 'value' ? ` | ${metric}` : ''}`

function summarize(rows, samples, limitSamples) {
  const limits = limitSamples.length
    ? {
        secretboxMiBs: median(limitSamples.map((l) => l.secretboxMiBs)),
        secretboxOpenMiBs: median(limitSamples.map((l) => l.secretboxOpenMiBs)),
        boxstreamMiBs: median(limitSamples.map((l) => l.boxstreamMiBs)),
        handshake: Object.fromEntries(
          ['clientUs', 'serverUs', 'separatePerSecond', 'samePerSecond'].map((k) => [k, median(limitSamples.map((l) => l.handshake[k]))]),
        ),
        handshakeLean: Object.fromEntries(
          ['clientUs', 'serverUs', 'separatePerSecond', 'samePerSecond'].map((k) => [k, median(limitSamples.map((l) => l.handshakeLean[k]))]),
        ),
      }
    : null
  const figures = {}
  for (const row of rows) {
    for (const metric of row.metrics ?? ['value']) {
      const key = rowKey(row, metric)
      const entry = { group: row.group, variant: row.variant, mode: row.mode, metric, unit: row.metricUnits?.[metric] ?? row.unit, better: row.metricBetter?.[metric] ?? row.better }
      for (const impl of row.impls) {
        const runs = (samples.get(`${key}|${impl}`) ?? []).map((v) => (v === null ? null : v * (row.scale ?? 1)))
        const errors = samples.get(`${key}|${impl}|errors`) ?? []
        entry[impl] = { median: median(runs), runs, ...(errors.length ? { errors } : {}) }
      }
      figures[key] = entry
    }
  }
  for (const row of rows) {
    for (const metric of row.metrics ?? ['value']) {
      const entry = figures[rowKey(row, metric)]
      const ours = entry.ours?.median
      entry.oursOverTheirs = ratio(ours, entry.theirs?.median)
      if (entry.pull) entry.pullOverTheirs = ratio(entry.pull.median, entry.theirs?.median)
      // Ours as a fraction of the ideal implementation (same run): 100% = as good as it.
      if (entry.ideal) entry.fractionOfIdeal = entry.better === 'higher' ? ratio(ours, entry.ideal.median) : ratio(entry.ideal.median, ours)
      // @ms/noise against @ms/shs (ours), same transport, same run.
      if (entry.noise) entry.noiseOverShs = ratio(entry.noise.median, ours)
      const limit = limitFor(row, metric, limits, figures)
      const ceiling = ceilingFor(row, metric, limit, figures)
      // For "lower is better" figures the fractions are limit/ours, so that
      // 100% always means "at the machine's limit".
      const fraction = (bound) => (entry.better === 'higher' ? ratio(ours, bound) : ratio(bound, ours))
      if (ceiling) {
        entry.ceiling = ceiling
        entry.fractionOfCeiling = fraction(ceiling.value)
      }
      if (limit) {
        entry.limit = limit
        entry.fractionOfLimit = fraction(limit.value)
      }
    }
  }
  return { limits, figures }
}

/**
 * The verdicts printed after the table (README.md, "Targets"). Each is one
 * figure of this run against a bound; `pass` is null when the figure is
 * missing. Sections: the goals of issue 15 item 6, the figures that must stay
 * no worse than before it, the targets against the ideal implementation, and
 * @ms/noise against @ms/shs.
 */
function targets(figures) {
  const out = []
  let section = ''
  const add = (name, key, check) => {
    const f = figures[key]
    if (!f) return
    const { pass, detail } = check(f)
    out.push({ section, name, figure: key, pass: pass ?? null, detail })
  }
  const holds = (value, bound, better) => (value === null || value === undefined ? null : better === 'higher' ? value >= bound : value <= bound)
  // An implementation's figure over the original's, against a bound.
  // Where the same run measured what no framework could beat (the ideal
  // implementation, or a raw socket for plain bulk), its own ratio to the
  // original is printed too: a bound above it cannot be met on this machine
  // today, by any implementation.
  const reachOf = (f) => {
    const best = f.ideal?.median != null ? ['the ideal', f.ideal.median] : f.limit?.value != null && /raw/.test(f.limit.name ?? '') ? ['a raw socket', f.limit.value] : undefined
    const r = best && ratio(best[1], f.theirs?.median)
    return r == null ? '' : `; ${best[0]}: ${fmt(r)}x`
  }
  const vsOriginal = (name, key, bound, better, impl = 'ours') =>
    add(name, key, (f) => {
      const r = ratio(f[impl]?.median, f.theirs?.median)
      return { pass: holds(r, bound, better), detail: `${fmt(r)}x (${fmt(f[impl]?.median)} vs ${fmt(f.theirs?.median)} ${f.unit}${reachOf(f)})` }
    })
  const memKey = Object.keys(figures).find((k) => k.startsWith('memory |') && k.endsWith('| sep'))

  section = 'issue 15: the user edge costs no more than the original'
  for (const [group, what] of [['net-bulk', 'net'], ['unix-bulk', 'unix']])
    for (const mode of ['sep', 'same'])
      for (const variant of ['one-way', 'both-ways'])
        vsOriginal(`plain ${what} bulk through the streams, ${variant} (${mode}) >= 1.0x original`, `${group} | ${variant} | ${mode}`, 1, 'higher')
  if (memKey) {
    vsOriginal('memory per idle connection through the streams (sep) <= 1.2x original', memKey, 1.2, 'lower')
    vsOriginal('JS heap per idle connection through the streams (sep) <= 1.2x original', `${memKey} | heap`, 1.2, 'lower')
    vsOriginal('ours (pull): memory per idle connection (sep) <= original', memKey, 1, 'lower', 'pull')
    vsOriginal('ours (pull): JS heap per idle connection (sep) <= original', `${memKey} | heap`, 1, 'lower', 'pull')
  }
  for (const n of [8, 64]) vsOriginal(`ours (pull): CPU per handshake (${n} in flight, sep) <= original`, `handshakes | ${n} in flight | sep | cpu`, 1, 'lower', 'pull')

  section = 'no worse than before issue 15'
  vsOriginal('net~shs bulk one-way (sep) >= 1.9x original', 'net-shs-bulk | one-way | sep', 1.9, 'higher')
  vsOriginal('ws~shs bulk one-way (sep) >= 2.9x original', 'ws-shs-bulk | one-way | sep', 2.9, 'higher')
  for (const n of [8, 64]) {
    vsOriginal(`CPU per handshake (${n} in flight, sep) <= 0.84x original`, `handshakes | ${n} in flight | sep | cpu`, 0.84, 'lower')
    vsOriginal(`handshakes/s (${n} in flight, sep) >= 2x original`, `handshakes | ${n} in flight | sep`, 2, 'higher')
  }
  add('plain net bulk one-way (sep) >= 80% of a raw socket', 'net-bulk | one-way | sep', (f) => ({
    pass: holds(f.fractionOfLimit, 0.8, 'higher'), detail: pct(f.fractionOfLimit),
  }))

  // Against the ideal implementation (impl-ideal.mjs), measured in the same run.
  section = 'against the ideal (secret-handshake + box-stream on bare sockets, same run)'
  const vsIdeal = (name, key, bound) =>
    add(`${name} >= ${pct(bound)} of ideal`, key, (f) => ({
      pass: holds(f.fractionOfIdeal, bound, 'higher'),
      detail: `${pct(f.fractionOfIdeal)} (${fmt(f.ours?.median)} vs ${fmt(f.ideal?.median)} ${f.unit})`,
    }))
  for (const variant of ['one-way', 'both-ways']) {
    vsIdeal(`net~shs bulk ${variant} (sep)`, `net-shs-bulk | ${variant} | sep`, 0.9)
    vsIdeal(`net~shs bulk ${variant} (sep), CPU per MiB`, `net-shs-bulk | ${variant} | sep | cpu`, 0.9)
  }
  for (const n of [8, 64]) {
    vsIdeal(`handshakes/s (${n} in flight, sep)`, `handshakes | ${n} in flight | sep`, 2 / 3)
    vsIdeal(`CPU per handshake (${n} in flight, sep)`, `handshakes | ${n} in flight | sep | cpu`, 2 / 3)
  }
  vsIdeal('connect latency (median, sep)', 'latency | connect | sep | median', 2 / 3)

  // @ms/noise, the successor of shs (issue 18), against @ms/shs in the same run.
  section = '@ms/noise against @ms/shs (issue 18)'
  const noiseVs = (name, key, want, better) =>
    add(name, key, (f) => ({
      pass: holds(f.noiseOverShs, want, better),
      detail: `${fmt(f.noise?.median)} vs ${fmt(f.ours?.median)} ${f.unit} (${fmt(f.noiseOverShs)}x)`,
    }))
  noiseVs('noise connect latency (median) <= 0.6x shs', 'latency | connect | sep | median', 0.6, 'lower')
  noiseVs('noise connect latency over 20 ms RTT (median) <= 0.6x shs', 'latency | connect, 20 ms RTT | sep | median', 0.6, 'lower')
  for (const n of [8, 64]) {
    noiseVs(`noise handshakes/s (${n} in flight) >= shs`, `handshakes | ${n} in flight | sep`, 1, 'higher')
    noiseVs(`noise CPU per handshake (${n} in flight) <= shs`, `handshakes | ${n} in flight | sep | cpu`, 1, 'lower')
  }
  for (const variant of ['one-way', 'both-ways']) noiseVs(`net~noise bulk ${variant} >= net~shs`, `net-shs-bulk | ${variant} | sep`, 1, 'higher')
  out.push(...clusterTargets(figures, fmt))
  return out
}

function table(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)))
  const line = (cells) => cells.map((c, i) => (i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(line)].join('\n')
}

function render(summary, targetList, meta) {
  const out = []
  out.push(`ms bench ${meta.smoke ? '(smoke: small sizes, no verdicts)' : ''} — node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel}), ${meta.runs} run(s) per figure, median shown`)
  out.push('sep = client and server in separate processes; same = both in one process\n')
  const lines = Object.entries(summary.figures).map(([, f]) => [
    `${f.group} ${f.variant}${f.metric !== 'value' ? ` ${f.metric}` : ''}`,
    f.mode,
    f.unit,
    fmt(f.ours?.median),
    fmt(f.noise?.median),
    f.noiseOverShs == null ? '-' : `${fmt(f.noiseOverShs)}x`,
    fmt(f.pull?.median),
    fmt(f.theirs?.median),
    f.oursOverTheirs == null ? '-' : `${fmt(f.oursOverTheirs)}x`,
    f.pullOverTheirs == null ? '-' : `${fmt(f.pullOverTheirs)}x`,
    fmt(f.ideal?.median),
    pct(f.fractionOfIdeal),
    f.limit ? `${fmt(f.limit.value)} (${f.limit.name})` : '-',
    pct(f.fractionOfLimit),
    f.ceiling ? fmt(f.ceiling.value) : '-',
    pct(f.fractionOfCeiling),
  ])
  out.push(table(['figure', 'mode', 'unit', 'ours', 'noise', 'noise/ours', 'ours (pull)', 'multiserver', 'ours/theirs', 'pull/theirs', 'ideal', 'vs ideal', 'limit', 'ours vs limit', 'ceiling', 'vs ceiling'], lines))
  out.push('noise: the same rows with @ms/noise in place of @ms/shs (net~noise, ws~noise; same keys, same run); noise/ours: its figure over ours (shs)')
  out.push('ours: connections as WHATWG streams (the @ms/core contract); ours (pull): the same connections as pull-streams through @ms/compat, as secret-stack uses them')
  out.push('ideal: secret-handshake + box-stream straight on sodium-native and bare sockets (no framework); vs ideal: ours as a fraction of it (100% = as good)')
  out.push('limit: the machine limit of the figure (raw socket, secretbox, handshake crypto); ceiling: crypto limit + raw TCP cost combined')
  const rawHandshakes = Object.values(summary.figures).filter((f) => f.group === 'handshakes' && f.metric === 'value' && f.raw?.median)
  if (rawHandshakes.length)
    out.push(`raw TCP, same exchange without crypto (/s): ${rawHandshakes.map((f) => `${f.variant} ${f.mode} ${fmt(f.raw.median)}`).join(', ')}`)
  const l = summary.limits
  if (l) {
    out.push('\nmachine limits (sodium-native, one core):')
    out.push(`  crypto_secretbox_easy 4096B: ${fmt(l.secretboxMiBs)} MiB/s; open: ${fmt(l.secretboxOpenMiBs)} MiB/s; with box-stream's header box: ${fmt(l.boxstreamMiBs)} MiB/s`)
    const h = l.handshake
    out.push(`  secret-handshake crypto (1.1.21 sequence): client ${fmt(h.clientUs)} µs + server ${fmt(h.serverUs)} µs -> ${fmt(h.separatePerSecond)}/s on two cores, ${fmt(h.samePerSecond)}/s on one`)
    const k = l.handshakeLean
    out.push(`  secret-handshake crypto (lean: scalarmult_base ephemeral, cached curve key): client ${fmt(k.clientUs)} µs + server ${fmt(k.serverUs)} µs -> ${fmt(k.separatePerSecond)}/s on two cores, ${fmt(k.samePerSecond)}/s on one`)
  }
  if (targetList.length) {
    out.push('\ntargets:')
    let section
    for (const t of targetList) {
      if (t.section !== section) out.push(`  ${(section = t.section)}:`)
      const verdict = meta.smoke ? 'n/a ' : t.pass === null ? '??? ' : t.pass ? 'PASS' : 'MISS'
      out.push(`    ${verdict}  ${t.name}: ${t.detail}`)
    }
  }
  if (meta.errors.length) {
    out.push('\nerrors:')
    for (const e of meta.errors) out.push(`  ${e}`)
  }
  return out.join('\n')
}

// ---------------------------------------------------------------- main
async function main() {
  const options = parseArgs(process.argv.slice(2))
  const P = structuredClone(options.smoke ? SMOKE : FULL)
  if (options.bytes) P.bulk.bytes = options.bytes
  const runs = options.runs ?? P.runs
  const rows = buildRows(options, P)
  const needLimits = !options.only || rows.some((r) => !['net-bulk', 'unix-bulk', 'memory', 'cluster'].includes(r.group)) || options.only.includes('limits')
  const samples = new Map()
  const limitSamples = []
  const errors = []
  const push = (key, value) => samples.set(key, [...(samples.get(key) ?? []), value])
  const started = Date.now()
  const total = rows.reduce((n, r) => n + r.impls.length, 0) * runs
  let done = 0

  for (let r = 0; r < runs; r++) {
    if (needLimits) {
      try {
        limitSamples.push(await runLimits(options, P))
      } catch (error) {
        errors.push(`limits: ${error.message.split('\n')[0]}`)
      }
    }
    // Implementations alternate within each row, so the noise of a shared
    // machine falls on both sides of every ratio alike.
    for (const row of rows) {
      for (const impl of row.impls) {
        done++
        const label = `[${done}/${total}] ${row.group} ${row.variant} ${row.mode} ${impl}`
        const caseStart = Date.now()
        try {
          const result = await runCase(row, impl, options, P)
          for (const metric of row.metrics ?? ['value']) push(`${rowKey(row, metric)}|${impl}`, result[metric])
          if (result.serverErrors) push(`${rowKey(row, (row.metrics ?? ['value'])[0])}|${impl}|errors`, `${result.serverErrors} server-side connection errors`)
          process.stderr.write(`${label}: ${(row.metrics ?? ['value']).map((m) => `${fmt(result[m] * (row.scale ?? 1))} ${row.metricUnits?.[m] ?? row.unit}`).join(', ')} (${((Date.now() - caseStart) / 1000).toFixed(1)} s)\n`)
        } catch (error) {
          const message = error.message.split('\n')[0]
          errors.push(`${label}: ${message}`)
          for (const metric of row.metrics ?? ['value']) {
            push(`${rowKey(row, metric)}|${impl}`, null)
            push(`${rowKey(row, metric)}|${impl}|errors`, message)
          }
          process.stderr.write(`${label}: FAILED ${message}\n`)
        }
      }
    }
  }

  const summary = summarize(rows, samples, limitSamples)
  const targetList = options.smoke ? targets(summary.figures).map((t) => ({ ...t, pass: null })) : targets(summary.figures)
  const cpus = os.cpus()
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    smoke: options.smoke,
    runs,
    seconds: (Date.now() - started) / 1000,
    params: P,
    argv: process.argv.slice(2),
    errors,
  }
  console.log(render(summary, targetList, meta))
  const file = options.json ? path.resolve(options.json) : path.join(here, '..', 'results', options.smoke ? 'smoke.json' : 'latest.json')
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify({ meta, limits: summary.limits, figures: summary.figures, targets: targetList }, null, 2) + '\n')
  console.log(`\nwrote ${path.relative(process.cwd(), file) || file} in ${meta.seconds.toFixed(0)} s`)
  // A bench that could not measure something has failed, whatever the speeds.
  process.exitCode = errors.length ? 1 : 0
}

main().catch((error) => {
  console.error(error)
  process.exit(2)
})
