import type { Connection } from '@ms/core'
import { ComplianceError, within } from './bounded.js'

export interface ReadAllOptions {
  /** Fail with `ComplianceError` when no chunk and no end arrives for this long (ms). Default: wait forever. */
  idle?: number
  /** Names the stream in failure messages. */
  what?: string
}

/**
 * Reads a stream to its end and returns every byte. Each chunk is
 * overwritten once copied: a chunk read belongs to the reader, and a
 * plugin that reuses a chunk it handed out shows up as corrupt data.
 */
export async function readAll(readable: ReadableStream<Uint8Array>, limit = Infinity, options: ReadAllOptions = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let length = 0
  const reader = readable.getReader()
  const what = options.what ?? 'the readable'
  try {
    for (;;) {
      const read = reader.read()
      const { value, done } = options.idle === undefined ? await read : await within(read, options.idle, `${what} stalled after ${length} bytes: no data and no end`)
      if (done) break
      if (!(value instanceof Uint8Array)) throw new ComplianceError(`${what} delivered a ${typeof value}, not a Uint8Array`)
      // A copy (a Buffer's slice() is a view).
      chunks.push(new Uint8Array(value))
      value.fill(0)
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

export interface WriteAllOptions {
  chunkSize?: number
  /** Half-close once written. Default `true`. */
  close?: boolean
  /** Fail with `ComplianceError` when one write (or the close) takes longer than this (ms). Default: wait forever. */
  idle?: number
  what?: string
}

/** Writes `data` in chunks of `chunkSize`, waiting for each, then closes (half-close) unless told not to. */
export async function writeAll(writable: WritableStream<Uint8Array>, data: Uint8Array, options: WriteAllOptions = {}): Promise<void> {
  const { chunkSize = 64 * 1024, close = true, idle } = options
  const what = options.what ?? 'the writable'
  const bound = <T>(promise: Promise<T>, step: string) => (idle === undefined ? promise : within(promise, idle, `${what}: ${step}`))
  const writer = writable.getWriter()
  try {
    for (let offset = 0; offset < data.byteLength; offset += chunkSize) {
      await bound(writer.ready, `not ready for more after ${offset} bytes`)
      await bound(writer.write(data.subarray(offset, offset + chunkSize)), `a write did not complete after ${offset} bytes`)
    }
    if (close) await bound(writer.close(), 'close() (half-close) did not complete')
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

/**
 * Writes `data` to a connection in uneven pieces (1 byte, then sizes that
 * wander up to 200 000, so frame and chunk boundaries fall everywhere),
 * half-closes, and returns everything the peer sent back: what a client
 * checks against an echo server.
 */
export async function echoRoundTrip(connection: Connection, data: Uint8Array): Promise<Uint8Array> {
  const reading = readAll(connection.readable)
  const writer = connection.writable.getWriter()
  try {
    for (let offset = 0, step = 1; offset < data.length; offset += step, step = (step * 7 + 1) % 200_000) await writer.write(data.subarray(offset, offset + step))
    await writer.close()
  } finally {
    writer.releaseLock()
  }
  return reading
}
