import { createHash } from 'node:crypto'
import type { Segment } from '@ms/core'

/** Dial options of the onion transport: one onion service and port. */
export interface OnionAddress {
  /** The v3 onion name with its suffix, lower case: `<56 base32 chars>.onion`. */
  host: string
  /** 1-65535. */
  port: number
}

// A v3 name is base32 (RFC 4648, lower case, no padding) of 35 bytes:
// 32-byte ed25519 public key, 2-byte checksum, version byte 0x03. The
// version byte makes the last character `d`. v2 names (16 characters)
// stopped working in 2021 and are not accepted.
const V3_NAME = /^[a-z2-7]{55}d\.onion$/

/**
 * Parses `onion:<name>.onion:<port>`. Returns `null` for anything else:
 * another transport, a v2 or malformed name, a missing or out-of-range
 * port. Never throws. The name is matched case-insensitively and returned
 * in lower case. The checksum inside the name is verified when dialling
 * (see {@link isValidOnionName}), so a typo there gets its own error rather
 * than "no transport understands this address".
 */
export function parseOnionAddress(segment: Segment): OnionAddress | null {
  if (!segment || segment.name !== 'onion' || !Array.isArray(segment.data) || segment.data.length !== 2) return null
  const [rawHost, rawPort] = segment.data as [unknown, unknown]
  if (typeof rawHost !== 'string' || typeof rawPort !== 'string') return null
  const host = rawHost.toLowerCase()
  if (!V3_NAME.test(host)) return null
  if (!/^[1-9][0-9]{0,4}$/.test(rawPort)) return null
  const port = Number(rawPort)
  if (port > 65535) return null
  return { host, port }
}

/** The segment for an onion address: `{ name: 'onion', data: [host, port] }`. */
export function stringifyOnionAddress(options: OnionAddress): Segment {
  return { name: 'onion', data: [options.host, String(options.port)] }
}

/** The address string `onion:<host>:<port>`. */
export function onionAddressString(options: OnionAddress): string {
  return `onion:${options.host}:${options.port}`
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

function base32Decode(text: string): Uint8Array | null {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8))
  let bits = 0
  let value = 0
  let index = 0
  for (const ch of text) {
    const v = BASE32.indexOf(ch)
    if (v === -1) return null
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      out[index++] = (value >>> (bits - 8)) & 0xff
      bits -= 8
    }
  }
  return out
}

function base32Encode(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

function checksum(publicKey: Uint8Array): Uint8Array {
  // rend-spec-v3: CHECKSUM = SHA3_256(".onion checksum" | PUBKEY | VERSION)[:2]
  return createHash('sha3-256')
    .update('.onion checksum')
    .update(publicKey)
    .update(Uint8Array.of(3))
    .digest()
    .subarray(0, 2)
}

/**
 * True when `host` (`<name>.onion` or just `<name>`) is a v3 onion name
 * whose checksum and version are right, i.e. a name Tor would accept.
 */
export function isValidOnionName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.onion$/, '')
  if (!/^[a-z2-7]{56}$/.test(name)) return false
  const bytes = base32Decode(name)
  if (!bytes || bytes.length !== 35 || bytes[34] !== 3) return false
  const sum = checksum(bytes.subarray(0, 32))
  return bytes[32] === sum[0] && bytes[33] === sum[1]
}

/** The `<name>.onion` host of the v3 onion service with this ed25519 public key. */
export function onionNameFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.byteLength !== 32) throw new TypeError(`an ed25519 public key has 32 bytes, got ${publicKey.byteLength}`)
  const bytes = new Uint8Array(35)
  bytes.set(publicKey, 0)
  bytes.set(checksum(publicKey), 32)
  bytes[34] = 3
  return `${base32Encode(bytes)}.onion`
}
