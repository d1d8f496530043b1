// net~shs bulk throughput, one direction, client and server in separate
// processes: @ms/shs vs npm multiserver 3.8.2 (secret-handshake 1.1.21),
// and raw sodium-native crypto_secretbox_easy at 4096 bytes on this machine.
// Usage (after `npx tsup` here and in core/net): node bench/net.mjs [MiB=128] [rounds=3]
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import sodium from 'sodium-native'

const require = createRequire(import.meta.url)
const [, , role = 'run', impl, arg1, arg2] = process.argv
const appKey = Buffer.alloc(32, 5)
const serverSeed = Buffer.alloc(32, 1)
const clientSeed = Buffer.alloc(32, 2)

async function ours() {
  const { createMultiServer } = await import('@ms/core')
  const { net } = await import('@ms/net')
  const { shs, sodiumCrypto } = await import('../dist/index.js')
  const keys = (seed) => sodiumCrypto.signKeypairFromSeed(seed)
  return { createMultiServer, net, shs, keys }
}

function refKeys(seed) {
  const pk = Buffer.alloc(32), sk = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(pk, sk, seed)
  return { publicKey: pk, secretKey: sk }
}

if (role === 'server' && impl === 'ours') {
  const { createMultiServer, net, shs, keys } = await ours()
  const ms = createMultiServer([[net({ host: '127.0.0.1' }), shs({ keys: keys(serverSeed), appKey })]])
  await ms.listen(async (conn) => {
    let n = 0
    for await (const c of conn.readable) n += c.length
    const w = conn.writable.getWriter()
    await w.write(Buffer.from(String(n)))
    await w.close()
    if (process.env.EXIT_AFTER_ONE) setTimeout(() => process.exit(0), 100)
  })
  console.log(ms.stringify('device'))
} else if (role === 'server' && impl === 'ref') {
  const MultiServer = require('multiserver'), Net = require('multiserver/plugins/net'), Shs = require('multiserver/plugins/shs')
  const pull = require('pull-stream')
  const port = Number(arg1)
  const ms = MultiServer([[Net({ host: '127.0.0.1', port }), Shs({ keys: refKeys(serverSeed), appKey, auth: (id, cb) => cb(null, true) })]])
  ms.server((stream) => {
    let n = 0
    pull(stream.source, pull.drain((c) => (n += c.length), () => pull(pull.values([Buffer.from(String(n))]), stream.sink)))
  }, () => {}, () => console.log(ms.stringify('device')))
} else if (role === 'client') {
  const total = Number(arg2) * 1024 * 1024
  const chunk = Buffer.alloc(64 * 1024, 7)
  const start = performance.now()
  if (impl === 'ours') {
    const { createMultiServer, net, shs, keys } = await ours()
    const conn = await createMultiServer([[net(), shs({ keys: keys(clientSeed), appKey })]]).connect(arg1)
    const reading = (async () => { let s = ''; for await (const c of conn.readable) s += Buffer.from(c).toString(); return s })()
    const w = conn.writable.getWriter()
    for (let sent = 0; sent < total; sent += chunk.length) await w.write(chunk)
    await w.close()
    const got = await reading
    if (Number(got) !== total) throw new Error(`server got ${got}`)
    await conn.close()
  } else {
    const MultiServer = require('multiserver'), Net = require('multiserver/plugins/net'), Shs = require('multiserver/plugins/shs')
    const pull = require('pull-stream')
    const ms = MultiServer([[Net({}), Shs({ keys: refKeys(clientSeed), appKey, auth: (id, cb) => cb(null, true) })]])
    await new Promise((resolve, reject) => ms.client(arg1, (err, stream) => {
      if (err) return reject(err)
      let sent = 0
      pull(function source(end, cb) { if (end) return cb(end); if (sent >= total) return cb(true); sent += chunk.length; cb(null, chunk) }, stream.sink)
      pull(stream.source, pull.collect((err, bufs) => (err ? reject(err) : Number(Buffer.concat(bufs).toString()) === total ? resolve() : reject(new Error('short')))))
    }))
  }
  console.log(JSON.stringify({ MiBps: total / 1024 / 1024 / ((performance.now() - start) / 1000) }))
  process.exit(0)
} else {
  const MiB = Number(impl ?? 128)
  const rounds = Number(arg1 ?? 3)
  const self = fileURLToPath(import.meta.url)
  const { createServer } = await import('node:net')
  const freePort = () => new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) }) })
  const runOne = async (which) => {
    const server = spawn(process.execPath, [self, 'server', which, String(await freePort())], { stdio: ['ignore', 'pipe', 'inherit'] })
    const address = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(String(d).trim())))
    const transfer = async (size) => {
      const client = spawn(process.execPath, [self, 'client', which, address, String(size)], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      client.stdout.on('data', (d) => (out += d))
      await new Promise((resolve) => client.on('close', resolve))
      return JSON.parse(out).MiBps
    }
    // One warm-up transfer so the server's JIT is warm, as in a long-running peer.
    await transfer(16)
    const mibps = await transfer(which === 'ref' ? Math.max(16, MiB / 4) : MiB)
    server.kill()
    return mibps
  }
  const rawSecretbox = () => {
    const key = Buffer.alloc(32, 3), nonce = Buffer.alloc(24), msg = Buffer.alloc(4096), out = Buffer.alloc(4112)
    let n = 0
    const start = performance.now()
    while (performance.now() - start < 1000) for (let i = 0; i < 64; i++, n++) sodium.crypto_secretbox_easy(out, msg, nonce, key)
    return (n * 4096) / 1024 / 1024 / ((performance.now() - start) / 1000)
  }
  const rows = []
  for (let r = 0; r < rounds; r++) {
    const o = await runOne('ours')
    const f = await runOne('ref')
    const raw = rawSecretbox()
    rows.push({ raw, ours: o, ref: f, oursVsRef: o / f, oursVsRaw: o / raw })
    console.log(JSON.stringify(rows.at(-1)))
  }
  const med = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[rows.length >> 1]
  console.log('median', JSON.stringify({ rawSecretboxMiBps: med('raw'), oursMiBps: med('ours'), refMiBps: med('ref'), oursVsRef: med('oursVsRef'), oursVsRaw: med('oursVsRaw') }))
}
