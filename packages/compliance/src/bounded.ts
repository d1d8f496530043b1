import { Deadline } from '@ms/core'

/**
 * Bounded waits: every wait in the suite is on an event with its own bound,
 * so that a broken plugin fails in seconds with a message naming the
 * behaviour it lacks, never by the test runner's timeout.
 */

/** A check failed: the message names the behaviour that was missing. */
export class ComplianceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ComplianceError'
  }
}

/** Resolves like `promise`, or rejects with a `ComplianceError` saying `what` did not happen within `ms` (core's Deadline, the one bound). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const deadline = new Deadline({ timeout: ms })
  try {
    return await deadline.race(promise)
  } catch (error) {
    throw deadline.aborted && error === deadline.reason ? new ComplianceError(`${what} (waited ${ms} ms)`) : error
  } finally {
    deadline.dispose()
  }
}

/** How a promise settled, without throwing. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }

export function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

/** Resolves after one macrotask turn: lets I/O callbacks run (not a timing assumption). */
export function turn(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** `true` when `promise` is still pending after `ms` (a probe, e.g. "is this write held back?"). */
export async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ])
  clearTimeout(timer)
  return !settled
}

/** Describes an error for a failure message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}
