import { describe, expect, it, vi } from 'vitest'
import { AbortError, Deadline, TimeoutError, linkSignal } from '@ms/core'

const never = () => new Promise<never>(() => {})

describe('Deadline', () => {
  it('rejects a race with TimeoutError once the time is up, naming what and where', async () => {
    const deadline = new Deadline({ timeout: 20, address: 'net:127.0.0.1:1', what: 'connect' })
    const error = await deadline.race(never()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).timeout).toBe(20)
    expect((error as TimeoutError).address).toBe('net:127.0.0.1:1')
    expect((error as Error).message).toBe('connect timed out after 20 ms')
    expect(deadline.aborted).toBe(true)
    expect(deadline.reason).toBe(error)
    expect(deadline.signal.aborted).toBe(true)
    expect(deadline.signal.reason).toBe(error)
  })

  it("aborts with the caller's reason as an AbortError, through race, onAbort and signal alike", async () => {
    const controller = new AbortController()
    const deadline = new Deadline({ signal: controller.signal, timeout: 60_000, address: 'x' })
    const signal = deadline.signal
    const heard: unknown[] = []
    deadline.onAbort((reason) => heard.push(reason))
    const raced = deadline.race(never()).catch((e: unknown) => e)
    controller.abort('stop')
    const error = await raced
    expect(error).toBeInstanceOf(AbortError)
    expect((error as AbortError).address).toBe('x')
    expect((error as AbortError).cause).toBe('stop')
    expect(heard).toEqual([error])
    expect(signal.reason).toBe(error)
  })

  it('is aborted from the start when the signal already is, or the timeout is 0', async () => {
    const pre = new Deadline({ signal: AbortSignal.abort(), timeout: 60_000 })
    expect(pre.aborted).toBe(true)
    await expect(pre.race(Promise.resolve(1))).rejects.toBeInstanceOf(AbortError)
    const zero = new Deadline({ timeout: 0, what: 'dial' })
    expect(zero.aborted).toBe(true)
    await expect(zero.race(Promise.resolve(1))).rejects.toBeInstanceOf(TimeoutError)
    let late: number | undefined
    await zero.race(Promise.resolve(7), (v) => (late = v)).catch(() => {})
    await Promise.resolve()
    expect(late).toBe(7)
  })

  it('settles like the promise while in time, and hands a late result to onLateResult', async () => {
    const deadline = new Deadline({ timeout: 60_000 })
    await expect(deadline.race(Promise.resolve('ok'))).resolves.toBe('ok')
    await expect(deadline.race(Promise.reject(new Error('no')))).rejects.toThrow('no')
    let resolveLate!: (v: string) => void
    const lateResult = new Promise<string>((resolve) => (resolveLate = resolve))
    const gotLate = new Promise<string>((resolve) => void deadline.race(lateResult, resolve).catch(() => {}))
    deadline.abort()
    expect(deadline.reason).toBeInstanceOf(AbortError)
    resolveLate('late')
    expect(await gotLate).toBe('late')
  })

  it('never aborts after dispose: no timer fires and the caller signal is no longer watched', () => {
    vi.useFakeTimers()
    try {
      const controller = new AbortController()
      const deadline = new Deadline({ signal: controller.signal, timeout: 10 })
      deadline.dispose()
      controller.abort()
      vi.advanceTimersByTime(1000)
      expect(vi.getTimerCount()).toBe(0)
      expect(deadline.aborted).toBe(false)
      expect(deadline.signal.aborted).toBe(false)
    } finally {
      vi.useRealTimers()
    }
  })

  it('onAbort returns a remover', () => {
    const deadline = new Deadline()
    const heard: unknown[] = []
    const remove = deadline.onAbort((r) => heard.push(r))
    remove()
    deadline.abort('why')
    expect(heard).toEqual([])
    deadline.onAbort((r) => heard.push(r))
    expect(heard).toEqual(['why'])
  })

  it('rejects a negative or NaN timeout; Infinity means none', () => {
    expect(() => new Deadline({ timeout: -1 })).toThrow(TypeError)
    expect(() => new Deadline({ timeout: Number.NaN })).toThrow(TypeError)
    const forever = new Deadline({ timeout: Infinity })
    expect(forever.aborted).toBe(false)
    forever.dispose()
  })

  it('linkSignal is the same primitive', () => {
    const linked = linkSignal({ timeout: 0 })
    expect(linked).toBeInstanceOf(Deadline)
    expect(linked.signal.reason).toBeInstanceOf(TimeoutError)
  })
})
