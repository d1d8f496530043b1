import { ed25519 } from '@ms/identity'
import { chacha20, chacha20poly1305, hchacha } from '@noble/ciphers/chacha'
import { poly1305 } from '@noble/ciphers/_poly1305'
import { blake2b } from '@noble/hashes/blake2'
import { sha512 } from '@noble/hashes/sha2'
import { randomBytes } from '@noble/hashes/utils'
import { nobleIdentity } from '@ms/identity'
import { constantTimeEqual, TAG_REKEY, type NoiseCrypto } from './types.js'

// The Ed25519 group order.
const L = 2n ** 252n + 27742317777372353535851937790883648493n

/** A little-endian 32-byte scalar as libsodium's noclamp functions read it (top bit cleared), reduced mod L. */
function scalarOf(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = 31; i >= 0; i--) n = (n << 8n) | BigInt(i === 31 ? bytes[i]! & 127 : bytes[i]!)
  return n % L
}

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])

function u32(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4)
  for (let i = 0; i < out.length; i++) {
    out[i] = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)
  }
  return out
}

function bytesOf(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4)
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    out[4 * i] = w & 0xff
    out[4 * i + 1] = (w >>> 8) & 0xff
    out[4 * i + 2] = (w >>> 16) & 0xff
    out[4 * i + 3] = (w >>> 24) & 0xff
  }
  return out
}

function hchacha20(key: Uint8Array, input16: Uint8Array): Uint8Array {
  const out = new Uint32Array(8)
  hchacha(SIGMA, u32(key), u32(input16), out)
  return bytesOf(out)
}

// libsodium's secretstream state: key 0..32, nonce 32..44 (counter 32..36, inner nonce 36..44).
const key = (state: Uint8Array) => state.subarray(0, 32)
const nonce = (state: Uint8Array) => state.subarray(32, 44)

function counterReset(state: Uint8Array): void {
  state.fill(0, 32, 36)
  state[32] = 1
}

function increment(state: Uint8Array): boolean {
  // The 4-byte little-endian counter; true when it wrapped to zero.
  for (let i = 32; i < 36; i++) {
    state[i] = (state[i]! + 1) & 0xff
    if (state[i] !== 0) return false
  }
  return true
}

function rekey(state: Uint8Array): void {
  const fresh = new Uint8Array(40)
  fresh.set(key(state), 0)
  fresh.set(state.subarray(36, 44), 32)
  const next = chacha20(key(state), nonce(state), fresh)
  state.set(next.subarray(0, 32), 0)
  state.set(next.subarray(32, 40), 36)
  counterReset(state)
}

const PAD = new Uint8Array(16)

/** The Poly1305 tag of secretstream over the encrypted tag block and ciphertext (no associated data). */
function secretstreamMac(state: Uint8Array, block: Uint8Array, cipher: Uint8Array): Uint8Array {
  const macKey = chacha20(key(state), nonce(state), new Uint8Array(64)).subarray(0, 32)
  const mac = poly1305.create(macKey)
  // Empty associated data: nothing, and no padding ((16 - 0) & 15 = 0).
  mac.update(block)
  mac.update(cipher)
  const pad = (16 - 64 + cipher.length) & 15
  if (pad) mac.update(PAD.subarray(0, pad))
  const lengths = new Uint8Array(16)
  const total = 64 + cipher.length
  // 64-bit little-endian lengths: associated data 0, then the block and ciphertext.
  new DataView(lengths.buffer).setUint32(8, total >>> 0, true)
  new DataView(lengths.buffer).setUint32(12, Math.floor(total / 2 ** 32), true)
  mac.update(lengths)
  return mac.digest()
}

function afterMessage(state: Uint8Array, mac: Uint8Array, tag: number): void {
  for (let i = 0; i < 8; i++) state[36 + i]! ^= mac[i]!
  const wrapped = increment(state)
  if ((tag & TAG_REKEY) !== 0 || wrapped) rekey(state)
}

/**
 * Pure JavaScript backend on the audited @noble libraries, for browsers
 * (never bundle native code there). Mirrors libsodium where it matters for
 * security: Ed25519 points must be canonical, of prime order and not small
 * order before any scalar multiplication; secretstream verifies before it
 * decrypts.
 */
export const nobleCrypto: NoiseCrypto = {
  ...nobleIdentity,
  sha512(message) {
    return sha512(message)
  },
  blake2b(parts, outLength, k) {
    const h = blake2b.create(k ? { dkLen: outLength, key: k } : { dkLen: outLength })
    for (const part of parts) h.update(part)
    return h.digest()
  },
  aeadEncrypt(plaintext, ad, n, k) {
    return chacha20poly1305(k, n, ad).encrypt(plaintext)
  },
  aeadDecrypt(ciphertext, ad, n, k) {
    if (ciphertext.length < 16) return null
    try {
      return chacha20poly1305(k, n, ad).decrypt(ciphertext)
    } catch {
      return null
    }
  },
  edScalarmultBase(scalar) {
    const s = scalarOf(scalar)
    return (s === 0n ? ed25519.Point.ZERO : ed25519.Point.BASE.multiply(s)).toBytes()
  },
  edScalarmult(scalar, point) {
    if (point.length !== 32) return null
    try {
      // zip215 false: a y coordinate at or above p (a non-canonical encoding) is refused, as libsodium does.
      const p = ed25519.Point.fromBytes(point, false)
      if (p.isSmallOrder() || !p.isTorsionFree()) return null
      const s = scalarOf(scalar)
      if (s === 0n) return null
      const q = p.multiply(s)
      if (q.equals(ed25519.Point.ZERO)) return null
      return q.toBytes()
    } catch {
      return null
    }
  },
  secretstreamInitPush(state, header, k) {
    header.set(randomBytes(24))
    nobleCrypto.secretstreamInitPull(state, header, k)
  },
  secretstreamPush(state, out, message, tag) {
    const block = new Uint8Array(64)
    block[0] = tag
    const encBlock = chacha20(key(state), nonce(state), block, undefined, 1)
    const cipher = chacha20(key(state), nonce(state), message, undefined, 2)
    const mac = secretstreamMac(state, encBlock, cipher)
    out[0] = encBlock[0]!
    out.set(cipher, 1)
    out.set(mac, 1 + cipher.length)
    afterMessage(state, mac, tag)
  },
  secretstreamInitPull(state, header, k) {
    state.fill(0)
    state.set(hchacha20(k, header.subarray(0, 16)), 0)
    counterReset(state)
    state.set(header.subarray(16, 24), 36)
  },
  secretstreamPull(state, out, input) {
    if (input.length < 17) return -1
    const mlen = input.length - 17
    // The tag's block: decrypt byte 0 from the keystream, then MAC the block with the received byte.
    const block = new Uint8Array(64)
    block[0] = input[0]!
    const macBlock = chacha20(key(state), nonce(state), block, undefined, 1)
    const tag = macBlock[0]!
    // What the sender authenticated: its encrypted tag byte, then the rest of the keystream block.
    macBlock[0] = input[0]!
    const cipher = input.subarray(1, 1 + mlen)
    const mac = secretstreamMac(state, macBlock, cipher)
    if (!constantTimeEqual(mac, input.subarray(1 + mlen))) return -1
    out.set(chacha20(key(state), nonce(state), cipher, undefined, 2))
    afterMessage(state, mac, tag)
    return tag
  },
}
