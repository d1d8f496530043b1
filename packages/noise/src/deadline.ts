import { TimeoutError, abortReason } from '@ms/core'

/**
 * The handshake's time budget and the caller's signal as one small object:
 * a timer and at most one listener, where an AbortController linked to the
 * caller's signal plus one race per step would cost several objects and
 * listeners per message. `dispose()` clears both; always call it.
 */
export class Deadline {
  aborted = false
  /** Why it aborted: a `TimeoutError`, or the caller's reason as an `MsError`. */
  reason: unknown
  readonly #waiters = new Set<(reason: unknown) => void>()
  readonly #timer: ReturnType<typeof setTimeout> | undefined
  readonly #parent: AbortSignal | undefined
  readonly #onParentAbort: (() => void) | undefined

  constructor(parent: AbortSignal | undefined, timeout: number, address: string, what: string) {
    if (parent?.aborted) {
      this.#abort(abortReason(parent, address))
      return
    }
    this.#timer = setTimeout(() => this.#abort(new TimeoutError(timeout, { address, what })), timeout)
    // A pending handshake timeout must never keep a process alive on its own.
    ;(this.#timer as { unref?: () => void }).unref?.()
    if (parent) {
      this.#parent = parent
      this.#onParentAbort = () => this.#abort(abortReason(parent, address))
      parent.addEventListener('abort', this.#onParentAbort, { once: true })
    }
  }

  #abort(reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    for (const waiter of this.#waiters) waiter(reason)
    this.#waiters.clear()
    this.dispose()
  }

  /** Calls `listener` with the reason if the deadline passes or the caller aborts before `dispose`. */
  onAbort(listener: (reason: unknown) => void): void {
    if (this.aborted) listener(this.reason)
    else this.#waiters.add(listener)
  }

  /** Settles like `promise`, or rejects with the reason once aborted, whichever comes first. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.aborted) return Promise.reject(this.reason)
    return new Promise<T>((resolve, reject) => {
      this.#waiters.add(reject)
      promise.then(
        (value) => {
          this.#waiters.delete(reject)
          resolve(value)
        },
        (error: unknown) => {
          this.#waiters.delete(reject)
          reject(error)
        },
      )
    })
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    if (this.#onParentAbort) this.#parent!.removeEventListener('abort', this.#onParentAbort)
  }
}
