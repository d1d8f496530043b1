/**
 * Counts Node's active handles and requests by type (sockets, servers,
 * timers...). Used to prove that closing everything leaves nothing behind.
 * Outside Node it reports nothing, and the check passes trivially there.
 */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>()
  const info = (globalThis as { process?: { getActiveResourcesInfo?: () => string[] } }).process?.getActiveResourcesInfo?.()
  for (const name of info ?? []) counts.set(name, (counts.get(name) ?? 0) + 1)
  return counts
}

/** Resources that are more numerous now than in `baseline`, e.g. `{ TCPSocketWrap: 2 }`. */
export function leakedSince(baseline: Map<string, number>): Record<string, number> {
  const leaked: Record<string, number> = {}
  for (const [name, count] of activeResources()) {
    const extra = count - (baseline.get(name) ?? 0)
    if (extra > 0) leaked[name] = extra
  }
  return leaked
}

/**
 * Waits (up to `timeout` ms) until nothing is left open beyond `baseline`,
 * then returns what is still open (empty when clean). Closing a socket
 * takes an event-loop turn or two, hence the polling.
 */
export async function waitForNoLeaks(baseline: Map<string, number>, timeout = 2000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeout
  for (;;) {
    const leaked = leakedSince(baseline)
    // The polling timer itself is a Timeout; ignore one of those.
    if (leaked.Timeout) leaked.Timeout -= 1
    if (!leaked.Timeout) delete leaked.Timeout
    if (Object.keys(leaked).length === 0 || Date.now() > deadline) return leaked
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Resolves once `condition()` holds; rejects after `timeout` ms (default
 * 5 s, generous for a loaded machine) with an error naming `what`. For tests
 * that must see something happen (a connection accepted, a peer's close)
 * before asserting, instead of sleeping a fixed time and hoping: it returns
 * as soon as the event happened and fails loudly when it never does.
 */
export async function waitUntil(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeout) throw new Error(`waited ${timeout} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
