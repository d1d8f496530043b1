import { ed25519, x25519 } from '@ms/identity'
import { xsalsa20poly1305 } from '@noble/ciphers/salsa'
import { hmac } from '@noble/hashes/hmac'
import { sha256, sha512 } from '@noble/hashes/sha2'
import { nobleIdentity } from '@ms/identity'
import { constantTimeEqual, isAllZero, type ShsCrypto } from './types.js'

/**
 * Pure JavaScript backend on the audited @noble libraries, for browsers
 * (never bundle native code there). Mirrors libsodium's behaviour where it
 * matters for security: strict Ed25519 verification (noble's default,
 * ZIP-215, accepts signatures libsodium rejects), rejection of low-order and
 * mixed-order points when converting Ed25519 keys, and all-zero X25519
 * results.
 */
export const nobleCrypto: ShsCrypto = {
  ...nobleIdentity,
  sign(message, secretKey) {
    return ed25519.sign(message, secretKey.subarray(0, 32))
  },
  verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false
    try {
      // libsodium also refuses small-order public keys outright.
      const point = ed25519.Point.fromBytes(publicKey, false)
      if (point.isSmallOrder()) return false
      return ed25519.verify(signature, message, publicKey, { zip215: false })
    } catch {
      return false
    }
  },
  edPublicToCurve(publicKey) {
    if (publicKey.length !== 32) return null
    try {
      const point = ed25519.Point.fromBytes(publicKey, false)
      if (point.isSmallOrder() || !point.isTorsionFree()) return null
      return ed25519.utils.toMontgomery(publicKey)
    } catch {
      return null
    }
  },
  edSecretToCurve(secretKey) {
    // libsodium: the first half of SHA-512(seed), clamped.
    const h = sha512(secretKey.subarray(0, 32))
    const out = h.slice(0, 32)
    out[0]! &= 248
    out[31]! &= 127
    out[31]! |= 64
    h.fill(0)
    return out
  },
  scalarmultBase(secretKey) {
    return x25519.scalarMultBase(secretKey)
  },
  scalarmult(secretKey, publicKey) {
    if (publicKey.length !== 32) return null
    try {
      const out = x25519.scalarMult(secretKey, publicKey)
      return isAllZero(out) ? null : out
    } catch {
      // noble throws on an all-zero result, which is what we reject too.
      return null
    }
  },
  sha256(message) {
    return sha256(message)
  },
  auth(message, key) {
    return hmac(sha512, key, message).slice(0, 32)
  },
  authVerify(tag, message, key) {
    return tag.length === 32 && constantTimeEqual(nobleCrypto.auth(message, key), tag)
  },
  secretboxInto(out, message, nonce, key) {
    out.set(xsalsa20poly1305(key, nonce).encrypt(message))
  },
  secretboxOpenInto(out, box, nonce, key) {
    if (box.length < 16) return false
    try {
      out.set(xsalsa20poly1305(key, nonce).decrypt(box))
      return true
    } catch {
      return false
    }
  },
  secretboxDetachedInto(out, mac, message, nonce, key) {
    const boxed = xsalsa20poly1305(key, nonce).encrypt(message)
    mac.set(boxed.subarray(0, 16))
    out.set(boxed.subarray(16))
  },
  secretboxOpenDetachedInto(out, cipher, mac, nonce, key) {
    const boxed = new Uint8Array(16 + cipher.length)
    boxed.set(mac, 0)
    boxed.set(cipher, 16)
    return nobleCrypto.secretboxOpenInto(out, boxed, nonce, key)
  },
}
