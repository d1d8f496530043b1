import type { Connection } from '@ms/core'

/** Reads a stream to its end and returns every byte. */
export async function readAll(readable: ReadableStream<Uint8Array>, limit = Infinity): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let length = 0
  const reader = readable.getReader()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      chunks.push(value)
      length += value.byteLength
      if (length > limit) throw new Error(`read more than ${limit} bytes`)
    }
  } finally {
    reader.releaseLock()
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

/** Writes `data` in chunks of `chunkSize`, waiting for each, then closes (half-close) unless told not to. */
export async function writeAll(
  writable: WritableStream<Uint8Array>,
  data: Uint8Array,
  { chunkSize = 64 * 1024, close = true }: { chunkSize?: number; close?: boolean } = {},
): Promise<void> {
  const writer = writable.getWriter()
  try {
    for (let offset = 0; offset < data.byteLength; offset += chunkSize) {
      await writer.ready
      await writer.write(data.subarray(offset, offset + chunkSize))
    }
    if (close) await writer.close()
  } finally {
    writer.releaseLock()
  }
}

/** Echoes everything a connection receives back to it; half-closes when the peer does. */
export function echo(connection: Connection): void {
  connection.readable.pipeTo(connection.writable).catch(() => {
    void connection.close()
  })
}

/** Deterministic pseudo-random bytes (xorshift), so failures are reproducible. */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Byte equality that reports the first difference instead of dumping megabytes. */
export function firstDifference(a: Uint8Array, b: Uint8Array): string | null {
  if (a.byteLength !== b.byteLength) return `lengths differ: ${a.byteLength} vs ${b.byteLength}`
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return `bytes differ at offset ${i}`
  return null
}
