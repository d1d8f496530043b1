import { StreamError, isMsError } from '@ms/core'

/**
 * The pull-stream protocol (https://github.com/pull-stream/pull-stream),
 * typed here so this package needs no runtime dependency on it.
 *
 * `end` is falsy for "carry on", `true` for a normal end, an Error for an
 * error end or an abort with a reason.
 */
export type PullEnd = boolean | Error | null | undefined
export type PullCallback<T> = (end: PullEnd, data?: T) => void
/** A readable pull-stream: call it with `(null, cb)` to read, `(true | err, cb)` to abort. */
export type PullSource<T> = (abort: PullEnd, cb: PullCallback<T>) => void
/** A writable pull-stream: it is handed a source and reads from it at its own pace. */
export type PullSink<T> = (read: PullSource<T>) => void

/** What the pull side of a connection carries. Strings are UTF-8 encoded on the way out. */
export type PullChunk = Uint8Array | string

/** A pull-stream duplex, as every original multiserver plugin passes around. */
export interface PullDuplex<In = PullChunk, Out = Uint8Array> {
  source: PullSource<Out>
  sink: PullSink<In>
  /** The (partial) multiserver address, as the original plugins set it. */
  address?: string
}

/**
 * A connection as the original multiserver hands it out: a duplex of
 * Buffers with `address`, and after an authenticating transform `remote`
 * (the peer's public key, a Buffer) and `auth` (on the server, what the
 * authorization callback returned; `undefined` on the client).
 */
export type Bytes = Uint8Array
type BufferCtor = { from(buffer: ArrayBufferLike, byteOffset: number, length: number): Uint8Array; isBuffer(x: unknown): boolean }
// Node's Buffer when there is one (pull-stream code expects `.toString('base64')`
// and friends); plain Uint8Array elsewhere.
const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer

/** A Buffer view of the same bytes, without copying. */
export function asBuffer(bytes: Bytes): Bytes {
  if (!NodeBuffer || NodeBuffer.isBuffer(bytes)) return bytes
  return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const encoder = new TextEncoder()

export function toBytes(data: unknown): Bytes {
  if (data instanceof Uint8Array) return data
  if (typeof data === 'string') return encoder.encode(data)
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  throw new TypeError(`a pull-stream connection carries bytes (Buffer, Uint8Array or string), got ${data === null ? 'null' : typeof data}`)
}

export function toError(reason: unknown, address: string | undefined, what: string): Error {
  if (isMsError(reason)) return reason
  if (reason instanceof Error) return new StreamError(`${what}: ${reason.message}`, { address, cause: reason })
  return new StreamError(`${what}: ${String(reason)}`, { address, cause: reason })
}

/** One direction-pair of a `toPullDuplex` stream, over whatever the connection offers. */
export interface PullBackend {
  source: PullSource<Bytes>
  sink(read: PullSource<PullChunk>): void
}
