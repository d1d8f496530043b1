// ws~shs bulk throughput, ours against npm multiserver 3.8.2, one process,
// one direction (client writes, server reads and counts). Run with
// `node packages/ws/bench/run.mjs [MiB]` from the repo root.
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import * as http from 'node:http'
import { createMultiServer } from '@ms/core'
import { shs, shsCrypto } from '@ms/shs'
import { ws } from '@ms/ws'

const require = createRequire(import.meta.url)
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any
const Multiserver: Any = require('multiserver')
const OriginalWs: Any = require('multiserver/plugins/ws')
const OriginalShs: Any = require('multiserver/plugins/shs')
const pull: Any = require('pull-stream')

const MiB = 1024 * 1024
const total = Number(process.argv[2] ?? 64) * MiB
const chunk = randomBytes(64 * 1024)
const appKey = randomBytes(32)
const serverKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
const clientKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))

async function ours(plain: boolean): Promise<number> {
  const server = createMultiServer([plain ? [ws({ host: '127.0.0.1' })] : [ws({ host: '127.0.0.1' }), shs({ keys: serverKeys, appKey })]])
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const listener = await server.listen(async (c) => {
    const reader = c.readable.getReader()
    let got = 0
    for (;;) {
      const { value, done: end } = await reader.read()
      if (end) break
      got += value.byteLength
    }
    if (got !== total) throw new Error(`got ${got}`)
    done()
  })
  const client = createMultiServer([plain ? [ws()] : [ws(), shs({ keys: clientKeys, appKey })]])
  const c = await client.connect(server.stringify())
  const start = performance.now()
  const cpu = process.cpuUsage()
  const writer = c.writable.getWriter()
  for (let sent = 0; sent < total; sent += chunk.byteLength) {
    await writer.ready
    void writer.write(chunk)
  }
  await writer.close()
  await finished
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  cpuSeconds.push((used.user + used.system) / 1e6)
  await c.close()
  await listener.close()
  return total / MiB / seconds
}

async function theirs(): Promise<number> {
  const httpServer = http.createServer()
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r))
  const keys = (k: { publicKey: Uint8Array; secretKey: Uint8Array }) => ({ publicKey: Buffer.from(k.publicKey), secretKey: Buffer.from(k.secretKey) })
  const shsOpts = (k: Any) => ({ keys: keys(k), appKey: Buffer.from(appKey), auth: (_: Any, cb: Any) => cb(null, true) })
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const server = Multiserver([[OriginalWs({ server: httpServer, host: '127.0.0.1' }), OriginalShs(shsOpts(serverKeys))]])
  const stop = server.server((stream: Any) => {
    let got = 0
    pull(
      stream,
      pull.drain(
        (data: Buffer) => {
          got += data.byteLength
          if (got === total) done()
        },
        () => {},
      ),
    )
  })
  const client = Multiserver([[OriginalWs(), OriginalShs(shsOpts(clientKeys))]])
  const stream: Any = await new Promise((resolve, reject) => client.client(server.stringify('device'), (err: Any, s: Any) => (err ? reject(err) : resolve(s))))
  const start = performance.now()
  const cpu = process.cpuUsage()
  let sent = 0
  pull((abort: Any, cb: Any) => {
    if (abort) return cb(abort)
    if (sent >= total) return finished.then(() => cb(true))
    sent += chunk.byteLength
    cb(null, chunk)
  }, stream)
  await finished
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  cpuSeconds.push((used.user + used.system) / 1e6)
  stop()
  httpServer.closeAllConnections()
  httpServer.close()
  return total / MiB / seconds
}

// CPU seconds of the last run: on a shared, busy machine MiB per CPU-second
// is steadier than wall-clock MiB/s.
const cpuSeconds: number[] = []
const rounds = Number(process.argv[3] ?? 3)
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const results: Record<string, number[]> = { 'ours ws': [], 'ours ws~shs': [], 'theirs ws~shs': [] }
const perCpu: Record<string, number[]> = { 'ours ws': [], 'ours ws~shs': [], 'theirs ws~shs': [] }
for (let i = 0; i < rounds; i++) {
  for (const [name, run] of [['ours ws', () => ours(true)], ['ours ws~shs', () => ours(false)], ['theirs ws~shs', theirs]] as const) {
    // BENCH_ONLY=ws~shs (a substring of the name) runs just the matching figures, e.g. for profiling.
    if (process.env.BENCH_ONLY && !name.includes(process.env.BENCH_ONLY)) continue
    results[name]!.push(await run())
    perCpu[name]!.push(total / MiB / cpuSeconds.at(-1)!)
  }
}
for (const name of Object.keys(results)) {
  const xs = results[name]!
  if (xs.length === 0) continue
  console.log(`${name.padEnd(14)} ${median(xs).toFixed(1).padStart(7)} MiB/s wall (runs: ${xs.map((x) => x.toFixed(1)).join(', ')}), ${median(perCpu[name]!).toFixed(1)} MiB per CPU-second`)
}
if (!process.env.BENCH_ONLY) console.log(`ws~shs ours/theirs: ${(median(results['ours ws~shs']!) / median(results['theirs ws~shs']!)).toFixed(2)}x wall, ${(median(perCpu['ours ws~shs']!) / median(perCpu['theirs ws~shs']!)).toFixed(2)}x per CPU-second`)
process.exit(0)
