import {
  HandshakeError,
  appendSegment,
  isLoopback,
  parseAddress,
  throwIfAborted,
  wrapConnection,
  type CanonicalScope,
  type Connection,
  type Segment,
  type Transform,
  type UpgradeOptions,
} from '@ms/core'

declare module '@ms/core' {
  interface ConnectionInfo {
    /** Set by `@ms/noauth`: the peer was not authenticated, only trusted for being local. */
    noauth?: { trusted: true }
  }
}

export interface NoauthOptions {
  /**
   * Accept connections whose transport address is not local (anything but
   * `unix:` or a loopback `net:` address). With it, anyone who can reach the
   * transport is fully trusted, unauthenticated and unencrypted. Only for
   * transports that are local by construction but that this check does not
   * recognise. Default `false`.
   */
  allowNonLocalUnsafe?: boolean
}

const SEGMENT: Segment = { name: 'noauth', data: [] }

/**
 * True when the transport part of `remoteAddress` is a unix socket or a
 * loopback TCP address (`net:127.x.x.x:port`, `net:::1:port`, `net:[::1]:port`).
 */
export function isLocalAddress(remoteAddress: string): boolean {
  let transport: Segment | undefined
  try {
    transport = parseAddress(remoteAddress)[0]
  } catch {
    return false
  }
  if (!transport) return false
  if (transport.name === 'unix') return transport.data.join(':') !== ''
  if (transport.name === 'net' && transport.data.length >= 2) {
    let host = transport.data.slice(0, -1).join(':')
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
    // `localhost` is a name, not an address: a peer's address is always an IP.
    return host.toLowerCase() !== 'localhost' && isLoopback(host)
  }
  return false
}

/**
 * A transform that does no cryptography: it marks a local connection as
 * trusted (`info.noauth = { trusted: true }`), as SSB does with `unix~noauth`
 * for local clients. It refuses connections that are not local unless
 * `allowNonLocalUnsafe` is set.
 */
export function noauth(options: NoauthOptions = {}): Transform<Record<string, never>> {
  const unsafe = options.allowNonLocalUnsafe === true

  async function upgrade(connection: Connection, { signal }: UpgradeOptions = {}): Promise<Connection> {
    const remoteAddress = appendSegment(connection.remoteAddress, SEGMENT)
    throwIfAborted(signal, remoteAddress)
    if (!unsafe && !isLocalAddress(connection.remoteAddress)) {
      throw new HandshakeError(
        `noauth refuses ${connection.remoteAddress}: only unix sockets and loopback addresses may skip authentication (set allowNonLocalUnsafe to override)`,
        { address: connection.remoteAddress, stage: 'local-check' },
      )
    }
    // The bytes pass through untouched: wrapConnection forwards the inner
    // streams lazily, halfClose and the channel (so unix~noauth keeps the
    // fast path for a transform or the bridge above).
    return wrapConnection(connection, { remoteAddress, info: { noauth: { trusted: true } } })
  }

  return {
    name: 'noauth',
    parse(segment: Segment) {
      return segment?.name === 'noauth' && Array.isArray(segment.data) && segment.data.length === 0 ? {} : null
    },
    advertise(_scope: CanonicalScope): Segment {
      return { name: 'noauth', data: [] }
    },
    upgradeOutbound: (connection, _options, upgradeOptions) => upgrade(connection, upgradeOptions),
    upgradeInbound: (connection, upgradeOptions) => upgrade(connection, upgradeOptions),
  }
}

export default noauth
