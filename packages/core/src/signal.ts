import { AbortError, TimeoutError, abortReason } from './errors.js'

/**
 * One AbortSignal that fires when the caller's signal aborts or a timeout
 * passes, whichever comes first. `dispose()` removes the listener and the
 * timer, so nothing outlives the operation. Always call it.
 */
export interface LinkedSignal {
  readonly signal: AbortSignal
  abort(reason?: unknown): void
  dispose(): void
}

export function linkSignal(options: { signal?: AbortSignal; timeout?: number; address?: string; what?: string } = {}): LinkedSignal {
  const controller = new AbortController()
  const { signal: parent, timeout, address, what } = options
  let timer: ReturnType<typeof setTimeout> | undefined
  const onParentAbort = () => controller.abort(abortReason(parent!, address))
  if (parent) {
    if (parent.aborted) onParentAbort()
    else parent.addEventListener('abort', onParentAbort, { once: true })
  }
  if (timeout !== undefined && timeout !== Infinity && !controller.signal.aborted) {
    if (!(timeout >= 0)) throw new TypeError(`timeout must be a non-negative number of milliseconds, got ${timeout}`)
    if (timeout === 0) {
      // A zero budget is spent already: a 0 ms timer would still let a fast
      // loopback or unix dial win the race and succeed.
      controller.abort(new TimeoutError(timeout, { address, what }))
    } else {
      timer = setTimeout(() => controller.abort(new TimeoutError(timeout, { address, what })), timeout)
      // A pending timeout must never keep a process alive on its own.
      ;(timer as { unref?: () => void }).unref?.()
    }
  }
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason ?? new AbortError(undefined, { address })),
    dispose() {
      if (timer !== undefined) clearTimeout(timer)
      parent?.removeEventListener('abort', onParentAbort)
    },
  }
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
