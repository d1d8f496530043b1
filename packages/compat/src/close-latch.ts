type CloseCallback = (error?: Error | null) => void

/**
 * The bookkeeping behind the close function the original's `server(...)`
 * returns: it may be called any number of times, with or without a
 * callback, before or after the server started; every callback runs once
 * the close is done (on a later microtask if it already is), and only the
 * first call starts closing.
 */
export class CloseLatch {
  /** `close` was called at least once. */
  requested = false
  #done = false
  readonly #waiters: CloseCallback[] = []

  /** Registers `cb` (if any); `true` for the first call only, which must start closing. */
  request(cb?: CloseCallback): boolean {
    if (cb) {
      if (this.#done) queueMicrotask(() => cb(null))
      else this.#waiters.push(cb)
    }
    if (this.requested) return false
    this.requested = true
    return true
  }

  /** The server is closed (or never started): every waiting callback runs now, later ones at once. */
  readonly finish = (): void => {
    this.#done = true
    for (const cb of this.#waiters.splice(0)) cb(null)
  }
}
