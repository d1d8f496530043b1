import { StreamError } from './errors.js'

/**
 * Reads exact byte counts from a ReadableStream, for handshakes and
 * framing: `await reader.readExactly(64)`. When the handshake is over,
 * `release()` hands back a ReadableStream that yields the bytes already
 * buffered and then the rest of the source, so no byte is lost.
 */
export interface ByteReader {
  /** Resolves to exactly `n` bytes; rejects with `StreamError` if the stream ends first. */
  readExactly(n: number): Promise<Uint8Array>
  /** Ends reading through this reader and returns the rest as a stream. */
  release(): ReadableStream<Uint8Array>
  /** Cancels the source. */
  cancel(reason?: unknown): Promise<void>
}

/**
 * Chunks received but not yet consumed, taken out in exact byte counts.
 * The buffering under `createByteReader`, and under any reader that gets its
 * bytes pushed (shs's handshake over a `ByteChannel`).
 */
export class ByteQueue {
  #chunks: Uint8Array[] = []
  #length = 0

  /** Bytes buffered. */
  get length(): number {
    return this.#length
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.#chunks.push(chunk)
    this.#length += chunk.byteLength
  }

  /** Removes and returns the first `n` bytes (a copy); the caller checks `length` first. */
  take(n: number): Uint8Array {
    if (n > this.#length) throw new RangeError(`${n} bytes wanted, ${this.#length} buffered`)
    const chunks = this.#chunks
    const out = new Uint8Array(n)
    let offset = 0
    while (offset < n) {
      const head = chunks[0]!
      const take = Math.min(head.byteLength, n - offset)
      out.set(head.subarray(0, take), offset)
      offset += take
      if (take === head.byteLength) chunks.shift()
      else chunks[0] = head.subarray(take)
    }
    this.#length -= n
    return out
  }

  /** Removes and returns everything buffered, as it arrived. */
  drain(): Uint8Array[] {
    const all = this.#chunks
    this.#chunks = []
    this.#length = 0
    return all
  }
}

export function createByteReader(source: ReadableStream<Uint8Array>, address?: string): ByteReader {
  const reader = source.getReader()
  const buffered = new ByteQueue()
  let released = false

  async function readExactly(n: number): Promise<Uint8Array> {
    if (released) throw new Error('reader already released')
    while (buffered.length < n) {
      const { value, done } = await reader.read()
      if (done) {
        throw new StreamError(`stream ended after ${buffered.length} of ${n} expected bytes`, { address })
      }
      buffered.push(value)
    }
    return buffered.take(n)
  }

  function release(): ReadableStream<Uint8Array> {
    if (released) throw new Error('reader already released')
    released = true
    const leftover = buffered.drain()
    reader.releaseLock()
    if (leftover.length === 0) return source
    const rest = source.getReader()
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = leftover.shift()
        if (next) return controller.enqueue(next)
        return rest.read().then(({ value, done }) => {
          if (done) controller.close()
          else controller.enqueue(value)
        })
      },
      cancel: (reason) => rest.cancel(reason),
    })
  }

  return { readExactly, release, cancel: (reason) => reader.cancel(reason) }
}
