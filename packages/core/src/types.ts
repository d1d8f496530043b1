import type { ByteChannel } from './channel.js'
import type { Segment } from './address.js'
import type { MsError } from './errors.js'

/**
 * Where an address is meant to be used. `device`: this machine only
 * (loopback, unix sockets). `local`: the local network (private ranges);
 * `private` is an alias for it. `public`: the internet.
 */
export type Scope = 'device' | 'local' | 'private' | 'public'

/** A scope with the `private` alias resolved to `local`. */
export type CanonicalScope = 'device' | 'local' | 'public'

/**
 * What transforms learned about the peer, keyed by transform name. Each
 * transform package adds its key by declaration merging, e.g.
 *
 * ```ts
 * declare module '@ms/core' {
 *   interface ConnectionInfo { shs?: { publicKey: Uint8Array } }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ConnectionInfo {}

/**
 * A bidirectional byte stream to a peer.
 *
 * **Chunks.** A chunk handed to `writable.write()` belongs to the
 * connection from that call on: the writer must not modify it afterwards,
 * not even once the write resolved (a socket may still hold it). The
 * connection in turn never modifies it (a transform encrypts into a
 * buffer of its own). A chunk read from `readable` belongs to the reader,
 * who may keep or modify it (decrypt in place, say): the connection never
 * touches it again. Empty writes are allowed and send nothing.
 *
 * **Ending and tearing down**, and what the peer observes (the same for
 * every transport and transform; the compliance suite checks each line):
 *
 * | we call              | our side                                         | the peer's `readable`                         | the peer's `writable`                                      |
 * | -------------------- | ------------------------------------------------ | --------------------------------------------- | ---------------------------------------------------------- |
 * | `writable.close()`   | resolves once everything written was flushed; `readable` stays open | ends (`done`) after every byte we wrote | unaffected: it may go on writing                          |
 * | `close(reason?)`     | open streams error (`StreamError`, `reason` as cause); `closed` resolves | ends (`done`), like a FIN: an orderly goodbye, not an error | fails with a `StreamError` (at once, or, over TCP, as soon as a write meets the closed socket) |
 * | `writable.abort(r)`  | the whole connection is torn down: `readable` errors too; `closed` resolves | **errors** with a `StreamError`: a cut-short stream never looks finished | fails with a `StreamError`, as after `close()` |
 * | `readable.cancel()`  | nothing more is delivered; `writable` still works | unaffected                                    | writes keep succeeding; their bytes are dropped            |
 *
 * - `close()` does not flush: bytes (or a transform's end marker) still
 *   queued locally may be lost. To deliver everything, `await
 *   writable.close()` first: it resolves once the bytes were handed to the
 *   system (or the transport), then `close()`. Likewise TCP itself
 *   resets a connection closed while bytes from the peer sit unread in the
 *   kernel, so a peer that is still sending to us may see an error instead
 *   of the end.
 * - After `readable.cancel()`, once our writable is done too (closed or
 *   aborted) the connection is released as after `close()`.
 * - `readable` errors (never just ends) when the connection breaks, or the
 *   peer aborted: only an orderly end by the peer ends it.
 * - The one thing no framing-free transport can carry is an abort over a
 *   link that only knows an end: a unix socket or a Tor stream has no
 *   reset, so there a raw `writable.abort()` reaches the peer as an end.
 *   Transforms with an end marker of their own (shs's goodbye) restore the
 *   difference: over them an abort is again an error at the peer.
 * - With `halfClose: false` (Tor), `writable.close()` ends both directions.
 */
export interface Connection {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
  /**
   * The full address of the other end as seen from here, transport first,
   * then one segment per transform, e.g. `net:127.0.0.1:51234~shs:<key>`.
   */
  readonly remoteAddress: string
  /** `outbound` for connections we dialled, `inbound` for accepted ones. */
  readonly direction: 'inbound' | 'outbound'
  /** What transforms learned, keyed by transform name. */
  readonly info: ConnectionInfo
  /**
   * Tears down both directions (an orderly goodbye for the peer: its
   * readable ends; see the table above); resolves once the resource is
   * released. Idempotent; never rejects. `reason` is the cause of the
   * errors our own open streams get.
   */
  close(reason?: unknown): Promise<void>
  /** Resolves once the underlying resource is released, for any reason. Never rejects. */
  readonly closed: Promise<void>
  /**
   * `false` when this connection cannot carry a half-close: closing
   * `writable` ends both directions (Tor streams do this). Transforms with
   * an in-band end of their own (shs's goodbye) then close the inner
   * writable only once the peer has ended too. Absent means `true`.
   */
  readonly halfClose?: boolean
  /**
   * Optional fast path: hands the bytes below this connection's streams to
   * a transform that can work on them directly (see `ByteChannel`), so no
   * WHATWG streams are built for this layer. Returns `undefined` once
   * `readable` or `writable` was used (then use those); after it returned a
   * channel, this connection's streams are gone (their getters throw) and
   * the transform's connection replaces it. `close()` and `closed` keep
   * working either way. Transports over Node sockets provide it.
   */
  takeChannel?(): ByteChannel | undefined
}

/** Options every dial receives. Transports must honour `signal`. */
export interface DialOptions {
  /**
   * When aborted, the dial rejects with the signal's reason (an `AbortError`
   * or `TimeoutError` from `@ms/core`) and leaves no socket or timer behind.
   */
  signal?: AbortSignal
}

/** Options every listen receives. */
export interface ListenOptions {
  /** Aborting it is the same as closing the listener. */
  signal?: AbortSignal
  /** Errors that concern one accepted connection, never the listener. */
  onError?: (error: MsError) => void
}

/** A running listener of one transport. */
export interface TransportListener {
  /**
   * The transport segments this listener advertises in `scope`, with the
   * port actually bound. Empty when the listener is not meant for that scope.
   */
  addresses(scope: CanonicalScope): Segment[]
  /**
   * Stops accepting and releases the listening resource. Accepted
   * connections are not touched: the MultiServer owns and closes them.
   * Idempotent.
   */
  close(): Promise<void>
}

/**
 * A transport moves bytes: TCP, unix sockets, WebSockets, Tor. It parses its
 * own address segment, dials, and optionally listens.
 */
export interface Transport<Options = unknown> {
  /** The protocol name, e.g. `net`. Used in suite names (`net~shs`). */
  readonly name: string
  /**
   * Parses a segment (e.g. `{ name: 'net', data: ['host', '8008'] }`) into
   * dial options, or returns `null` when the segment is not this transport's
   * or is malformed. Never throws.
   */
  parse(segment: Segment): Options | null
  /** The segment for dial options: `parse(stringify(o))` gives `o` back. */
  stringify?(options: Options): Segment
  /** Opens a connection. Errors are `MsError`s carrying the address. */
  dial(options: Options, dialOptions: DialOptions): Promise<Connection>
  /**
   * Starts accepting connections; resolves once ready. Absent on dial-only
   * transports. Each accepted connection is handed to `onConnection`.
   */
  listen?(onConnection: (connection: Connection) => void, options: ListenOptions): Promise<TransportListener>
  /**
   * The segments a listener of this transport would advertise in `scope`,
   * known from the transport's options alone, before (or without) `listen`:
   * a MultiServer advertises them while it is not listening, so an address
   * can be built at start-up. Empty when they are only known once bound (a
   * port chosen by the OS, a temporary socket path) or the transport is not
   * meant for `scope`. Absent: nothing is advertised before listening.
   */
  configuredAddresses?(scope: CanonicalScope): Segment[]
}

/** Options every upgrade receives. Transforms must honour `signal`. */
export interface UpgradeOptions {
  /** Aborted when the dial is abandoned or the listener closes (or sheds this handshake under load). */
  signal?: AbortSignal
  /**
   * Inbound only, optional to call: the peer just made progress (a
   * handshake message arrived and verified). When more handshakes are
   * pending than the listener allows, it sheds the one idle the longest,
   * so a transform that reports progress keeps its live peers ahead of
   * connections that send nothing.
   */
  onProgress?: () => void
}

/**
 * A transform wraps a connection in another protocol: encryption,
 * authentication, compression. It sees bytes, never sockets.
 *
 * Upgrades resolve to a new `Connection` (build it with `wrapConnection`,
 * which forwards what follows) that:
 *
 * - has the inner `remoteAddress` with this transform's segment appended
 *   (`appendSegment`), on both ends;
 * - adds this transform's key to the inner `info`, keeps `direction`;
 * - keeps the inner `halfClose`, unless it carries an end of its own;
 * - passes `close()` on to the inner connection and resolves `closed`
 *   with it;
 * - makes its streams behave as the `Connection` table says: in
 *   particular its `writable.abort()` must abort the inner connection
 *   (not just stop), cutting short a write the inner one holds back
 *   (`writeOrAbort`), and its `writable.close()` must end the inner one
 *   (or send the transform's own end marker);
 * - offers `takeChannel` only if it leaves the bytes untouched (then it
 *   forwards the inner one) or runs on a channel of its own.
 *
 * Upgrades honour `signal`: already aborted, or aborted before the upgrade
 * resolved, they reject with the signal's reason (an `AbortError` or
 * `TimeoutError`) and leave no timer or listener behind. When an upgrade
 * rejects, the caller closes the inner connection; the transform need not.
 */
export interface Transform<Options = unknown> {
  /** The segment name, e.g. `shs`. */
  readonly name: string
  /** Parses this transform's segment for dialling, or `null`. Never throws. */
  parse(segment: Segment): Options | null
  /** The segment advertised after our transport address, e.g. `shs:<our key>`. */
  advertise(scope: CanonicalScope): Segment
  /** Upgrades a connection we dialled. */
  upgradeOutbound(connection: Connection, options: Options, upgradeOptions: UpgradeOptions): Promise<Connection>
  /**
   * Upgrades a connection we accepted: the transport's connection (or the
   * transform below's result), with `direction: 'inbound'` and the
   * peer's address as the transport saw it. No dial options: what the
   * client dialled is learned in the handshake, if at all.
   */
  upgradeInbound(connection: Connection, upgradeOptions: UpgradeOptions): Promise<Connection>
}

/** A transport followed by the transforms stacked on it, e.g. `[net(), shs()]`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Suite = readonly [Transport<any>, ...Transform<any>[]]
