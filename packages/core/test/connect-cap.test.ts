import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AbortError, DialError, createMultiServer, type Connection, type Segment, type Transport } from '../src/index.js'

/** A transport whose dials hang until aborted (or fail at once), counting both. */
function hanging(name: string, mode: 'hang' | 'fail' = 'hang') {
  const t = {
    name,
    dials: 0,
    aborted: 0,
    parse: (s: Segment) => (s.name === name ? { x: s.data.join(':') } : null),
    dial(_o: { x: string }, { signal }: { signal?: AbortSignal }): Promise<Connection> {
      t.dials++
      if (mode === 'fail') return Promise.reject(new DialError('refused by test', { code: 'ECONNREFUSED' }))
      return new Promise((_, reject) =>
        signal?.addEventListener(
          'abort',
          () => {
            t.aborted++
            reject(signal.reason)
          },
          { once: true },
        ),
      )
    },
  } satisfies Transport<{ x: string }> & { dials: number; aborted: number }
  return t
}

const warnings: Error[] = []
const onWarning = (w: Error) => warnings.push(w)
process.on('warning', onWarning)
afterEach(() => {
  warnings.length = 0
})

const list = (name: string, n: number) => Array.from({ length: n }, (_, i) => `${name}:${i + 1}`).join(';')
// "Nothing more happens for a while" is checked on fake timers: every stagger
// timer fires, deterministically, instead of hoping a real sleep was long enough.
// These transports do no I/O, so timers and promises are all there is.
const fakeTime = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
afterEach(() => {
  vi.useRealTimers()
})

describe('connect() over many hanging alternatives', () => {
  it('dials at most 4 at once by default, with no timeout, and aborts them all at the end', async () => {
    fakeTime()
    const slow = hanging('slow')
    const client = createMultiServer([[slow]])
    const controller = new AbortController()
    const pending = client.connect(list('slow', 40), { stagger: 5, signal: controller.signal }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(20)
    expect(slow.dials).toBe(4)
    // Forty staggers later, still 4: the original multiserver dials every alternative at once; ms used to add one every stagger without end.
    await vi.advanceTimersByTimeAsync(200)
    expect(slow.dials).toBe(4)
    // One listener on the caller's signal, whatever the number of alternatives.
    expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1)
    controller.abort()
    expect(await pending).toBeInstanceOf(AbortError)
    expect(slow.aborted).toBe(4)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('frees a place when a dial fails, up to the cap', async () => {
    fakeTime()
    const slow = hanging('slow')
    const bad = hanging('bad', 'fail')
    const client = createMultiServer([[slow], [bad]])
    const controller = new AbortController()
    const pending = client.connect(`bad:1;bad:2;slow:1;slow:2;slow:3`, { stagger: 5, signal: controller.signal, maxConcurrentDials: 2 }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(100)
    expect(bad.dials).toBe(2)
    expect(slow.dials).toBe(2)
    controller.abort()
    await pending
    await expect(client.connect('slow:1;slow:2', { maxConcurrentDials: 0 })).rejects.toBeInstanceOf(TypeError)
  })

  it('puts no more than one abort listener per dial on any signal: no MaxListenersExceededWarning', async () => {
    const slow = hanging('slow')
    const client = createMultiServer([[slow]])
    const pending = client.connect(list('slow', 40), { stagger: 1, timeout: 2000, maxConcurrentDials: 40 }).catch((e: unknown) => e)
    await expect.poll(() => slow.dials, { timeout: 5000 }).toBe(40)
    expect((await pending as Error).name).toBe('TimeoutError')
    expect(slow.aborted).toBe(40)
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
  })
})
