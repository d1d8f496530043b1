/** The errno-style `code` of a Node error (`ECONNREFUSED`, `EADDRINUSE`), if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** An error's message, or the value as text, for the sentence of a wrapping `MsError`. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Checks the options every socket transport shares when the transport is
 * made, so a configuration mistake fails there and not on first use.
 * Throws `TypeError` naming the transport.
 */
export function checkSocketOptions(transport: string, options: { connectTimeout?: number; maxConnections?: number }): void {
  const { connectTimeout, maxConnections } = options
  if (connectTimeout !== undefined && !(connectTimeout > 0)) {
    throw new TypeError(`${transport}: connectTimeout must be a positive number of milliseconds, got ${connectTimeout}`)
  }
  if (maxConnections !== undefined && !(Number.isInteger(maxConnections) && maxConnections >= 0)) {
    throw new TypeError(`${transport}: maxConnections must be a non-negative integer, got ${maxConnections}`)
  }
}
