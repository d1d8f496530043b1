import { DialError, ListenError } from '@ms/core'

/** One proxy of the list that could not be reached, and why. */
export interface ProxyAttempt {
  /** `host:port` of the proxy. */
  proxy: string
  error: unknown
}

/**
 * No SOCKS proxy of the list accepted a TCP connection: Tor is not running,
 * or runs on other ports. `code` is `ENOPROXY`; `attempts` has one entry
 * per proxy, in the order they were tried.
 */
export class ProxyUnreachableError extends DialError {
  readonly attempts: ProxyAttempt[]
  constructor(address: string, attempts: ProxyAttempt[]) {
    const tried = attempts.map((a) => `${a.proxy} (${describe(a.error)})`).join(', ')
    super(`no SOCKS proxy reachable (tried ${tried}); is Tor running? Set the onion transport's \`socks\` option to its SocksPort`, {
      address,
      code: 'ENOPROXY',
      cause: attempts[attempts.length - 1]?.error,
    })
    this.attempts = attempts
  }
}

/**
 * What a SOCKS5 reply code means, as a stable `code` and a sentence.
 * 0x01-0x08 are RFC 1928's; 0xF0-0xF7 are Tor's extended errors for onion
 * services (sent when the SocksPort has the `ExtendedErrors` flag, see
 * tor's socks-extensions.txt).
 */
export const SOCKS_REPLIES: Readonly<Record<number, { code: string; message: string }>> = {
  0x01: { code: 'SOCKS_GENERAL_FAILURE', message: 'general SOCKS server failure (for an onion service: it was reached, but nothing accepted the connection on that port)' },
  0x02: { code: 'SOCKS_NOT_ALLOWED', message: 'connection not allowed by the proxy ruleset' },
  0x03: { code: 'SOCKS_NETWORK_UNREACHABLE', message: 'network unreachable' },
  0x04: { code: 'SOCKS_HOST_UNREACHABLE', message: 'host unreachable' },
  0x05: { code: 'SOCKS_CONNECTION_REFUSED', message: 'connection refused by the destination' },
  0x06: { code: 'SOCKS_TTL_EXPIRED', message: 'TTL expired (for Tor: the circuit or the stream timed out)' },
  0x07: { code: 'SOCKS_COMMAND_NOT_SUPPORTED', message: 'command not supported by the proxy' },
  0x08: { code: 'SOCKS_ADDRESS_TYPE_NOT_SUPPORTED', message: 'address type not supported by the proxy' },
  0xf0: { code: 'ONION_DESCRIPTOR_NOT_FOUND', message: 'onion service descriptor not found: the service is offline, not published yet, or never existed' },
  0xf1: { code: 'ONION_DESCRIPTOR_INVALID', message: 'onion service descriptor is invalid' },
  0xf2: { code: 'ONION_INTRO_FAILED', message: "could not reach any of the onion service's introduction points" },
  0xf3: { code: 'ONION_RENDEZVOUS_FAILED', message: 'the rendezvous with the onion service failed' },
  0xf4: { code: 'ONION_MISSING_CLIENT_AUTH', message: 'the onion service requires client authorization, and Tor has none for it' },
  0xf5: { code: 'ONION_WRONG_CLIENT_AUTH', message: "the onion service rejected Tor's client authorization" },
  0xf6: { code: 'ONION_INVALID_ADDRESS', message: 'invalid onion address' },
  0xf7: { code: 'ONION_INTRO_TIMEOUT', message: "timed out reaching the onion service's introduction points" },
}

/**
 * The proxy answered the CONNECT with a failure. `reply` is the raw SOCKS5
 * reply byte; `code` its translation from {@link SOCKS_REPLIES}
 * (`SOCKS_REPLY_0x..` for codes nobody defined).
 */
export class SocksReplyError extends DialError {
  readonly reply: number
  /** The proxy that answered, `host:port`. */
  readonly proxy: string
  constructor(reply: number, options: { address: string; proxy: string }) {
    const known = SOCKS_REPLIES[reply]
    const hex = `0x${reply.toString(16).padStart(2, '0')}`
    super(`SOCKS proxy ${options.proxy} refused ${options.address}: ${known?.message ?? 'unknown reply'} (reply ${hex})`, {
      address: options.address,
      code: known?.code ?? `SOCKS_REPLY_${hex}`,
    })
    this.reply = reply
    this.proxy = options.proxy
  }
}

/**
 * The proxy did not speak SOCKS5 the way we expect: wrong version, no
 * acceptable authentication method, rejected credentials, or it closed the
 * connection mid-handshake. `code` is `SOCKS_PROTOCOL`,
 * `SOCKS_AUTH_METHOD` or `SOCKS_AUTH_FAILED`.
 */
export class SocksProtocolError extends DialError {
  readonly proxy: string
  constructor(message: string, options: { address: string; proxy: string; code: string; cause?: unknown }) {
    super(`SOCKS proxy ${options.proxy}: ${message}`, options)
    this.proxy = options.proxy
  }
}

/**
 * Publishing an onion service through the Tor control port failed.
 * `code` is one of `TOR_CONTROL_UNREACHABLE`, `TOR_CONTROL_CLOSED`,
 * `TOR_AUTH` (authentication refused or impossible), `TOR_COLLISION` (the
 * onion service already exists, e.g. another process publishes the same
 * key) or `TOR_<status>` for any other failure reply; `status` is the
 * reply's three-digit status when Tor sent one.
 */
export class TorControlError extends ListenError {
  readonly status: number | undefined
  constructor(message: string, options: { address?: string; code: string; status?: number; cause?: unknown }) {
    super(message, options)
    this.status = options.status
  }
}

function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code
  return error instanceof Error ? error.message : String(error)
}
