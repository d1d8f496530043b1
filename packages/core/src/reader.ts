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

export function createByteReader(source: ReadableStream<Uint8Array>, address?: string): ByteReader {
  const reader = source.getReader()
  const buffered: Uint8Array[] = []
  let bufferedBytes = 0
  let released = false

  async function readExactly(n: number): Promise<Uint8Array> {
    if (released) throw new Error('reader already released')
    while (bufferedBytes < n) {
      const { value, done } = await reader.read()
      if (done) {
        throw new StreamError(`stream ended after ${bufferedBytes} of ${n} expected bytes`, { address })
      }
      if (value.byteLength === 0) continue
      buffered.push(value)
      bufferedBytes += value.byteLength
    }
    const out = new Uint8Array(n)
    let offset = 0
    while (offset < n) {
      const head = buffered[0]!
      const take = Math.min(head.byteLength, n - offset)
      out.set(head.subarray(0, take), offset)
      offset += take
      if (take === head.byteLength) buffered.shift()
      else buffered[0] = head.subarray(take)
    }
    bufferedBytes -= n
    return out
  }

  function release(): ReadableStream<Uint8Array> {
    if (released) throw new Error('reader already released')
    released = true
    const leftover = buffered.splice(0)
    bufferedBytes = 0
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
