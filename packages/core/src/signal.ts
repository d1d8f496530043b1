import { AbortError, TimeoutError, abortReason } from './errors.js'

export interface DeadlineOptions {
  /** The caller's signal: its abort aborts the deadline (as an `MsError`). */
  signal?: AbortSignal
  /** Milliseconds from now; `undefined` or `Infinity` for none, `0` for already passed. */
  timeout?: number
  /** Carried by the errors it makes. */
  address?: string
  /** What timed out, for the `TimeoutError`'s message (`connect`, `shs handshake`, ...). */
  what?: string
}

/**
 * The one time budget of an operation: aborts when the caller's signal
 * does or when `timeout` passes, whichever comes first, with the reason as
 * an `MsError` (`TimeoutError`, or the caller's reason through
 * `abortReason`). Use it as a signal (`deadline.signal`, for APIs that take
 * one), as a race (`deadline.race(step)`, rejects with the reason), or as a
 * callback (`deadline.onAbort(fn)`). The signal is built only when asked
 * for: a handshake that only races its steps costs one timer and at most one
 * listener on the caller's signal. `dispose()` clears both, so nothing
 * outlives the operation; always call it (a `finally`).
 *
 * ```ts
 * const deadline = new Deadline({ signal, timeout: 5000, address, what: 'connect' })
 * try { return await deadline.race(connect()) } finally { deadline.dispose() }
 * ```
 */
export class Deadline {
  readonly address: string | undefined
  #aborted = false
  #reason: unknown
  #waiters: Set<(reason: unknown) => void> | undefined
  #controller: AbortController | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #parent: AbortSignal | undefined
  #onParentAbort: (() => void) | undefined

  constructor(options: DeadlineOptions = {}) {
    const { signal: parent, timeout, address, what } = options
    this.address = address
    if (timeout !== undefined && !(timeout >= 0)) {
      throw new TypeError(`timeout must be a non-negative number of milliseconds, got ${timeout}`)
    }
    if (parent?.aborted) {
      this.#abort(abortReason(parent, address))
      return
    }
    if (timeout === 0) {
      // A zero budget is spent already: a 0 ms timer would still let a fast
      // loopback or unix dial win the race and succeed.
      this.#abort(new TimeoutError(timeout, { address, what }))
      return
    }
    if (timeout !== undefined && timeout !== Infinity) {
      this.#timer = setTimeout(() => this.#abort(new TimeoutError(timeout, { address, what })), timeout)
      // A pending timeout must never keep a process alive on its own.
      ;(this.#timer as { unref?: () => void }).unref?.()
    }
    if (parent) {
      this.#parent = parent
      this.#onParentAbort = () => this.#abort(abortReason(parent, address))
      parent.addEventListener('abort', this.#onParentAbort, { once: true })
    }
  }

  /** Whether the time is up or the caller aborted. */
  get aborted(): boolean {
    return this.#aborted
  }

  /** Why it aborted (an `MsError`); `undefined` while it has not. */
  get reason(): unknown {
    return this.#reason
  }

  /** An AbortSignal that aborts with the deadline (made on first use). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  /** Aborts now; `reason` defaults to an `AbortError` carrying the address. */
  abort(reason?: unknown): void {
    this.#abort(reason ?? new AbortError(undefined, { address: this.address }))
  }

  #abort(reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.dispose()
    this.#controller?.abort(reason)
    const waiters = this.#waiters
    this.#waiters = undefined
    if (waiters) for (const waiter of waiters) waiter(reason)
  }

  /**
   * Calls `listener` with the reason once the deadline aborts (at once if it
   * has). Returns a function that removes the listener.
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.#aborted) {
      listener(this.#reason)
      return () => {}
    }
    ;(this.#waiters ??= new Set()).add(listener)
    return () => void this.#waiters?.delete(listener)
  }

  /**
   * Settles like `promise`, or rejects with the reason once the deadline
   * aborts, whichever comes first. A result that arrives after the abort
   * goes to `onLateResult` (to close a socket that connected after all).
   */
  race<T>(promise: Promise<T>, onLateResult?: (value: T) => void): Promise<T> {
    if (this.#aborted) {
      if (onLateResult) promise.then(onLateResult, () => {})
      else promise.catch(() => {})
      return Promise.reject(this.#reason)
    }
    return new Promise<T>((resolve, reject) => {
      let lost = false
      const remove = this.onAbort((reason) => {
        lost = true
        reject(reason)
      })
      promise.then(
        (value) => {
          remove()
          if (lost) onLateResult?.(value)
          else resolve(value)
        },
        (error: unknown) => {
          remove()
          reject(error)
        },
      )
    })
  }

  /** Clears the timer and the listener on the caller's signal; the deadline never aborts after this. */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#onParentAbort) this.#parent!.removeEventListener('abort', this.#onParentAbort)
    this.#onParentAbort = undefined
  }
}

/** What `linkSignal` returns: a {@link Deadline}, used through its signal. */
export type LinkedSignal = Deadline

/**
 * One AbortSignal that fires when the caller's signal aborts or a timeout
 * passes, whichever comes first: `new Deadline(options)` under its older
 * name. `dispose()` removes the listener and the timer. Always call it.
 */
export function linkSignal(options: DeadlineOptions = {}): LinkedSignal {
  return new Deadline(options)
}

/** Throws the signal's reason (as an MsError) if it is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, address?: string): void {
  if (signal?.aborted) throw abortReason(signal, address)
}

/**
 * Races a promise against a signal. On abort, rejects at once with the
 * reason and hands a late result to `onLateResult` (to close a socket that
 * connected after all, say) so nothing leaks.
 */
export function raceSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onLateResult?: (value: T) => void,
  address?: string,
): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const onAbort = () => {
      if (settled) return
      settled = true
      reject(abortReason(signal, address))
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        if (settled) onLateResult?.(value)
        else {
          settled = true
          resolve(value)
        }
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        if (!settled) {
          settled = true
          reject(error)
        }
      },
    )
  })
}

/**
 * A signal that aborts when any of `signals` does (like `AbortSignal.any`,
 * which Node 20.0-20.2 lack). Listeners are removed once it fires.
 */
export function anySignal(signals: readonly AbortSignal[]): AbortSignal {
  const controller = new AbortController()
  const onAbort = (event: Event) => {
    for (const s of signals) s.removeEventListener('abort', onAbort)
    controller.abort((event.target as AbortSignal).reason)
  }
  for (const s of signals) {
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
  }
  if (!controller.signal.aborted) for (const s of signals) s.addEventListener('abort', onAbort, { once: true })
  return controller.signal
}

/**
 * For a transform's `WritableStream` sink: settles like `write` (typically
 * the inner writer's write), or, as soon as the stream is aborted, calls
 * `onAbort` (close the inner connection, say) and rejects with the reason.
 * WHATWG `abort()` waits for the write in flight, and that write may wait
 * for a peer that never reads: without this, `writer.abort()` would hang.
 *
 * ```ts
 * write: (chunk, controller) => writeOrAbort(inner.write(encode(chunk)), controller, (r) => void connection.close(r)),
 * ```
 */
export function writeOrAbort(
  write: Promise<void>,
  controller: WritableStreamDefaultController,
  onAbort: (reason: unknown) => void,
): Promise<void> {
  const signal = controller.signal as AbortSignal | undefined
  if (!signal) return write
  return new Promise<void>((resolve, reject) => {
    const abort = () => {
      onAbort(signal.reason)
      reject(signal.reason)
    }
    if (signal.aborted) return abort()
    signal.addEventListener('abort', abort, { once: true })
    write.then(
      () => {
        signal.removeEventListener('abort', abort)
        resolve()
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort)
        reject(error)
      },
    )
  })
}
