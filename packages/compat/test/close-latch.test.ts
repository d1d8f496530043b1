import { describe, expect, it } from 'vitest'
import { CloseLatch } from '../src/close-latch.js'

describe('CloseLatch (the close function of a started server)', () => {
  it('starts closing on the first call only, and runs every callback once the close is done', async () => {
    const latch = new CloseLatch()
    const calls: string[] = []
    expect(latch.requested).toBe(false)
    expect(latch.request((e) => calls.push(`first ${e}`))).toBe(true)
    expect(latch.requested).toBe(true)
    expect(latch.request((e) => calls.push(`second ${e}`))).toBe(false)
    expect(latch.request()).toBe(false)
    expect(calls).toEqual([])
    latch.finish()
    expect(calls).toEqual(['first null', 'second null'])
    latch.finish()
    expect(calls).toHaveLength(2)
  })

  it('calls back a close requested after it finished on a later microtask, not synchronously', async () => {
    const latch = new CloseLatch()
    latch.finish() // e.g. the server failed to start
    let called = false
    expect(latch.request(() => (called = true))).toBe(true)
    expect(called).toBe(false)
    await Promise.resolve()
    expect(called).toBe(true)
  })
})
