/**
 * Broken links, for real. Four network namespaces this test creates and
 * always deletes, joined by veth pairs, with addresses that exist only
 * inside them:
 *
 *   client 1 (10.200.3.2) -- router (10.200.3.254 | 10.200.1.254) -- server (10.200.1.1)
 *   client 2 (10.200.2.2) ------------------------------------------ server (10.200.2.1)
 *
 * We break the routed path in several ways while the direct one keeps
 * working, and check that every connection either completes intact or fails
 * with a typed error within the configured timeouts, and that the server
 * keeps serving client 2 throughout. Faults are applied in the router, so
 * to the server and client they are real loss on the network: a qdisc that
 * drops a host's own packets is seen by its TCP as local congestion, which
 * keep-alive does not count as a failed probe.
 *
 * Kernel timeouts are part of the configuration: inside our namespaces,
 * TCP keep-alive probes after 2 s idle (1 s apart, 3 probes) and gives up on
 * unacknowledged data after 4 retransmissions (about 6 s). The shs
 * handshake timeout is 3 s. `tc netem` is used for latency and random loss
 * where the kernel has it; where it does not, we say so and use what there
 * is: `tbf` (a slow link with queueing delay) and a flapping blackhole
 * (`pfifo limit 0`, i.e. 100% loss, switched on and off).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBase64 } from '../src/shared.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tag = String(process.pid % 100000)
const NS = { srv: `msf${tag}s`, rtr: `msf${tag}r`, c1: `msf${tag}a`, c2: `msf${tag}b` }
const IF = { s1: `mfs1-${tag}`, r1: `mfr1-${tag}`, r3: `mfr3-${tag}`, c1: `mfc1-${tag}`, s2: `mfs2-${tag}`, c2: `mfc2-${tag}` }
const SRV1 = '10.200.1.1'
const C1_NET = '10.200.3.'
const SRV2 = '10.200.2.1'
const HANDSHAKE_TIMEOUT = 3000
// Kernel: keep-alive 2 s + 3 × 1 s; retransmissions give up after ~6.2 s (retries2 = 4, RTO from 200 ms).
const KEEPALIVE_BOUND = 2000 + 3 * 1000
const RETRANSMIT_BOUND = 6200
const MiB = 1024 * 1024

function canRun(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'needs root for ip netns'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
    execFileSync('tc', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'needs iproute2 (ip, tc)'
  }
  return undefined
}
const unavailable = canRun()
if (unavailable) console.warn(`faults.test.ts skipped: ${unavailable}`)

function run(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
}
function tryRun(cmd: string, ...args: string[]): string | undefined {
  try {
    run(cmd, ...args)
    return undefined
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error).trim()
  }
}

function cleanup() {
  for (const ns of Object.values(NS)) tryRun('ip', 'netns', 'del', ns)
  // Deleting a namespace deletes its veth ends; these only exist if setup failed half-way.
  for (const i of Object.values(IF)) tryRun('ip', 'link', 'del', i)
}

function setupNetwork() {
  cleanup()
  for (const ns of Object.values(NS)) {
    run('ip', 'netns', 'add', ns)
    run('ip', '-n', ns, 'link', 'set', 'lo', 'up')
    run(
      'ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w',
      'net.ipv4.tcp_keepalive_time=2', 'net.ipv4.tcp_keepalive_intvl=1', 'net.ipv4.tcp_keepalive_probes=3', 'net.ipv4.tcp_retries2=4',
    )
  }
  const pair = (nsA: string, a: string, addrA: string, nsB: string, b: string, addrB: string) => {
    run('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b)
    run('ip', 'link', 'set', a, 'netns', nsA)
    run('ip', 'link', 'set', b, 'netns', nsB)
    run('ip', '-n', nsA, 'addr', 'add', addrA, 'dev', a)
    run('ip', '-n', nsB, 'addr', 'add', addrB, 'dev', b)
    run('ip', '-n', nsA, 'link', 'set', a, 'up')
    run('ip', '-n', nsB, 'link', 'set', b, 'up')
  }
  pair(NS.srv, IF.s1, '10.200.1.1/24', NS.rtr, IF.r1, '10.200.1.254/24')
  pair(NS.rtr, IF.r3, '10.200.3.254/24', NS.c1, IF.c1, '10.200.3.2/24')
  pair(NS.srv, IF.s2, '10.200.2.1/24', NS.c2, IF.c2, '10.200.2.2/24')
  run('ip', 'netns', 'exec', NS.rtr, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
  run('ip', '-n', NS.srv, 'route', 'add', '10.200.3.0/24', 'via', '10.200.1.254')
  run('ip', '-n', NS.c1, 'route', 'add', '10.200.1.0/24', 'via', '10.200.3.254')
}

/** Applies a root qdisc to both of the router's interfaces, so both directions (or removes it with `null`). */
function shape(qdisc: string[] | null): string | undefined {
  for (const [ns, dev] of [
    [NS.rtr, IF.r1],
    [NS.rtr, IF.r3],
  ] as const) {
    const error = qdisc === null ? (tryRun('tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root'), undefined) : tryRun('tc', '-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', ...qdisc)
    if (error) return error
  }
  return undefined
}

const SLOW = ['tbf', 'rate', '16mbit', 'burst', '32kbit', 'latency', '100ms']
const BLACKHOLE = ['pfifo', 'limit', '0']

// ---------------------------------------------------------------- processes in namespaces

interface ErrorInfo {
  typed: boolean
  name: string
  code?: string
  stage?: string
  message: string
}
interface Result {
  type: 'result'
  id: number
  ok: boolean
  ms: number
  timedOut?: boolean
  error?: ErrorInfo
}
interface ServerEvent {
  type: 'event'
  kind: 'transfer' | 'idle' | 'listen'
  ok: boolean
  remote?: string
  ms?: number
  t: number
  error?: ErrorInfo
}

class NsProcess {
  readonly child: ChildProcess
  readonly messages: Record<string, unknown>[] = []
  private waiters: (() => void)[] = []
  constructor(ns: string, script: string, config: unknown) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(root, 'dist', script)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, SOAK_CONFIG: JSON.stringify(config) },
    })
    this.child.on('message', (m: Record<string, unknown>) => {
      this.messages.push(m)
      for (const w of this.waiters.splice(0)) w()
    })
  }
  send(m: unknown) {
    if (!this.child.connected) return
    // With a callback, a child that already left (EPIPE) is reported here
    // instead of as an unhandled 'error' event; callers wait for 'exit'.
    this.child.send(m as never, () => {})
  }
  async waitFor<T>(pick: (m: Record<string, unknown>) => boolean, timeout: number, what: string): Promise<T> {
    const deadline = Date.now() + timeout
    for (;;) {
      const found = this.messages.find(pick)
      if (found) return found as T
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(200, Math.max(1, deadline - Date.now())))
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    try {
      this.send({ cmd: 'exit' })
      this.send({ cmd: 'stop' })
    } catch {
      // already gone
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
}

let nextId = 1
class Client extends NsProcess {
  async transfer(address: string, size: number, deadline: number): Promise<Result> {
    const id = nextId++
    this.send({ cmd: 'transfer', id, address, size, deadline })
    return this.waitFor<Result>((m) => m.type === 'result' && m.id === id, deadline + 15_000, `transfer ${id}`)
  }
  async idle(address: string): Promise<{ id: number; result: Promise<Result> }> {
    const id = nextId++
    this.send({ cmd: 'idle', id, address })
    await this.waitFor((m) => (m.type === 'connected' || m.type === 'result') && m.id === id, 15_000, `idle ${id} to connect`)
    return { id, result: this.waitFor<Result>((m) => m.type === 'result' && m.id === id, 60_000, `idle ${id} to end`) }
  }
}

// ---------------------------------------------------------------- the tests

const appKey = randomBase64(32)
const idleSeed = randomBase64(32)
let server: NsProcess
let c1: Client
let c2: Client
let addr: { net1: string; ws1: string; net2: string; ws2: string }
let netemAvailable = false
const log: string[] = []

/** Keeps the other link busy with verified transfers while `during` runs; returns their results. */
async function othersMeanwhile<T>(during: Promise<T>): Promise<{ value: T; others: Result[] }> {
  const others: Result[] = []
  let done = false
  const loop = (async () => {
    let i = 0
    while (!done || others.length < 2) {
      others.push(await c2.transfer(i++ % 2 ? addr.ws2 : addr.net2, 1 * MiB, 20_000))
    }
  })()
  const value = await during
  done = true
  await loop
  return { value, others }
}

function expectIntactOrTyped(r: Result, deadline: number, what: string) {
  log.push(`${what}: ${r.ok ? 'intact' : `${r.error?.name}${r.error?.code ? '/' + r.error.code : ''}${r.error?.stage ? '/' + r.error.stage : ''}`} after ${r.ms} ms`)
  if (!r.ok) {
    expect(r.error?.typed, `${what} failed with an untyped error: ${JSON.stringify(r.error)}`).toBe(true)
    expect(r.ms, `${what} took ${r.ms} ms`).toBeLessThanOrEqual(deadline + 2000)
  }
}

function serverEventsFor(subnet: string, kind: ServerEvent['kind'], since: number): ServerEvent[] {
  return (server.messages as unknown as ServerEvent[]).filter((m) => m.type === 'event' && m.kind === kind && m.t >= since && (m.remote ?? '').includes(subnet))
}

describe.skipIf(unavailable !== undefined)('faults on a veth link between network namespaces', () => {
  beforeAll(async () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' })
    if (!existsSync(join(root, 'dist', 'fault-server.js'))) throw new Error('build failed')
    setupNetwork()
    const probe = tryRun('tc', '-n', NS.rtr, 'qdisc', 'replace', 'dev', IF.r3, 'root', 'netem', 'delay', '1ms')
    netemAvailable = probe === undefined
    tryRun('tc', '-n', NS.rtr, 'qdisc', 'del', 'dev', IF.r3, 'root')
    log.push(netemAvailable ? 'tc netem: available' : `tc netem: NOT available in this kernel (${probe}); using tbf and a flapping pfifo-limit-0 blackhole instead`)
    const serverSeed = randomBase64(32)
    server = new NsProcess(NS.srv, 'fault-server.js', { serverSeed, appKey, handshakeTimeout: HANDSHAKE_TIMEOUT, maxSize: 64 * MiB, idleSeed })
    const ready = await server.waitFor<{ ports: { net: number; ws: number }; key: string }>((m) => m.type === 'ready', 20_000, 'server ready')
    const k = `~shs:${ready.key}`
    addr = {
      net1: `net:${SRV1}:${ready.ports.net}${k}`,
      ws1: `ws://${SRV1}:${ready.ports.ws}${k}`,
      net2: `net:${SRV2}:${ready.ports.net}${k}`,
      ws2: `ws://${SRV2}:${ready.ports.ws}${k}`,
    }
    const clientConfig = { appKey, handshakeTimeout: HANDSHAKE_TIMEOUT, maxSize: 64 * MiB, idleSeed }
    c1 = new Client(NS.c1, 'fault-client.js', clientConfig)
    c2 = new Client(NS.c2, 'fault-client.js', clientConfig)
    await c1.waitFor((m) => m.type === 'ready', 20_000, 'client 1 ready')
    await c2.waitFor((m) => m.type === 'ready', 20_000, 'client 2 ready')
    // Both links work before we break anything.
    for (const [c, a] of [
      [c1, addr.net1],
      [c1, addr.ws1],
      [c2, addr.net2],
      [c2, addr.ws2],
    ] as const) {
      const r = await c.transfer(a, 1 * MiB, 20_000)
      expect(r.ok, `baseline transfer to ${a}: ${JSON.stringify(r.error)}`).toBe(true)
    }
  }, 120_000)

  afterAll(async () => {
    await Promise.allSettled([c1?.stop(), c2?.stop(), server?.stop()])
    cleanup()
    console.log(`faults:\n  ${log.join('\n  ')}`)
  }, 60_000)

  it('link down mid-transfer: transfers fail typed within their deadline, the server notices, others keep going', async () => {
    expect(shape(SLOW)).toBeUndefined()
    const since = Date.now()
    const deadline = 20_000
    const transfers = Promise.all([c1.transfer(addr.net1, 8 * MiB, deadline), c1.transfer(addr.ws1, 8 * MiB, deadline)])
    await new Promise((r) => setTimeout(r, 1500))
    const cut = Date.now()
    // The router's link towards client 1 goes down: to the server, its packets now vanish on the way.
    run('ip', '-n', NS.rtr, 'link', 'set', IF.r3, 'down')
    const { value: [viaNet, viaWs], others } = await othersMeanwhile(transfers)
    expectIntactOrTyped(viaNet, deadline, 'link down, net~shs')
    expectIntactOrTyped(viaWs, deadline, 'link down, ws~shs')
    // The link went down 1.5 s into a transfer that needs over 4 s at 16 Mbit/s: neither can have completed.
    expect(viaNet.ok || viaWs.ok).toBe(false)
    expect(others.every((r) => r.ok), JSON.stringify(others.filter((r) => !r.ok))).toBe(true)
    log.push(`link down: ${others.length} transfers on the other link meanwhile, all intact`)
    // The server's side of both broken connections ends with a typed error too.
    const t = await waitUntil(() => serverEventsFor(C1_NET, 'transfer', since).length >= 2, 30_000)
    const events = serverEventsFor(C1_NET, 'transfer', since)
    log.push(`link down: server noticed ${events.map((e) => `${e.error?.name}/${e.error?.code ?? e.error?.message}`).join(', ')} ${t - cut} ms after the cut`)
    expect(events.length).toBeGreaterThanOrEqual(2)
    for (const e of events) {
      expect(e.ok).toBe(false)
      expect(e.error?.typed).toBe(true)
    }
    // Back up: the same link works again.
    run('ip', '-n', NS.rtr, 'link', 'set', IF.r3, 'up')
    shape(null)
    await new Promise((r) => setTimeout(r, 500))
    const again = await c1.transfer(addr.net1, 2 * MiB, 20_000)
    expect(again.ok, JSON.stringify(again.error)).toBe(true)
  }, 90_000)

  it('100% loss (blackhole): in-flight transfers fail typed, idle connections are found dead by keep-alive', async () => {
    const since = Date.now()
    const idleNet = await c1.idle(addr.net1)
    const idleWs = await c1.idle(addr.ws1)
    try {
      expect(shape(SLOW)).toBeUndefined()
      const deadline = 20_000
      const transfers = Promise.all([c1.transfer(addr.net1, 8 * MiB, deadline), c1.transfer(addr.ws1, 8 * MiB, deadline)])
      await new Promise((r) => setTimeout(r, 1500))
      const cut = Date.now()
      expect(shape(BLACKHOLE)).toBeUndefined()
      const { value: [viaNet, viaWs], others } = await othersMeanwhile(transfers)
      expectIntactOrTyped(viaNet, deadline, 'blackhole, net~shs transfer')
      expectIntactOrTyped(viaWs, deadline, 'blackhole, ws~shs transfer')
      expect(others.every((r) => r.ok), JSON.stringify(others.filter((r) => !r.ok))).toBe(true)
      log.push(`blackhole: ${others.length} transfers on the other link meanwhile, all intact`)

      // Idle connections: nothing in flight, so only keep-alive can notice. Both ends must.
      const idleEnd = await waitUntil(() => serverEventsFor(C1_NET, 'idle', since).length >= 2, KEEPALIVE_BOUND + 20_000).catch(() => Date.now())
      const idleEvents = serverEventsFor(C1_NET, 'idle', since)
      void idleEnd
      log.push(
        `blackhole: server-side idle connections: ${idleEvents.map((e) => `${e.remote?.split(':')[0]} ${e.error?.name}/${e.error?.code ?? e.error?.message} ${e.t - cut} ms after the cut`).join(', ') || 'none noticed'} (keep-alive bound ${KEEPALIVE_BOUND} ms; waited ${KEEPALIVE_BOUND + 20_000} ms)`,
      )
      const clientIdle = await Promise.all([idleNet.result, idleWs.result].map((p) => Promise.race([p, new Promise<undefined>((r) => setTimeout(r, 1000))])))
      log.push(`blackhole: client-side idle connections: ${clientIdle.map((r) => (r ? `${r.error?.name}/${r.error?.code ?? r.error?.message} after ${r.ms} ms` : 'still open')).join(', ')}`)
      const netIdle = idleEvents.find((e) => e.remote?.startsWith('net:'))
      expect(netIdle, 'the server never noticed the dead idle net~shs connection').toBeDefined()
      expect(netIdle!.error?.typed).toBe(true)
      expect(netIdle!.t - cut).toBeLessThanOrEqual(KEEPALIVE_BOUND + RETRANSMIT_BOUND + 3000)
      const wsIdle = idleEvents.find((e) => e.remote?.startsWith('ws:'))
      expect(wsIdle, 'the server never noticed the dead idle ws~shs connection (no keep-alive on ws sockets?)').toBeDefined()
      expect(wsIdle!.error?.typed).toBe(true)
    } finally {
      shape(null)
      c1.send({ cmd: 'close', id: idleNet.id })
      c1.send({ cmd: 'close', id: idleWs.id })
    }
    await new Promise((r) => setTimeout(r, 500))
    const again = await c1.transfer(addr.ws1, 2 * MiB, 20_000)
    expect(again.ok, JSON.stringify(again.error)).toBe(true)
  }, 120_000)

  it('slow, lossy link: transfers complete intact or fail typed within their deadline', async () => {
    const deadline = 40_000
    let flapper: NodeJS.Timeout | undefined
    if (netemAvailable) {
      expect(shape(['netem', 'delay', '40ms', '10ms', 'loss', '5%'])).toBeUndefined()
      log.push('lossy link: netem delay 40±10 ms, loss 5%')
    } else {
      // No netem: a slow link, blacked out for 100 ms of every 1.5 s (bursty loss, ~7%).
      expect(shape(SLOW)).toBeUndefined()
      flapper = setInterval(() => {
        shape(BLACKHOLE)
        setTimeout(() => shape(SLOW), 100)
      }, 1500)
      log.push('lossy link: tbf 16 Mbit/s + 100 ms queue, blackout 100 ms of every 1500 ms (netem unavailable)')
    }
    try {
      const { value: results, others } = await othersMeanwhile(
        Promise.all([c1.transfer(addr.net1, 2 * MiB, deadline), c1.transfer(addr.ws1, 2 * MiB, deadline)]),
      )
      expectIntactOrTyped(results[0]!, deadline, 'lossy link, net~shs')
      expectIntactOrTyped(results[1]!, deadline, 'lossy link, ws~shs')
      expect(others.every((r) => r.ok)).toBe(true)
    } finally {
      if (flapper) clearInterval(flapper)
      shape(null)
    }
  }, 120_000)

  it('after all that the server is clean: no connection left open', async () => {
    const t = Date.now()
    let stats: { open: number; connections: number; remotes: string[] } | undefined
    await waitUntil(async () => {
      server.send({ cmd: 'stats' })
      await new Promise((r) => setTimeout(r, 300))
      stats = server.messages.filter((m) => m.type === 'stats').at(-1) as typeof stats
      return stats !== undefined && stats.open === 0 && stats.connections === 0
    }, 20_000).catch(() => {
      throw new Error(`the server still holds ${stats?.open} connection(s) to peers that are gone: ${stats?.remotes.join(', ')}`)
    })
    log.push(`server clean ${Date.now() - t} ms after the last test`)
    const events = (server.messages as unknown as ServerEvent[]).filter((m) => m.type === 'event' && !m.ok)
    expect(events.every((e) => e.error?.typed), JSON.stringify(events.filter((e) => !e.error?.typed))).toBe(true)
  }, 30_000)
})

async function waitUntil(condition: () => boolean | Promise<boolean>, timeout: number): Promise<number> {
  const deadline = Date.now() + timeout
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeout} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return Date.now()
}
