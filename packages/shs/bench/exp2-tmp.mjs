import sodium from 'sodium-native'
import { BoxEncoder, BoxDecoder, sodiumCrypto } from '../dist/index.js'
const key = new Uint8Array(32).fill(7), nonce = new Uint8Array(24)
const msg = new Uint8Array(4096).fill(1), out = new Uint8Array(4096 + 16)
function rate(fn, ms = 150) { let bytes = 0; const s = performance.now(); const c0 = process.cpuUsage(); while (performance.now() - s < ms) bytes += fn(); const c = process.cpuUsage(c0); return bytes / ((c.user + c.system) / 1e3) / 1e3 }
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1]
const raw = () => { for (let i = 0; i < 64; i++) sodium.crypto_secretbox_easy(out, msg, nonce, key); return 64 * 4096 }
const enc = new BoxEncoder(sodiumCrypto, key, nonce)
const cases = { raw }
for (const kb of [16, 32, 64, 120, 256]) {
  const data = new Uint8Array(kb * 1024).fill(3)
  cases['slow' + kb] = () => { const b = Buffer.allocUnsafeSlow(BoxEncoder.encodedLength(data.length)); enc.encodeInto(b, data); return data.length }
  const pooled = new Uint8Array(BoxEncoder.encodedLength(data.length))
  cases['pool' + kb] = () => (enc.encodeInto(pooled, data), data.length)
}
const res = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (let r = 0; r < 5; r++) for (const [k, fn] of Object.entries(cases)) res[k].push(rate(fn, 100))
for (const k of Object.keys(cases)) console.log(k, med(res[k]).toFixed(0), 'MB/s', (med(res[k]) / med(res.raw)).toFixed(3))
