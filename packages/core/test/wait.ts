/**
 * Resolves once `condition()` holds; rejects after `timeout` ms naming
 * `what`. Tests wait on the event they assert about, never a fixed sleep.
 * (The same as @ms/compliance's `waitUntil`, which core cannot depend on.)
 */
export async function waitUntil(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeout) throw new Error(`waited ${timeout} ms for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
