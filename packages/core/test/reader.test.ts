import { describe, expect, it } from 'vitest'
import { ExactReader, StreamError, createByteReader } from '@ms/core'

const bytes = (...values: number[]) => Uint8Array.from(values)

describe('ExactReader', () => {
  it('returns exact counts across and within pushed chunks', async () => {
    const reader = new ExactReader()
    const first = reader.readExactly(3)
    reader.push(bytes(1, 2))
    reader.push(bytes(3, 4, 5))
    expect(await first).toEqual(bytes(1, 2, 3))
    expect(await reader.readExactly(1)).toEqual(bytes(4))
    expect(reader.buffered).toBe(1)
    expect(reader.drain()).toEqual([bytes(5)])
    expect(reader.buffered).toBe(0)
  })

  it('rejects a short read with StreamError once the source ends, naming the counts and the address', async () => {
    const reader = new ExactReader({ address: 'net:x:1' })
    const read = reader.readExactly(4)
    reader.push(bytes(1))
    reader.end()
    const error = await read.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamError)
    expect((error as StreamError).message).toBe('stream ended after 1 of 4 expected bytes')
    expect((error as StreamError).address).toBe('net:x:1')
    // What is buffered can still be read after the end.
    expect(await reader.readExactly(1)).toEqual(bytes(1))
    await expect(reader.readExactly(1)).rejects.toBeInstanceOf(StreamError)
  })

  it('rejects the waiting read and later ones with the reason given to fail', async () => {
    const reader = new ExactReader()
    const read = reader.readExactly(2)
    const reason = new Error('timed out')
    reader.fail(reason)
    await expect(read).rejects.toBe(reason)
    await expect(reader.readExactly(1)).rejects.toBe(reason)
  })

  it('allows one read at a time', async () => {
    const reader = new ExactReader()
    const first = reader.readExactly(1)
    await expect(reader.readExactly(1)).rejects.toThrow('one read at a time')
    reader.push(bytes(9))
    expect(await first).toEqual(bytes(9))
  })

  it('pauses a pushed source at the high-water mark and resumes it when a read wants more', async () => {
    const calls: string[] = []
    const reader = new ExactReader({ highWaterMark: 4, pause: () => calls.push('pause'), resume: () => calls.push('resume') })
    reader.push(bytes(1, 2, 3))
    expect(calls).toEqual([])
    reader.push(bytes(4, 5))
    expect(calls).toEqual(['pause'])
    expect(reader.paused).toBe(true)
    expect(await reader.readExactly(5)).toEqual(bytes(1, 2, 3, 4, 5))
    expect(calls).toEqual(['pause'])
    const more = reader.readExactly(1)
    expect(calls).toEqual(['pause', 'resume'])
    expect(reader.paused).toBe(false)
    reader.push(bytes(6))
    expect(await more).toEqual(bytes(6))
  })

  it('pulls once per shortfall from a pulled source', async () => {
    const chunks = [bytes(1), bytes(2, 3), bytes(4)]
    let pulls = 0
    const reader: ExactReader = new ExactReader({
      pull: () => {
        pulls++
        queueMicrotask(() => reader.push(chunks.shift()!))
      },
    })
    expect(await reader.readExactly(3)).toEqual(bytes(1, 2, 3))
    expect(pulls).toBe(2)
    expect(reader.buffered).toBe(0)
  })
})

describe('createByteReader', () => {
  it('reads exact counts from a stream and releases the rest without losing a byte', async () => {
    let pulled = 0
    const parts = [bytes(1, 2, 3), bytes(4, 5), bytes(6)]
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        const next = parts.shift()
        if (next) controller.enqueue(next)
        else controller.close()
      },
    }, { highWaterMark: 0 })
    const reader = createByteReader(source, 'mem:1')
    expect(await reader.readExactly(2)).toEqual(bytes(1, 2))
    expect(await reader.readExactly(2)).toEqual(bytes(3, 4))
    const rest = reader.release()
    const out: number[] = []
    for await (const chunk of rest) out.push(...chunk)
    expect(out).toEqual([5, 6])
    expect(pulled).toBe(4)
  })

  it('rejects with StreamError when the stream ends short', async () => {
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes(1))
        controller.close()
      },
    })
    const reader = createByteReader(source, 'mem:2')
    const error = await reader.readExactly(3).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StreamError)
    expect((error as StreamError).address).toBe('mem:2')
  })

  it("passes the stream's error through", async () => {
    const boom = new Error('boom')
    const source = new ReadableStream<Uint8Array>({ start: (controller) => controller.error(boom) })
    await expect(createByteReader(source).readExactly(1)).rejects.toBe(boom)
  })
})
