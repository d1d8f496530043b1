// The `cluster` group of `pnpm bench` (issue 20): net~shs handshakes per
// second served by a node:cluster with 1 worker and with as many workers as
// the machine has cores (os.availableParallelism()), each worker a MultiServer
// with the same keys on the same port (cluster-server.mjs), loaded by the same
// load generator in both cases: one dialling process per core
// (cluster-client.mjs), `inflight` handshakes each, the exchange of the
// `handshakes` group.
//
// What the figure can and cannot say (README.md, "cluster"): the load
// generator runs on the same cores, and an shs client costs about as much CPU
// as the server side, so on a small machine the rate with N workers is bound
// by the machine, not by the server. Every case therefore also measures CPU
// time per handshake (all processes; the server's, primary plus workers; the
// primary's alone), and the verdicts say which bound holds.
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freshKeys } from './keys.mjs'
import { now } from './stats.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SERVER = path.join(here, 'cluster-server.mjs')
const CLIENT = path.join(here, 'cluster-client.mjs')

/** The scaling the issue asks for: N workers against 1. */
export const CLUSTER_TARGET = 1.6

export const CLUSTER_PARAMS = {
  // Per load-generator process: 32 in flight (64 in all on 2 cores, as the `handshakes` group's larger case).
  full: { inflight: 32, warmup: 100, seconds: 5, count: 1_000_000 },
  smoke: { inflight: 4, warmup: 2, seconds: 10, count: 12 },
}

const workersLabel = (n) => `${n} worker${n === 1 ? '' : 's'}`

/** The rows of the group: 1 worker, and one worker per core (if that is more than 1). */
export function clusterRows(params, impls) {
  const cores = os.availableParallelism()
  return [...new Set([1, cores])].map((workers) => ({
    group: 'cluster',
    variant: workersLabel(workers),
    mode: 'sep',
    suite: 'net~shs',
    figure: 'cluster',
    impls: impls(['ours']),
    unit: '/s',
    better: 'higher',
    params: { ...params, workers, clients: cores },
    // cpu: all processes (server and load generator); server cpu: the primary and
    // its workers; primary cpu: the primary alone (it hands out every connection);
    // others: cores kept busy by everything else on the machine meanwhile.
    metrics: ['value', 'cpu', 'server cpu', 'primary cpu', 'others'],
    metricUnits: { cpu: 'µs CPU/hs', 'server cpu': 'µs CPU/hs', 'primary cpu': 'µs CPU/hs', others: 'cores' },
    metricBetter: { cpu: 'lower', 'server cpu': 'lower', 'primary cpu': 'lower', others: 'lower' },
  }))
}

/**
 * One case: start the cluster, start the load generators, let them warm up,
 * then time them together; CPU time of the server side is read from the
 * primary (its own and its workers') before and after.
 */
export async function runClusterCase(row, options, P, { startWorker, withTimeout }) {
  const tag = `cluster-${row.params.workers}w`
  const job = { figure: 'cluster', params: row.params, keys: freshKeys() }
  const procs = []
  let asks = 0
  const serverCpu = async (server) => {
    const id = ++asks
    server.child.send({ type: 'ask', id, what: 'cpu' })
    return (await server.next(['answer'])).value
  }
  const attempt = async () => {
    const server = startWorker({ ...job, role: 'server' }, options, `${tag}-server`, SERVER)
    procs.push(server)
    const { address } = await server.next(['ready'])
    const clients = Array.from({ length: row.params.clients }, (_, i) => startWorker({ ...job, role: 'client', address }, options, `${tag}-client${i}`, CLIENT))
    procs.push(...clients)
    await Promise.all(clients.map((c) => c.next(['warm'])))
    const before = await serverCpu(server)
    const machineBefore = machineBusy()
    const start = now()
    for (const c of clients) c.child.send({ type: 'go' })
    const results = await Promise.all(clients.map(async (c) => (await c.next(['result'])).result))
    const seconds = (now() - start) / 1000
    const machine = machineBusy() - machineBefore
    const after = await serverCpu(server)
    server.child.send({ type: 'stop' })
    const { serverErrors } = await server.next(['stopped'])
    await Promise.all(procs.map((p) => p.exited()))
    const completed = results.reduce((n, r) => n + r.completed, 0)
    const clientCpu = results.reduce((n, r) => n + r.cpu, 0)
    const primary = after.primary - before.primary
    const server_ = primary + after.workers - before.workers
    return {
      value: completed / seconds,
      cpu: (clientCpu + server_) / completed,
      'server cpu': server_ / completed,
      'primary cpu': primary / completed,
      others: Math.max(0, machine - clientCpu - server_) / (seconds * 1e6),
      completed,
      seconds,
      serverErrors,
    }
  }
  try {
    return await withTimeout(attempt(), P.timeout, tag)
  } finally {
    for (const p of procs) p.kill()
  }
}

/** CPU time (µs) all cores of the machine spent busy so far, whoever used it. */
function machineBusy() {
  return os.cpus().reduce((sum, { times: t }) => sum + (t.user + t.nice + t.sys + t.irq) * 1000, 0)
}

/**
 * The verdicts: the issue's figure as measured (N workers against 1, same
 * load generator, same machine), and what the server side alone does with
 * N cores, from its CPU time per handshake.
 */
export function clusterTargets(figures, fmt) {
  const out = []
  const section = 'node:cluster, 1 worker against one per core (issue 20)'
  const one = figures['cluster | 1 worker | sep']
  const key = Object.keys(figures).find((k) => /^cluster \| \d+ workers \| sep$/.test(k))
  if (!one || !key) return out
  const n = Number(/(\d+) workers/.exec(key)[1])
  const m = (k, metric) => figures[`${k}${metric ? ` | ${metric}` : ''}`]?.ours?.median ?? null
  const [r1, rN] = [m('cluster | 1 worker | sep'), m(key)]
  const [cpuN, serverN, server1, primaryN] = [m(key, 'cpu'), m(key, 'server cpu'), m('cluster | 1 worker | sep', 'server cpu'), m(key, 'primary cpu')]
  const ok = [r1, rN, cpuN, serverN, server1, primaryN].every((x) => x !== null && x > 0)
  const target = `${CLUSTER_TARGET}x`

  // 1. As measured, and why, in the run's own numbers. With the machine to
  // themselves, k workers and the load generator (on the same n cores) can do at
  // most: k workers on k cores (their CPU per handshake, without the primary's),
  // the primary on one, everything together on n; the smallest of the three.
  const ratio = ok ? rN / r1 : null
  const [cpu1, primary1] = [m('cluster | 1 worker | sep', 'cpu'), m('cluster | 1 worker | sep', 'primary cpu')]
  const [others1, othersN] = [m('cluster | 1 worker | sep', 'others'), m(key, 'others')]
  const quiet = (k, server, primary, all) => Math.min((Math.min(k, n) * 1e6) / (server - primary), 1e6 / primary, (n * 1e6) / all)
  let detail = ok ? `${fmt(ratio)}x (${fmt(rN)}/s with ${n} workers vs ${fmt(r1)}/s with 1)` : 'not measured'
  if (ok && cpu1 !== null && primary1 !== null) {
    const [quiet1, quietN] = [quiet(1, server1, primary1, cpu1), quiet(n, serverN, primaryN, cpuN)]
    detail +=
      `; the load generator shares the ${n} cores and costs about as much as the server (per handshake with ${n} workers:` +
      ` server ${fmt(serverN)} µs CPU, load generator ${fmt(cpuN - serverN)} µs), so with the machine to themselves` +
      ` ${n} workers do at most ${fmt(quietN)}/s and 1 worker ${fmt(quiet1)}/s: ${fmt(quietN / quiet1)}x at best`
    if (others1 !== null && othersN !== null)
      detail += `; other work on the machine took ${fmt(others1, 2)} (1 worker) and ${fmt(othersN, 2)} (${n} workers) of the ${n} cores meanwhile`
  }
  out.push({ section, name: `handshakes/s, ${n} cluster workers >= ${target} 1 worker (load generator on the same machine)`, figure: key, pass: ok ? ratio >= CLUSTER_TARGET : null, detail })

  // 2. The server side alone: handshakes per second of server CPU, 1 worker
  // against n, times the n cores it would have to itself (the load generator
  // elsewhere); the primary, which hands out every connection, is one process
  // and caps the whole at 1 / its CPU per handshake.
  const capacity1 = ok ? 1e6 / server1 : null
  const capacityN = ok ? Math.min((n * 1e6) / serverN, 1e6 / primaryN) : null
  const projected = ok ? capacityN / capacity1 : null
  out.push({
    section,
    name: `server side: ${n} workers on ${n} cores of their own >= ${target} 1 worker on 1 (from server CPU per handshake)`,
    figure: `${key} | server cpu`,
    pass: ok ? projected >= CLUSTER_TARGET : null,
    detail: ok
      ? `${fmt(projected)}x (server CPU per handshake ${fmt(serverN)} µs with ${n} workers vs ${fmt(server1)} µs with 1;` +
        ` the primary ${fmt(primaryN)} µs, so it alone caps at ${fmt(1e6 / primaryN)}/s)`
      : 'not measured',
  })
  return out
}
