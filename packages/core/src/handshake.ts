import { HandshakeError, TimeoutError, isMsError } from './errors.js'
import { channelOf } from './bridge.js'
import { toBase64 } from './bytes.js'
import type { ByteChannel } from './channel.js'
import { ChannelReader } from './reader.js'
import { Deadline } from './signal.js'
import type { Connection } from './types.js'

/** What a handshake step runs on (see `channelHandshake`). */
export interface HandshakeIo {
  /**
   * Exactly `n` bytes from the peer. A peer that hangs up first fails with
   * `HandshakeError` (`stage`, and the hint for this direction and stage);
   * the timeout or the caller's abort keeps its type (`TimeoutError`,
   * `AbortError`).
   */
  read(n: number, stage: string): Promise<Uint8Array>
  /**
   * Queues bytes for the peer. Handshake messages are small: the channel
   * takes them at once, and a failed write shows as the failure of the
   * next read.
   */
  write(bytes: Uint8Array): void
  /** `promise`, or the deadline's reason once it passes first (for steps other than reads). */
  race<T>(promise: Promise<T>): Promise<T>
  /** The time is up or the caller aborted. */
  readonly aborted: boolean
  /**
   * Server side: asks `authorize(key)` (under the deadline) whether the
   * client may connect. Resolves to its truthy result; a falsy result or a
   * throw is `HandshakeError` with stage `authorize`.
   */
  authorize(authorize: Authorize, key: Uint8Array, address: string): Promise<unknown>
}

export interface ChannelHandshakeOptions {
  /** The protocol, in errors (`shs`, `noise`). */
  name: string
  direction: 'inbound' | 'outbound'
  /** Included in errors. */
  address: string
  /** Milliseconds for the whole handshake. */
  timeout: number
  /** The caller's signal (`UpgradeOptions.signal`). */
  signal?: AbortSignal
  /**
   * What it means when the peer hangs up while we wait for a stage, by
   * `'<direction>:<stage>'` (`'outbound:msg2': 'the server hung up after
   * msg1: wrong server key'`). Default: "the connection ended during <stage>".
   */
  hints?: Readonly<Record<string, string>>
}

/** A server's decision on a client, by its public key: truthy (kept as its authorization, possibly a promise of one) accepts. */
export type Authorize = (remotePublicKey: Uint8Array) => unknown

const acceptAll: Authorize = () => true

/**
 * The options every key-authenticated handshake transform takes and checks
 * alike: `authorize` (default: accept every client that completed the
 * handshake) and `timeout` (milliseconds for the whole handshake, default
 * 5000). Throws `TypeError`, naming the transform, on a wrong type.
 */
export function handshakeOptions(name: string, options: { authorize?: Authorize; timeout?: number }): { authorize: Authorize; timeout: number } {
  const authorize = options.authorize ?? acceptAll
  if (typeof authorize !== 'function') throw new TypeError(`${name}: authorize must be a function`)
  const timeout = options.timeout ?? 5000
  if (typeof timeout !== 'number' || !(timeout > 0)) throw new TypeError(`${name}: timeout must be a positive number of milliseconds, got ${String(timeout)}`)
  return { authorize, timeout }
}

export interface ChannelHandshake<T> {
  /** What the handshake returned. */
  result: T
  /** The inner connection's channel (`channelOf`), started. */
  channel: ByteChannel
  /** The reader the handshake ran on: `handOver` gives the bytes after the handshake to the next layer (`sealedChannel` does). */
  reader: ChannelReader
}

/**
 * The scaffolding of a channel transform's handshake, dial and accept
 * alike: takes the inner connection's channel (`channelOf`), runs
 * `handshake` on it under one deadline (the timeout and the caller's
 * signal; one listener for the whole handshake, not one race per step),
 * and stages its errors: every failure is an `MsError` (a `HandshakeError`
 * naming the stage, or the deadline's `TimeoutError`/`AbortError` saying
 * where it was). On failure the inner connection is left to the caller
 * (the `Transform` contract says it closes it); a server that failed has
 * written nothing after the failing step. Browser-safe.
 *
 * ```ts
 * const { result, channel, reader } = await channelHandshake(connection, { name: 'x', direction: 'outbound', address, timeout, signal }, async (io) => {
 *   io.write(hello)
 *   return verify(await io.read(64, 'reply'))
 * })
 * return connectionFromChannel(sealedChannel({ inner: channel, reader, ... }), { ... })
 * ```
 */
export async function channelHandshake<T>(
  connection: Connection,
  options: ChannelHandshakeOptions,
  handshake: (io: HandshakeIo) => Promise<T>,
): Promise<ChannelHandshake<T>> {
  const { name, address } = options
  const deadline = new Deadline({ signal: options.signal, timeout: options.timeout, address, what: `${name} handshake` })
  try {
    if (deadline.aborted) throw deadline.reason
    const channel = channelOf(connection)
    const reader = new ChannelReader(channel, { address })
    deadline.onAbort((reason) => reader.abort(reason))
    const io = new Io(channel, reader, deadline, options)
    const result = await handshake(io)
    return { result, channel, reader }
  } catch (error) {
    // Nothing may wait on a half-done handshake; the caller closes the connection.
    throw isMsError(error) ? error : new HandshakeError(`${name}: handshake failed`, { address, cause: error })
  } finally {
    deadline.dispose()
  }
}

class Io implements HandshakeIo {
  constructor(
    readonly channel: ByteChannel,
    readonly reader: ChannelReader,
    readonly deadline: Deadline,
    readonly options: ChannelHandshakeOptions,
  ) {}

  get aborted(): boolean {
    return this.deadline.aborted
  }

  read(n: number, stage: string): Promise<Uint8Array> {
    return this.reader.readExactly(n).catch((error: unknown) => {
      throw this.#describe(error, stage)
    })
  }

  write(bytes: Uint8Array): void {
    this.channel.write(bytes)
  }

  race<T>(promise: Promise<T>): Promise<T> {
    return this.deadline.race(promise)
  }

  async authorize(authorize: Authorize, key: Uint8Array, address: string): Promise<unknown> {
    const name = this.options.name
    const id = toBase64(key)
    let authorization: unknown
    try {
      authorization = await this.deadline.race(Promise.resolve().then(() => authorize(key)))
    } catch (error) {
      if (isMsError(error) && this.deadline.aborted) throw error
      throw new HandshakeError(`${name}: authorize threw; client rejected`, { stage: 'authorize', address, cause: error })
    }
    if (!authorization) throw new HandshakeError(`${name}: client ${id} not authorized`, { stage: 'authorize', address })
    return authorization
  }

  #describe(error: unknown, stage: string): unknown {
    const { name, direction, address, hints } = this.options
    // The timeout or the caller's abort: keep its type (TimeoutError/AbortError) and say where we were.
    if (this.deadline.aborted) {
      if (isMsError(error, 'TimeoutError')) {
        return new TimeoutError(error.timeout, { address, what: `${name} handshake (${direction}, during ${stage})`, cause: error })
      }
      return error
    }
    if (isMsError(error, 'StreamError')) {
      const hint = hints?.[`${direction}:${stage}`] ?? `the connection ended during ${stage}`
      return new HandshakeError(`${name}: ${hint}`, { stage, address, cause: error })
    }
    if (isMsError(error, 'HandshakeError')) return error
    return new HandshakeError(`${name}: connection failed during ${stage}`, { stage, address, cause: error })
  }
}
