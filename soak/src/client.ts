/**
 * One soak client process. Its role (good, abort, reset, stopread,
 * slowloris, random, badkey, flood) and limits come in SOAK_CONFIG; it works
 * until `until` (or `maxOps` operations), then sends one ClientReport to
 * its parent and exits. Every operation is bounded by a timeout.
 */
import { createConnection } from 'node:net'
import { randomBytes } from 'node:crypto'
import { AsyncLocalStorage } from 'node:async_hooks'
import { createMultiServer, isMsError, type Connection } from '@ms/core'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import { ws } from '@ms/ws'
import { runTransfer } from './protocol.js'
import { handshake } from '@ms/shs'
import { LOW_ORDER_POINTS, RawPeer, lowOrderMsg1, newClientHandshake, randomKeyPair, rawHandshake } from './raw.js'
import { type ClientConfig, type ClientReport, type Role, percentile, rand, sleep, splitAddress } from './shared.js'

const config = JSON.parse(process.env.SOAK_CONFIG ?? '{}') as ClientConfig
const appKey = new Uint8Array(Buffer.from(config.appKey, 'base64'))
const target = splitAddress(config.address)
const counts: Record<string, number> = {}
const failures: string[] = []
// How long the server let each kind of misbehaving peer hold a connection, by kind.
const helds: Record<string, number[]> = {}
const held = (kind: string, ms: number) => void (helds[kind] ??= []).push(ms)
const latencies: number[] = []
const count = (key: string, n = 1) => void (counts[key] = (counts[key] ?? 0) + n)
let ops = 0

const keys = randomKeyPair()
const transportFor = () => (config.transport === 'net' ? net() : ws())
const client = createMultiServer([[transportFor(), shs({ keys, appKey, timeout: config.handshakeTimeout })]])
// The bare transport, for peers that misbehave inside a WebSocket (no shs).
const bare = createMultiServer([[transportFor()]])
const bareAddress = config.address.split('~')[0]!

function describe(error: unknown): string {
  if (isMsError(error)) {
    const stage = (error as { stage?: string }).stage
    const code = (error as { code?: string }).code
    return `${error.name}${stage ? `/${stage}` : ''}${code ? `/${code}` : ''}: ${error.message}`
  }
  return `untyped ${String((error as Error)?.stack ?? error)}`
}

const more = () => Date.now() < config.until && ops < config.maxOps

async function connectShs(address = config.address, timeout = config.handshakeTimeout * 3): Promise<Connection> {
  return client.connect(address, { timeout })
}

// ---------------------------------------------------------------- good

/**
 * One good transfer: retried while the server sheds it during the
 * handshake (load shedding under the flood is allowed), but any failure
 * after the handshake is a server-caused error and is recorded.
 */
async function goodTransfer(): Promise<void> {
  const size = rand(config.minSize, config.maxSize)
  const giveUp = config.until + 60_000
  let attempt = 0
  for (;;) {
    attempt++
    let connection: Connection
    try {
      connection = await connectShs()
    } catch (error) {
      count('shed')
      count(`shed:${describe(error).split(':')[0]}`)
      if (Date.now() > giveUp) {
        count('abandoned')
        failures.push(`abandoned after ${attempt} attempts: ${describe(error)}`)
        return
      }
      await sleep(Math.min(2000, 20 * 2 ** Math.min(attempt, 7)) * Math.random())
      continue
    }
    count('started')
    const t0 = Date.now()
    try {
      mark('wait r')
      const r = await withTimeout(runTransfer(connection, size, config.maxSize), 120_000, 'transfer')
      if (!r.receivedOk) throw new Error('the server’s bytes did not match their digest')
      if (!r.serverVerdict) throw new Error('the server says our bytes did not match their digest')
      if (r.received !== size) throw new Error(`asked for ${size} bytes, the server sent ${r.received}`)
      count('verified')
      count('bytesSent', r.sent)
      count('bytesReceived', r.received)
      latencies.push(Date.now() - t0)
    } catch (error) {
      count('failed')
      if (failures.length < 20) failures.push(describe(error))
    } finally {
      await connection.close()
    }
    return
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

// ---------------------------------------------------------------- abort

/** Gives up at a random point: during the dial or handshake, or mid-frame. */
async function abortOnce(): Promise<void> {
  const how = config.transport === 'net' ? rand(0, 4) : rand(0, 2)
  if (how === 0) {
    // Abort the dial at a random moment (often mid-handshake).
    const controller = new AbortController()
    setTimeout(() => controller.abort(), rand(0, 30))
    try {
      const c = await client.connect(config.address, { signal: controller.signal })
      count('abort:connectedFirst')
      mark('c.close')
      await c.close()
    } catch (error) {
      count(isMsError(error) ? `abort:dial:${(error as Error).name}` : 'abort:dial:untyped')
    }
  } else if (how === 1 || how === 2) {
    // Complete the handshake, start a large transfer, then cut the connection mid-stream.
    let c: Connection
    try {
      mark('connect')
      c = await connectShs()
    } catch {
      return void count('abort:shed')
    }
    const writer = c.writable.getWriter()
    const sending = (async () => {
      const header = new Uint8Array(4)
      new DataView(header.buffer).setUint32(0, config.serverMaxSize)
      mark('write')
      await writer.write(header)
      for (;;) await writer.write(randomBytes(rand(1, 20_000)))
    })()
    sending.catch(() => {})
    await sleep(rand(0, 150))
    if (how === 1) await c.close()
    else await writer.abort(new Error('soak: abort mid-frame')).catch(() => {})
    mark('c.close')
    await c.close()
    count(how === 1 ? 'abort:closeMidStream' : 'abort:writerAbort')
  } else if (how === 3) {
    // Raw: stop after a random byte of the handshake, with FIN.
    mark('raw open')
    const peer = await RawPeer.open(target.host, target.port)
    const { state, msg1 } = newClientHandshake(appKey, target.key)
    const cut = rand(0, 64 + 112)
    if (cut <= 64) {
      peer.write(msg1.subarray(0, cut))
    } else {
      peer.write(msg1)
      const msg2 = await peer.read(64)
      if (msg2) {
        handshake.verifyChallenge(state, msg2, 'msg2')
        peer.write(handshake.clientCreateAuth(state).subarray(0, cut - 64))
      }
    }
    peer.socket.end()
    mark('wait r')
    const r = await peer.waitClosed(config.handshakeTimeout + 3000)
    count(r.closedByServer ? 'abort:rawHandshakeCut:closed' : 'abort:rawHandshakeCut:lingered')
    held('abort:rawHandshakeCut', r.held)
  } else {
    // Raw: complete the handshake, then stop in the middle of a box-stream frame.
    mark('raw open')
    const peer = await RawPeer.open(target.host, target.port)
    const boxes = await rawHandshake(peer, appKey, target.key).catch(() => null)
    if (!boxes) {
      peer.destroy()
      return void count('abort:shed')
    }
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, config.serverMaxSize)
    const frames = boxes.encoder.encode(Buffer.concat([header, randomBytes(rand(100, 20_000))]))
    peer.write(frames.subarray(0, rand(1, frames.length - 1)))
    peer.socket.end()
    mark('wait r')
    const r = await peer.waitClosed(config.handshakeTimeout + 3000)
    count(r.closedByServer ? 'abort:rawMidFrame:closed' : 'abort:rawMidFrame:lingered')
    held('abort:rawMidFrame', r.held)
  }
}

// ---------------------------------------------------------------- reset

/** TCP RST at a random point: before, during or after the handshake, or mid-frame. */
async function resetOnce(): Promise<void> {
  if (config.transport === 'ws') {
    // Reset the TCP connection under an HTTP upgrade, at a random point of the request.
    mark('raw open')
    const peer = await RawPeer.open(target.host, target.port)
    const request = Buffer.from(
      `GET / HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
    const cut = rand(0, request.length)
    peer.write(request.subarray(0, cut))
    if (cut === request.length) await peer.read(12, 2000)
    await sleep(rand(0, 20))
    peer.reset()
    return void count(`reset:wsUpgrade${cut === request.length ? ':afterResponse' : ':midRequest'}`)
  }
  mark('raw open')
  const peer = await RawPeer.open(target.host, target.port)
  const where = rand(0, 3)
  if (where === 0) {
    peer.write(randomBytes(0).subarray(0, 0))
  } else if (where === 1) {
    const { msg1 } = newClientHandshake(appKey, target.key)
    peer.write(msg1.subarray(0, rand(1, 64)))
  } else {
    const boxes = await rawHandshake(peer, appKey, target.key).catch(() => null)
    if (boxes && where === 3) {
      const header = new Uint8Array(4)
      new DataView(header.buffer).setUint32(0, config.serverMaxSize)
      const frames = boxes.encoder.encode(Buffer.concat([header, randomBytes(rand(5000, 100_000))]))
      peer.write(frames.subarray(0, rand(1, frames.length - 1)))
      await sleep(rand(0, 50))
    }
  }
  await sleep(rand(0, 10))
  peer.reset()
  count(`reset:${['atOnce', 'midMsg1', 'afterHandshake', 'midFrame'][where]}`)
}

// ---------------------------------------------------------------- stopread

/** Handshakes, asks for data, then never reads: the server must not buffer without bound. */
async function stopReadOnce(): Promise<void> {
  const hold = config.holdMs ?? rand(3000, 8000)
  if (config.transport === 'net') {
    mark('raw open')
    const peer = await RawPeer.open(target.host, target.port)
    const boxes = await rawHandshake(peer, appKey, target.key).catch(() => null)
    if (!boxes) {
      peer.destroy()
      return void count('stopread:shed')
    }
    // Stop reading: the kernel buffers fill and TCP flow control stalls the server.
    peer.socket.pause()
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, config.serverMaxSize)
    peer.write(boxes.encoder.encode(header))
    mark('wait r')
    const r = await peer.waitClosed(hold)
    held('stopread:net', r.held)
    count(r.closedByServer ? 'stopread:closedByServer' : 'stopread:heldUntilWeLeft')
    return
  }
  let c: Connection
  try {
    mark('connect')
    c = await connectShs()
  } catch {
    return void count('stopread:shed')
  }
  const writer = c.writable.getWriter()
  const header = new Uint8Array(4)
  new DataView(header.buffer).setUint32(0, config.serverMaxSize)
  mark('write')
  await writer.write(header).catch(() => {})
  const t0 = Date.now()
  mark('wait closedByServer')
  const closedByServer = await Promise.race([c.closed.then(() => true), sleep(hold).then(() => false)])
  held('stopread:ws', Date.now() - t0)
  count(closedByServer ? 'stopread:closedByServer' : 'stopread:heldUntilWeLeft')
  mark('c.close')
  await c.close()
}

// ---------------------------------------------------------------- slowloris

/** Trickles handshake bytes (or HTTP upgrade bytes) one at a time. */
async function slowlorisOnce(): Promise<void> {
  const gap = rand(200, 600)
  const limit = config.handshakeTimeout * 3 + 5000
  if (config.transport === 'ws' && Math.random() < 0.5) {
    // Trickle the HTTP upgrade request itself.
    mark('raw open')
    const peer = await RawPeer.open(target.host, target.port)
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: ${'a'.repeat(400)}\r\n`)
    const result = trickle(peer, request, gap)
    mark('wait r')
    const r = await peer.waitClosed(Math.min(limit, config.until + 5000 - Date.now()))
    await result
    held('slowloris:http', r.held)
    return void count(r.closedByServer ? 'slowloris:http:closedByServer' : 'slowloris:http:heldUntilWeLeft')
  }
  if (config.transport === 'ws') {
    // Inside a real WebSocket, trickle msg1 bytes: the shs handshake timeout must fire.
    let c: Connection
    try {
      mark('connect')
      c = await bare.connect(bareAddress, { timeout: 5000 })
    } catch {
      return void count('slowloris:ws:shed')
    }
    const t0 = Date.now()
    const writer = c.writable.getWriter()
    const { msg1 } = newClientHandshake(appKey, target.key)
    let stop = false
    void (async () => {
      for (let i = 0; i < msg1.length && !stop; i++) {
        mark('write')
        await writer.write(msg1.subarray(i, i + 1)).catch(() => (stop = true))
        await sleep(gap)
      }
    })()
    mark('wait closedByServer')
    const closedByServer = await Promise.race([c.closed.then(() => true), sleep(limit).then(() => false)])
    stop = true
    held('slowloris:wsShs', Date.now() - t0)
    count(closedByServer ? 'slowloris:ws:closedByServer' : 'slowloris:ws:heldUntilWeLeft')
    mark('c.close')
    return void (await c.close())
  }
  mark('raw open')
  const peer = await RawPeer.open(target.host, target.port)
  const { msg1 } = newClientHandshake(appKey, target.key)
  const result = trickle(peer, msg1, gap)
  mark('wait r')
  const r = await peer.waitClosed(limit)
  await result
  held('slowloris:netShs', r.held)
  count(r.closedByServer ? 'slowloris:net:closedByServer' : 'slowloris:net:heldUntilWeLeft')
}

async function trickle(peer: RawPeer, bytes: Uint8Array, gap: number) {
  for (let i = 0; i < bytes.length; i++) {
    if (peer.socket.destroyed || peer.ended) return
    peer.write(bytes.subarray(i, i + 1))
    await sleep(gap)
  }
}

// ---------------------------------------------------------------- random / badkey

/** Random bytes where a handshake (or an HTTP request) should be. */
async function randomOnce(): Promise<void> {
  const junk = randomBytes(rand(1, 400))
  if (config.transport === 'ws' && Math.random() < 0.5) {
    let c: Connection
    try {
      mark('connect')
      c = await bare.connect(bareAddress, { timeout: 5000 })
    } catch {
      return void count('random:ws:shed')
    }
    const t0 = Date.now()
    const writer = c.writable.getWriter()
    mark('write')
    await writer.write(junk).catch(() => {})
    mark('wait closedByServer')
    const closedByServer = await Promise.race([c.closed.then(() => true), sleep(config.handshakeTimeout + 3000).then(() => false)])
    held('random:inWs', Date.now() - t0)
    count(closedByServer ? 'random:inWs:closedByServer' : 'random:inWs:lingered')
    mark('c.close')
    return void (await c.close())
  }
  mark('raw open')
  const peer = await RawPeer.open(target.host, target.port)
  peer.write(junk)
  if (Math.random() < 0.3) peer.socket.end()
  mark('wait r')
  const r = await peer.waitClosed(config.handshakeTimeout + 3000)
  // Fewer than 64 bytes cannot fail msg1 until the handshake timeout; more must fail at once.
  held(`random:${config.transport === 'net' ? 'netShs' : 'httpRaw'}:${junk.length >= 64 ? 'full' : 'short'}`, r.held)
  count(`random:${config.transport}:${junk.length >= 64 ? 'full' : 'short'}:${r.closedByServer ? 'closedByServer' : 'lingered'}`)
  if (r.closedByServer && junk.length >= 64 && r.held > 2000) count('random:slowReject')
}

/** msg1 with a valid HMAC over a low-order key, or a full handshake aimed at the wrong server key. */
async function badKeyOnce(): Promise<void> {
  if (Math.random() < 0.25) {
    const wrong = randomKeyPair().publicKey
    const address = config.address.replace(/~shs:.*$/, `~shs:${Buffer.from(wrong).toString('base64')}`)
    try {
      const c = await client.connect(address, { timeout: config.handshakeTimeout * 3 })
      count('badkey:wrongServerKey:ACCEPTED')
      failures.push('a handshake aimed at the wrong server key succeeded')
      mark('c.close')
      await c.close()
    } catch (error) {
      count(`badkey:wrongServerKey:${describe(error).split(':')[0]}`)
    }
    return
  }
  const names = Object.keys(LOW_ORDER_POINTS)
  const name = names[rand(0, names.length - 1)]!
  const msg1 = lowOrderMsg1(appKey, LOW_ORDER_POINTS[name]!)
  if (config.transport === 'ws') {
    let c: Connection
    try {
      mark('connect')
      c = await bare.connect(bareAddress, { timeout: 5000 })
    } catch {
      return void count('badkey:ws:shed')
    }
    const writer = c.writable.getWriter()
    const reader = c.readable.getReader()
    mark('write')
    await writer.write(msg1).catch(() => {})
    mark('wait got')
    const got = await Promise.race([reader.read().then((r) => (r.done ? 'closed' : 'answered'), () => 'closed'), sleep(config.handshakeTimeout + 3000).then(() => 'lingered')])
    count(`badkey:ws:${name}:${got}`)
    if (got === 'answered') failures.push(`server answered msg1 with low-order key ${name} over ws`)
    mark('c.close')
    return void (await c.close())
  }
  mark('raw open')
  const peer = await RawPeer.open(target.host, target.port)
  peer.write(msg1)
  mark('wait answer')
  const answer = await peer.read(64, config.handshakeTimeout + 3000)
  const got = answer ? 'answered' : peer.ended ? 'closed' : 'lingered'
  count(`badkey:net:${name}:${got}`)
  if (answer) failures.push(`server answered msg1 with low-order key ${name}`)
  peer.destroy()
}

// ---------------------------------------------------------------- flood

const floodPool: Uint8Array[] = []

/**
 * The handshake flood. Mostly the cheap attack (a precomputed valid msg1,
 * which costs the server an HMAC check, two scalar multiplications and a
 * msg2, and costs us nothing), plus some full handshakes to measure what
 * the server still completes.
 */
async function floodOnce(): Promise<void> {
  if (floodPool.length === 0) for (let i = 0; i < 32; i++) floodPool.push(newClientHandshake(appKey, target.key).msg1)
  if (Math.random() < 0.25) {
    try {
      const c = await connectShs(config.address, config.handshakeTimeout * 2)
      count('flood:full:completed')
      mark('c.close')
      await c.close()
    } catch (error) {
      count(`flood:full:${describe(error).split(':')[0]}`)
    }
    return
  }
  const socket = createConnection({ host: target.host, port: target.port, noDelay: true })
  await new Promise<void>((resolve) => {
    let got = 0
    const timer = setTimeout(() => finish('flood:msg1:timeout'), config.handshakeTimeout + 2000)
    let finished = false
    function finish(key: string) {
      if (finished) return
      finished = true
      clearTimeout(timer)
      count(key)
      socket.destroy()
      resolve()
    }
    socket.on('connect', () => socket.write(floodPool[rand(0, floodPool.length - 1)]!))
    socket.on('data', (d: Buffer) => {
      got += d.length
      if (got >= 64) finish('flood:msg1:answered')
    })
    socket.on('error', () => finish('flood:msg1:error'))
    socket.on('close', () => finish('flood:msg1:closed'))
  })
}

// ---------------------------------------------------------------- main

const roles = {
  good: goodTransfer,
  abort: abortOnce,
  reset: resetOnce,
  stopread: stopReadOnce,
  slowloris: slowlorisOnce,
  random: randomOnce,
  badkey: badKeyOnce,
  flood: floodOnce,
} as const

// Where each operation is, so a hung one can be named.
const where = new AsyncLocalStorage<{ step: string }>()
const mark = (step: string) => {
  const store = where.getStore()
  if (store) store.step = step
}

// Every operation has its own timeouts well below this; reaching it means something hung.
const OP_LIMIT = 60_000
const stuckOps: string[] = []

async function worker(role: Role) {
  const op = roles[role]
  while (more()) {
    ops++
    try {
      // A watchdog, so one stuck operation cannot keep the process past its deadline; stuck ones are counted.
      const state = { step: 'start' }
      const finished = await Promise.race([where.run(state, () => op()).then(() => true), sleep(OP_LIMIT).then(() => false)])
      if (!finished) {
        count(`${role}:stuck`)
        if (stuckOps.length < 10) stuckOps.push(`${role} (${config.transport}) stuck at "${state.step}" for ${OP_LIMIT} ms`)
      }
      // Hostile peers pace themselves a little: the point is variety, not burning the shared CPU.
      if (role !== 'good' && role !== 'flood') await sleep(rand(10, 60))
    } catch (error) {
      // A hostile client's own plumbing failing (connect refused under load, say) is counted, not fatal.
      count(`${role}:clientError:${(error as Error)?.name ?? 'unknown'}`)
      if (role === 'good' && failures.length < 20) failures.push(`client error: ${describe(error)}`)
      await sleep(50)
    }
  }
}

if (config.from > Date.now()) await sleep(config.from - Date.now())
const windowStart = Date.now()
await Promise.all(config.roles.flatMap(({ role, concurrency }) => Array.from({ length: concurrency }, () => worker(role))))
const windowSeconds = (Date.now() - windowStart) / 1000

const sortedLatency = latencies.slice().sort((a, b) => a - b)
const report: ClientReport = {
  name: config.name,
  transport: config.transport,
  counts,
  failures,
  stuck: stuckOps,
  held: Object.fromEntries(
    Object.entries(helds).map(([kind, list]) => [kind, { max: Math.max(...list), mean: Math.round(list.reduce((a, b) => a + b, 0) / list.length), n: list.length }]),
  ),
  floodRate: (counts['flood:full:completed'] ?? 0) / windowSeconds,
  floodAnsweredRate: (counts['flood:msg1:answered'] ?? 0) / windowSeconds,
  windowSeconds,
  latency: latencies.length ? { p50: percentile(sortedLatency, 50), p99: percentile(sortedLatency, 99), max: sortedLatency.at(-1)! } : undefined,
}
process.send?.({ type: 'report', report }, () => process.exit(0))
