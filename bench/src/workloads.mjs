// What each figure does on the wire, written once against the Conn interface
// that every adapter (impl-ours, impl-theirs, impl-raw) provides:
//   write(bytes), pump(n, chunk), readAtLeast(n), readToEnd(), idle(),
//   endWrite(), close().
import { MiB, median, now, quantile } from './stats.mjs'
import { createServer, connect } from 'node:net'

/** The one small message a handshake connection sends. */
export const MESSAGE = Buffer.alloc(32, 0x6d)
/** The one byte the server answers with, so the client knows it arrived. */
export const ACK = Buffer.from([0x61])

export function chunkOf(size) {
  // Not all zeros, in case anything on the path compresses or special-cases them.
  const chunk = Buffer.alloc(size)
  for (let i = 0; i < size; i++) chunk[i] = (i * 131 + 7) & 0xff
  return chunk
}

/**
 * The server side of every figure. Bulk: read the client's bytes (and send
 * as many back at the same time when `both`), then one ack byte. Others:
 * read the message, ack, and close when the client closes. An idle
 * connection (memory figure) just waits in the read.
 */
export function serve(job, conn, onError) {
  const p = job.params
  const run = async () => {
    if (job.figure === 'latency') {
      // Latency connections close as soon as they are up: no exchange, so
      // the original's Nagle-delayed small writes do not stretch the run.
      await conn.readToEnd()
      await conn.endWrite()
      await conn.close()
      return
    }
    if (job.figure === 'bulk') {
      const chunk = chunkOf(p.chunk)
      await Promise.all([conn.readAtLeast(p.bytes), p.both ? conn.pump(p.bytes, chunk) : undefined])
    } else {
      await conn.readAtLeast(MESSAGE.length)
    }
    await conn.write(ACK)
    await conn.readToEnd()
    await conn.endWrite()
    await conn.close()
  }
  run().catch((error) => {
    onError?.(error)
    conn.close().catch(() => {})
  })
}

/** Dial, send one message, wait for the ack, close both ways cleanly. */
export async function shake(dial, address) {
  const conn = await dial(address)
  await finish(conn)
}

async function finish(conn) {
  await conn.write(MESSAGE)
  await conn.readAtLeast(ACK.length)
  await conn.endWrite()
  await conn.readToEnd()
  await conn.close()
}

/** Runs `count` tasks with at most `inflight` of them at a time. */
export async function pool(count, inflight, task) {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      await task()
    }
  }
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker))
}

/**
 * `p.count` handshakes, `p.inflight` at a time, or as many as start within
 * `p.seconds`; resolves to how many completed, the seconds it took and this
 * process's CPU time meanwhile (µs, user + system, all threads).
 */
export async function timedShakes(dial, address, p) {
  const cpuBefore = process.cpuUsage()
  const start = now()
  const deadline = start + p.seconds * 1000
  let completed = 0
  await pool(p.count, p.inflight, async () => {
    if (now() > deadline) return
    await shake(dial, address)
    completed++
  })
  const seconds = (now() - start) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  return { completed, seconds, cpu: cpu.user + cpu.system }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Memory once the garbage collector has had its say (workers run with
 * --expose-gc): resident memory, and what V8 holds for JavaScript objects
 * (heap in use plus the memory outside the heap that they own).
 */
export async function settledMemory() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await sleep(50)
  }
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heap: heapUsed + external }
}

/**
 * The client side of each figure; resolves to the figure's numbers.
 * `askServer('memory')` returns the server process's `settledMemory()` (memory figure),
 * `askServer('cpu')` its CPU time so far in µs (handshakes); both `null` in one process.
 */
export async function client(job, dial, address, askServer) {
  const p = job.params
  switch (job.figure) {
    case 'bulk': {
      const conn = await dial(address)
      const chunk = chunkOf(p.chunk)
      const serverCpuBefore = await askServer('cpu')
      const cpuBefore = process.cpuUsage()
      const start = now()
      await Promise.all([conn.pump(p.bytes, chunk), conn.readAtLeast((p.both ? p.bytes : 0) + ACK.length)])
      const seconds = (now() - start) / 1000
      const cpu = process.cpuUsage(cpuBefore)
      const serverCpu = serverCpuBefore === null ? 0 : (await askServer('cpu')) - serverCpuBefore
      // Not part of the figure. The original's ws plugin closes the whole
      // socket when one side ends, so the peer's goodbye may never come.
      await conn.endWrite().then(() => conn.readToEnd()).catch(() => {})
      await conn.close().catch(() => {})
      const moved = p.both ? 2 * p.bytes : p.bytes
      // CPU time (user + system, all threads) per MiB moved, client plus server:
      // unlike the rate, it holds up on a machine shared with other work.
      return { value: moved / MiB / seconds, cpu: (cpu.user + cpu.system + serverCpu) / (moved / MiB), seconds }
    }
    case 'handshakes': {
      await pool(p.warmup, p.inflight, () => shake(dial, address))
      // `count` connections, or as many as fit in `seconds` (slow
      // implementations would otherwise dominate the bench's running time).
      const serverCpuBefore = await askServer('cpu')
      const { completed, seconds, cpu } = await timedShakes(dial, address, p)
      const serverCpu = serverCpuBefore === null ? 0 : (await askServer('cpu')) - serverCpuBefore
      // CPU time (user + system, all threads) per handshake, client plus server.
      return { value: completed / seconds, cpu: (cpu + serverCpu) / completed, seconds, completed }
    }
    case 'latency': {
      // With `rtt`, dial through a local proxy that delays every chunk by
      // half of it each way: the handshake's round trips then cost what
      // they cost on a network (TCP's own setup is not delayed).
      const proxy = p.rtt ? await delayProxy(address, p.rtt / 2) : undefined
      const target = proxy ? proxy.address : address
      const open = async () => {
        const start = now()
        const conn = await dial(target)
        const ms = now() - start
        await conn.endWrite()
        await conn.readToEnd()
        await conn.close()
        return ms
      }
      try {
        for (let i = 0; i < p.warmup; i++) await open()
        const times = []
        for (let i = 0; i < p.count; i++) times.push(await open())
        return { median: median(times), p99: quantile(times, 0.99) }
      } finally {
        await proxy?.close()
      }
    }
    case 'memory': {
      await pool(p.warmup, 8, () => shake(dial, address))
      const reading = async () => ({ client: await settledMemory(), server: await askServer('memory') })
      const open = []
      const openBatch = () =>
        pool(p.conns, 32, async () => {
          const conn = await dial(address)
          conn.idle()
          open.push(conn)
        })
      // A first batch of `conns` idle connections, then `batches` more. The
      // first also pays for growth that a busy process pays once, whatever
      // it holds (V8 growing its young generation and heap pages, malloc
      // arenas): spread over one batch it moves RSS per connection by 10-25
      // KiB, differently from run to run and implementation to
      // implementation, and RSS keeps growing in steps for a batch or two
      // after (measured batch by batch, ours 73, 46, 32, 26 KiB per pair and
      // the original's 51, 54, 26, 23 while both heaps grow the same at
      // every step). What a connection costs is the growth over the later
      // batches, the figure the verdicts use; the first batch's growth is
      // kept as information (`first`).
      const start = await reading()
      await openBatch()
      await sleep(p.settle)
      const middle = await reading()
      for (let b = 0; b < p.batches; b++) await openBatch()
      await sleep(p.settle)
      const end = await reading()
      // Growth per connection, both ends: in one process the server's memory is the client's, so count it once.
      const perConn = (from, to, what, count) =>
        (to.client[what] - from.client[what]) / count +
        (job.mode === 'same' || from.server === null ? 0 : (to.server[what] - from.server[what]) / count)
      const later = p.conns * p.batches
      return {
        // The figure: resident memory.
        value: perConn(middle, end, 'rss', later),
        // JavaScript objects alone: far less noisy than RSS.
        heap: perConn(middle, end, 'heap', later),
        first: perConn(start, middle, 'rss', p.conns),
        open: open.length,
      }
    }
    default:
      throw new Error(`unknown figure ${job.figure}`)
  }
}

/** A TCP proxy in front of a `net:HOST:PORT~...` address that delays each chunk (and the end) by `oneWayMs` in each direction. */
async function delayProxy(address, oneWayMs) {
  const m = /^net:([^:]+):(\d+)(~.*)?$/.exec(address)
  if (!m) throw new Error(`delayProxy: not a net address: ${address}`)
  const sockets = new Set()
  const server = createServer({ allowHalfOpen: true }, (inbound) => {
    const outbound = connect({ host: m[1], port: Number(m[2]), allowHalfOpen: true })
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        inbound.destroy()
        outbound.destroy()
      })
    }
    // Timers of one duration fire in the order they were set: bytes stay in order.
    const relay = (from, to) => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), oneWayMs))
      from.on('end', () => setTimeout(() => to.writable && to.end(), oneWayMs))
    }
    relay(inbound, outbound)
    relay(outbound, inbound)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    address: `net:127.0.0.1:${server.address().port}${m[3] ?? ''}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
