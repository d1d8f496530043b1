import sodium from 'sodium-native'
function rate(fn, ms = 150) { let n = 0; const s = performance.now(); const c0 = process.cpuUsage(); while (performance.now() - s < ms) n += fn(); const c = process.cpuUsage(c0); return (c.user + c.system) / n }
const key = new Uint8Array(32).fill(7), nonce = new Uint8Array(24), msg = new Uint8Array(4096), out = new Uint8Array(4112)
console.log('alloc 16K only us', rate(() => { const a = new Uint8Array(16384); a[5] = 1; return 1 }).toFixed(2))
console.log('alloc 16K + 1 sodium call on it us', rate(() => { const a = new Uint8Array(16384); sodium.crypto_secretbox_easy(a.subarray(0, 4112), msg, nonce, key); return 1 }).toFixed(2))
console.log('reuse + 1 sodium call us', rate(() => { sodium.crypto_secretbox_easy(out, msg, nonce, key); return 1 }).toFixed(2))
const big = new Uint8Array(16384)
console.log('reuse big + subarray call us', rate(() => { sodium.crypto_secretbox_easy(big.subarray(0, 4112), msg, nonce, key); return 1 }).toFixed(2))
console.log('subarray only us', rate(() => { const v = big.subarray(0, 4112); return v.length ? 1 : 0 }).toFixed(3))
