import { createRequire } from 'node:module'
import * as nodeNet from 'node:net'
import { createMultiServer, toBase64 } from '@ms/core'
import { net } from '@ms/net'
import { shs, sodiumCrypto as crypto } from '../dist/index.js'
const require = createRequire(import.meta.url)
const SHS = require('secret-handshake'), pull = require('pull-stream'), toPull = require('stream-to-pull-stream')
const appKey = crypto.randomBytes(32)
const sk = crypto.signKeypairFromSeed(crypto.randomBytes(32)), ck = crypto.signKeypairFromSeed(crypto.randomBytes(32))
const createServerStream = SHS.createServer({ publicKey: Buffer.from(sk.publicKey), secretKey: Buffer.from(sk.secretKey) }, (id, cb) => cb(null, true), Buffer.from(appKey), 5000)
let bytesEchoed = 0
const server = nodeNet.createServer({ allowHalfOpen: true }, (socket) => {
  const wire = toPull.duplex(socket)
  pull(wire, createServerStream((err, plain) => { if (err) console.log('srv err', err); else pull(plain, pull.through((b) => { bytesEchoed += b.length }), plain) }), wire)
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const port = server.address().port
const t0 = performance.now()
const conn = await createMultiServer([[net(), shs({ keys: ck, appKey })]]).connect(`net:127.0.0.1:${port}~shs:${toBase64(sk.publicKey)}`)
console.log('handshake ms', (performance.now() - t0).toFixed(1))
const data = crypto.randomBytes(1 << 20)
let got = 0
const t1 = performance.now()
const reading = (async () => { for await (const c of conn.readable) { got += c.length } })()
const w = conn.writable.getWriter()
const mode = process.argv[2] ?? 'big'
if (mode === 'big') await w.write(data)
else for (let o = 0; o < data.length; o += 65536) await w.write(data.subarray(o, o + 65536))
console.log('written ms', (performance.now() - t1).toFixed(1), 'echoed so far', bytesEchoed)
await w.close()
await reading
console.log('round trip ms', (performance.now() - t1).toFixed(1), got)
await conn.close(); server.close()
