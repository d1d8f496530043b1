import { appendSegment, type Segment } from './address.js'
import type { Connection, ConnectionInfo } from './types.js'

interface WrapCommon {
  /**
   * The transform's readable (what the application reads). Absent: the
   * inner connection's, untouched (and built only when first used).
   */
  readable?: ReadableStream<Uint8Array>
  /** The transform's writable. Absent: the inner connection's, untouched. */
  writable?: WritableStream<Uint8Array>
  /** What this transform learned, merged over the inner connection's `info`. */
  info?: ConnectionInfo
  /**
   * Replaces `close()` when the transform must do something first (say a
   * goodbye of its own); it must still close the inner connection.
   * Default: the inner connection's `close`.
   */
  close?: (reason?: unknown) => Promise<void>
  /**
   * Default: the inner connection's. Set `true` only when the transform
   * carries its own end in band and so gives the layers above a half-close
   * that the inner connection lacks (shs's goodbye over Tor).
   */
  halfClose?: boolean
}

/** How the wrapped connection's address is made: usually the transform's segment. */
export type WrapOptions = WrapCommon &
  (
    | {
        /** This transform's segment; the result's `remoteAddress` is the inner one with it appended. */
        segment: Segment
        remoteAddress?: never
      }
    | {
        /** The whole address, when the transform built it itself (it must end with its segment). */
        remoteAddress: string
        segment?: never
      }
  )

/**
 * The connection a transform returns: `inner` with the transform's streams,
 * address and info, forwarding everything else a wrapper must pass on, so
 * that none of it is forgotten:
 *
 * - `remoteAddress`: the inner one with `segment` appended;
 * - `direction`, `closed`, and `close()` (which reaches the inner connection);
 * - `info`: the inner connection's, plus `options.info`;
 * - `halfClose`: the inner connection's (a Tor stream stays `false`);
 * - `takeChannel`: forwarded when the transform passes both streams through
 *   untouched (it looks at the bytes not at all, as noauth), so a transform
 *   above, or the bridge in `@ms/core`, still gets the fast path; absent
 *   when the transform has streams of its own (their bytes differ from the
 *   channel's).
 *
 * ```ts
 * return wrapConnection(inner, { segment: { name: 'rot13', data: [] }, readable, writable })
 * ```
 */
export function wrapConnection(inner: Connection, options: WrapOptions): Connection {
  const remoteAddress = options.remoteAddress ?? appendSegment(inner.remoteAddress, options.segment!)
  const info = options.info ? { ...inner.info, ...options.info } : inner.info
  const close = options.close ?? ((reason?: unknown) => inner.close(reason))
  const { readable, writable } = options
  const connection: Connection = {
    // Getters: a pass-through must not build the inner streams before they
    // are used (that would rule out the channel).
    get readable() {
      return readable ?? inner.readable
    },
    get writable() {
      return writable ?? inner.writable
    },
    remoteAddress,
    direction: inner.direction,
    info,
    close,
    closed: inner.closed,
  }
  const halfClose = options.halfClose ?? inner.halfClose
  if (halfClose !== undefined) Object.defineProperty(connection, 'halfClose', { value: halfClose, enumerable: true })
  if (!readable && !writable && inner.takeChannel) {
    const take = inner.takeChannel.bind(inner)
    Object.defineProperty(connection, 'takeChannel', { value: take, enumerable: true })
  }
  return connection
}
