import type { Transport, TransportListener } from '@ms/core'

/**
 * The transport with its running listener recorded, so a plugin can read
 * the port the OS chose. The returned transport behaves like the original.
 */
export function recording<T extends Transport<unknown>>(transport: T, onListener: (listener: TransportListener | undefined) => void): T {
  const listen = transport.listen
  if (!listen) return transport
  return {
    ...transport,
    async listen(onConnection, options) {
      const listener = await listen.call(transport, onConnection, options)
      onListener(listener)
      return {
        addresses: (scope) => listener.addresses(scope),
        async close() {
          onListener(undefined)
          await listener.close()
        },
      }
    },
  }
}

/** The port a listener bound, read from the first segment it advertises in any scope. */
export function boundPort(listener: TransportListener | undefined): number | undefined {
  if (!listener) return undefined
  for (const scope of ['device', 'local', 'public'] as const) {
    for (const segment of listener.addresses(scope)) {
      const last = segment.data[segment.data.length - 1] ?? ''
      const port = Number(/(\d+)(?:\/.*)?$/.exec(last)?.[1])
      if (Number.isInteger(port) && port > 0) return port
    }
  }
  return undefined
}
