import sodium from 'sodium-native'
import { BoxEncoder, BoxDecoder, sodiumCrypto } from '/work/main/packages/shs/dist/index.js'
const key = new Uint8Array(32).fill(7), nonce = new Uint8Array(24)
const msg = new Uint8Array(4096).fill(1), out = new Uint8Array(4096 + 16)
function rate(fn, ms = 150) { let bytes = 0; const s = performance.now(); const c0 = process.cpuUsage(); while (performance.now() - s < ms) bytes += fn(); const c = process.cpuUsage(c0); return bytes / ((c.user + c.system) / 1e3) / 1e3 }
const raw = () => { for (let i = 0; i < 64; i++) sodium.crypto_secretbox_easy(out, msg, nonce, key); return 64 * 4096 }
const data = new Uint8Array(256 * 1024).fill(3)
const enc = new BoxEncoder(sodiumCrypto, key, nonce)
const encAlloc = () => enc.encode(data).length && data.length
const pooled = new Uint8Array(BoxEncoder.encodedLength(data.length))
const encPool = () => (enc.encodeInto(pooled, data), data.length)
const unsafe = () => { const b = Buffer.allocUnsafeSlow(BoxEncoder.encodedLength(data.length)); enc.encodeInto(b, data); return data.length }
// decode variants
const enc2 = new BoxEncoder(sodiumCrypto, key, nonce)
const wire = []; for (let i = 0; i < 64; i++) wire.push(enc2.encode(data))
const flat = Buffer.concat(wire); const chunks = []; for (let i = 0; i < flat.length; i += 65536) chunks.push(flat.subarray(i, i + 65536))
let dec, ci = chunks.length
const decAlloc = () => { if (ci === chunks.length) { dec = new BoxDecoder(sodiumCrypto, key, nonce); ci = 0 } return dec.push(chunks[ci++]).length }
const cases = { raw, encAlloc, encPool, unsafe, decAlloc }
const res = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (let r = 0; r < 7; r++) for (const [k, fn] of Object.entries(cases)) res[k].push(rate(fn))
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1]
for (const k of Object.keys(cases)) console.log(k, med(res[k]).toFixed(0), 'MB/s', (med(res[k]) / med(res.raw)).toFixed(3))
const hdr = new Uint8Array(18), hout = new Uint8Array(34), mac = new Uint8Array(16), body = new Uint8Array(4096)
const two = () => { for (let i = 0; i < 64; i++) { sodium.crypto_secretbox_detached(body, mac, msg, nonce, key); sodium.crypto_secretbox_easy(hout, hdr, nonce, key) } return 64 * 4096 }
const big = new Uint8Array(64 * 4130)
const twoSub = () => { let o = 0; for (let i = 0; i < 64; i++) { sodium.crypto_secretbox_detached(big.subarray(o + 34, o + 34 + 4096), mac, data.subarray(i * 4096, i * 4096 + 4096), nonce, key); sodium.crypto_secretbox_easy(big.subarray(o, o + 34), hdr, nonce, key); o += 4130 } return 64 * 4096 }
const hdrOnly = () => { for (let i = 0; i < 64; i++) sodium.crypto_secretbox_easy(hout, hdr, nonce, key); return 64 * 4096 }
const c2 = { raw, two, twoSub, hdrOnly }
const r2 = Object.fromEntries(Object.keys(c2).map((k) => [k, []]))
for (let r = 0; r < 7; r++) for (const [k, fn] of Object.entries(c2)) r2[k].push(rate(fn))
for (const k of Object.keys(c2)) console.log(k, med(r2[k]).toFixed(0), 'MB/s', (med(r2[k]) / med(r2.raw)).toFixed(3))
