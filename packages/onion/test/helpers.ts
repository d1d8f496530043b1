import { generateKeyPairSync } from 'node:crypto'
import type { Connection } from '@ms/core'
import { onionNameFromPublicKey } from '../src/index.js'

/** A valid v3 onion name that no one publishes: a fresh ed25519 key. */
export function unusedOnion(): string {
  const { publicKey } = generateKeyPairSync('ed25519')
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string }
  return onionNameFromPublicKey(Buffer.from(jwk.x, 'base64url'))
}

/** Reads exactly `n` bytes from a connection, keeping the stream open. */
export async function readExactly(connection: Connection, n: number): Promise<Uint8Array> {
  const reader = connection.readable.getReader()
  const out = new Uint8Array(n)
  let offset = 0
  try {
    while (offset < n) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`stream ended after ${offset} of ${n} bytes`)
      if (offset + value.byteLength > n) throw new Error(`read ${offset + value.byteLength} bytes, expected ${n}`)
      out.set(value, offset)
      offset += value.byteLength
    }
  } finally {
    reader.releaseLock()
  }
  return out
}

/** Writes `data` in chunks, without closing. */
export async function write(connection: Connection, data: Uint8Array, chunkSize = 64 * 1024): Promise<void> {
  const writer = connection.writable.getWriter()
  try {
    for (let offset = 0; offset < data.byteLength; offset += chunkSize) {
      await writer.write(data.subarray(offset, offset + chunkSize))
    }
  } finally {
    writer.releaseLock()
  }
}

export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes)
}

export function bytes(value: string): Uint8Array {
  return new TextEncoder().encode(value)
}

/** Polls `condition` every 10 ms until it holds, or throws after `timeout` ms. */
export async function waitFor(condition: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
