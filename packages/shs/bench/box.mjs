// Box-stream throughput against raw libsodium on this machine.
// Usage: node bench/box.mjs  (after `npx tsup`)
import sodium from 'sodium-native'
import { memoryPair } from '@ms/core'
import { BoxEncoder, BoxDecoder, sodiumCrypto, shs } from '../dist/index.js'

const seconds = Number(process.env.SECONDS_PER_CASE ?? 1.5)
const MB = 1e6
function time(fn) {
  let bytes = 0
  const start = performance.now()
  while (performance.now() - start < seconds * 1000) bytes += fn()
  return bytes / MB / ((performance.now() - start) / 1000)
}

const key = sodium.randombytes_buf ? Buffer.alloc(32, 7) : null
const nonce = new Uint8Array(24)
const msg = new Uint8Array(4096).fill(1)
const out = new Uint8Array(4096 + 16)
const raw = time(() => {
  for (let i = 0; i < 64; i++) sodium.crypto_secretbox_easy(out, msg, nonce, key)
  return 64 * 4096
})
const rawOpen = (() => {
  sodium.crypto_secretbox_easy(out, msg, nonce, key)
  const plain = new Uint8Array(4096)
  return time(() => {
    for (let i = 0; i < 64; i++) sodium.crypto_secretbox_open_easy(plain, out, nonce, key)
    return 64 * 4096
  })
})()

const data = new Uint8Array(256 * 1024).fill(3)
const enc = new BoxEncoder(sodiumCrypto, key, nonce)
const encode = time(() => enc.encode(data).length && data.length)

// Decode a long recorded stream fed in 64 KiB chunks, like a socket delivers.
const enc2 = new BoxEncoder(sodiumCrypto, key, nonce)
const wire = []
for (let i = 0; i < 64; i++) wire.push(enc2.encode(data))
const flat = new Uint8Array(wire.reduce((n, w) => n + w.length, 0))
let o = 0
for (const w of wire) flat.set(w, o), (o += w.length)
const chunks = []
for (let i = 0; i < flat.length; i += 65536) chunks.push(flat.subarray(i, i + 65536))
let dec = new BoxDecoder(sodiumCrypto, key, nonce)
let ci = 0
const decode = time(() => {
  if (ci === chunks.length) (dec = new BoxDecoder(sodiumCrypto, key, nonce)), (ci = 0)
  return dec.push(chunks[ci++]).length
})

// Both halves through WHATWG streams in one process (one core does both):
// shs over the in-memory transport, which offers no channel, so box-stream
// runs on the channel @ms/core bridges over its streams.
async function streams(total) {
  const appKey = sodiumCrypto.randomBytes(32)
  const serverKeys = sodiumCrypto.signKeypairFromSeed(sodiumCrypto.randomBytes(32))
  const clientKeys = sodiumCrypto.signKeypairFromSeed(sodiumCrypto.randomBytes(32))
  const pair = memoryPair({ highWaterMark: 1 << 20 })
  const [client, server] = await Promise.all([
    shs({ keys: clientKeys, appKey }).upgradeOutbound(pair.client, { publicKey: serverKeys.publicKey }, {}),
    shs({ keys: serverKeys, appKey }).upgradeInbound(pair.server, {}),
  ])
  const start = performance.now()
  const writing = (async () => {
    const w = client.writable.getWriter()
    const chunk = new Uint8Array(1 << 20).fill(9)
    for (let sent = 0; sent < total; sent += chunk.length) await w.write(chunk)
    await w.close()
  })()
  let got = 0
  for await (const c of server.readable) got += c.length
  await writing
  await Promise.all([client.close(), server.close()])
  if (got !== total) throw new Error(`got ${got} of ${total}`)
  return total / MB / ((performance.now() - start) / 1000)
}
const both = await streams(256 * 1024 * 1024)

console.log(JSON.stringify({
  rawSecretboxEasy4096MBps: +raw.toFixed(0),
  rawSecretboxOpenEasy4096MBps: +rawOpen.toFixed(0),
  encodeMBps: +encode.toFixed(0),
  encodeVsRaw: +(encode / raw).toFixed(3),
  decodeMBps: +decode.toFixed(0),
  decodeVsRawOpen: +(decode / rawOpen).toFixed(3),
  streamsEncryptPlusDecryptOneCoreMBps: +both.toFixed(0),
  streamsVsHalfRaw: +(both / (1 / (1 / raw + 1 / rawOpen))).toFixed(3),
}, null, 1))
