// A compression transform, written the way a third party would: it imports
// only the public contract of @ms/core (types, errors, appendSegment).
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib'
import {
  HandshakeError,
  LimitError,
  StreamError,
  appendSegment,
  throwIfAborted,
  writeOrAbort,
  type CanonicalScope,
  type Connection,
  type Segment,
  type Transform,
  type UpgradeOptions,
} from '@ms/core'

declare module '@ms/core' {
  interface ConnectionInfo {
    /** Set by the deflate transform: the connection is compressed. */
    deflate?: { level: number }
  }
}

export interface DeflateOptions {
  /** zlib compression level, 0 (none) to 9 (smallest). Default 6. */
  level?: number
  /**
   * Most bytes one received chunk may inflate to. A tiny compressed chunk
   * can expand enormously (a "zip bomb"); past this the connection fails
   * with `LimitError`. Default 64 MiB.
   */
  maxInflate?: number
}

const SEGMENT: Segment = { name: 'deflate', data: [] }

/**
 * A zlib stream driven one chunk at a time: write, then flush with
 * Z_SYNC_FLUSH so the peer can decode everything written so far (an
 * interactive protocol would stall otherwise), then take what came out.
 * The same pattern as `ws`'s permessage-deflate: 'data' events arrive
 * before the flush callback.
 */
class Codec {
  private out: Buffer[] = []
  private size = 0
  private failure: Error | undefined
  /** The one operation in flight (writes are serialised by the streams above us). */
  private pending: { resolve: (bytes: Uint8Array) => void; reject: (error: Error) => void } | undefined

  constructor(
    private readonly z: DeflateRaw | InflateRaw,
    limit: number,
    private readonly address: string,
  ) {
    z.on('data', (chunk: Buffer) => {
      this.size += chunk.byteLength
      if (this.size > limit) return this.fail(new LimitError(`deflate: one chunk inflated to more than ${limit} bytes`, { address }))
      this.out.push(chunk)
    })
    z.on('error', (error: Error) => this.fail(new StreamError(`deflate: corrupt compressed data (${error.message})`, { address, cause: error })))
    // 'end' comes after the last 'data' of the final block.
    z.on('end', () => this.settle())
  }

  private fail(error: Error): void {
    this.failure ??= error
    this.z.destroy()
    const pending = this.pending
    this.pending = undefined
    pending?.reject(this.failure)
  }

  private settle(): void {
    const pending = this.pending
    if (!pending) return
    this.pending = undefined
    if (this.failure) return pending.reject(this.failure)
    const bytes = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out)
    this.out = []
    this.size = 0
    pending.resolve(bytes)
  }

  private start(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      if (this.failure || this.z.destroyed) return reject(this.failure ?? new StreamError('deflate: stream closed', { address: this.address }))
      this.pending = { resolve, reject }
    })
  }

  /** Compresses (or decompresses) one chunk and returns everything it produced. */
  push(chunk: Uint8Array): Promise<Uint8Array> {
    const result = this.start()
    if (this.pending) {
      this.z.write(chunk)
      // The same pattern as ws's permessage-deflate: 'data' events arrive before the flush callback.
      this.z.flush(constants.Z_SYNC_FLUSH, () => this.settle())
    }
    return result
  }

  /** Finishes the stream and returns the final bytes. */
  end(): Promise<Uint8Array> {
    const result = this.start()
    if (this.pending) this.z.end()
    return result
  }

  destroy(): void {
    this.fail(new StreamError('deflate: connection closed', { address: this.address }))
  }
}

function wrap(connection: Connection, level: number, maxInflate: number): Connection {
  const remoteAddress = appendSegment(connection.remoteAddress, SEGMENT)
  const deflater = new Codec(createDeflateRaw({ level }), Infinity, remoteAddress)
  const inflater = new Codec(createInflateRaw(), maxInflate, remoteAddress)
  const writer = connection.writable.getWriter()
  const reader = connection.readable.getReader()

  const writable = new WritableStream<Uint8Array>({
    async write(chunk, controller) {
      const compressed = await deflater.push(chunk)
      // A peer that reads nothing must not hold up an abort (see writeOrAbort).
      if (compressed.byteLength > 0) await writeOrAbort(writer.write(compressed), controller, (reason) => void connection.close(reason))
    },
    async close() {
      const tail = await deflater.end()
      if (tail.byteLength > 0) await writer.write(tail)
      await writer.close()
    },
    async abort(reason) {
      deflater.destroy()
      await writer.abort(reason)
    },
  })

  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Loop until we have something to hand out: a chunk may inflate to nothing yet.
      for (;;) {
        let result: ReadableStreamReadResult<Uint8Array>
        try {
          result = await reader.read()
        } catch (error) {
          inflater.destroy()
          throw error
        }
        if (result.done) {
          try {
            const tail = await inflater.end()
            if (tail.byteLength > 0) controller.enqueue(tail)
          } catch {
            // A peer that half-closed without finishing the deflate stream
            // simply has nothing more to say; what it sent was flushed.
          }
          controller.close()
          return
        }
        let plain: Uint8Array
        try {
          plain = await inflater.push(result.value)
        } catch (error) {
          // Corrupt or oversized input: nothing after it can be trusted.
          void connection.close(error)
          throw error
        }
        if (plain.byteLength > 0) {
          controller.enqueue(plain)
          return
        }
      }
    },
    async cancel(reason) {
      inflater.destroy()
      await reader.cancel(reason)
    },
  })

  // Not tied to `connection.closed`: the socket may be released while
  // received bytes still wait in the readable for us to inflate them.

  return {
    readable,
    writable,
    remoteAddress,
    direction: connection.direction,
    info: { ...connection.info, deflate: { level } },
    close: (reason?: unknown) => {
      deflater.destroy()
      inflater.destroy()
      return connection.close(reason)
    },
    closed: connection.closed,
  }
}

/**
 * The `deflate` transform: compresses each direction with raw DEFLATE
 * (RFC 1951), flushed after every write. Stack it after an encrypting
 * transform (`net~shs~deflate`): encrypted bytes do not compress.
 *
 * No negotiation takes place: both ends agree because the address says
 * `deflate`. Node only (node:zlib).
 */
export function deflate(options: DeflateOptions = {}): Transform<Record<string, never>> {
  const level = options.level ?? 6
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new TypeError(`deflate: level must be an integer from 0 to 9, got ${String(options.level)}`)
  const maxInflate = options.maxInflate ?? 64 * 1024 * 1024
  if (!(maxInflate > 0)) throw new TypeError('deflate: maxInflate must be a positive number of bytes')

  async function upgrade(connection: Connection, { signal }: UpgradeOptions = {}): Promise<Connection> {
    throwIfAborted(signal, connection.remoteAddress)
    try {
      return wrap(connection, level, maxInflate)
    } catch (error) {
      throw new HandshakeError(`deflate: could not set up compression: ${(error as Error).message}`, { address: connection.remoteAddress, stage: 'setup', cause: error })
    }
  }

  return {
    name: 'deflate',
    parse: (segment) => (segment?.name === 'deflate' && Array.isArray(segment.data) && segment.data.length === 0 ? {} : null),
    advertise: (_scope: CanonicalScope) => ({ name: 'deflate', data: [] }),
    upgradeOutbound: (connection, _options, upgradeOptions) => upgrade(connection, upgradeOptions),
    upgradeInbound: (connection, upgradeOptions) => upgrade(connection, upgradeOptions),
  }
}
