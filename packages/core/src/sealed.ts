import { StreamError, isMsError, type MsError } from './errors.js'
import type { ByteChannel, ChannelSink } from './channel.js'
import type { ChannelReader } from './reader.js'

/**
 * The incoming half of a framed cipher (shs's box-stream, noise's
 * secretstream): turns the peer's ciphertext into verified plaintext.
 */
export interface FrameDecoder {
  /**
   * Feeds bytes from the inner channel; the decoder owns `chunk` (it may
   * decrypt in place). Each piece of plaintext goes to `emit`, in order,
   * only after it verified. Throws (an `MsError`, by convention a
   * `StreamError`) on a frame that does not verify or is out of bounds, and
   * on every call after that.
   */
  pushOwned(chunk: Uint8Array, emit: (plain: Uint8Array) => void): void
  /** The peer's end marker arrived: no more plaintext. */
  readonly ended: boolean
  /** The bytes so far end exactly at a frame boundary. */
  readonly atBoundary: boolean
}

/** The outgoing half of a framed cipher. */
export interface FrameEncoder {
  /** The ciphertext size of `length` plaintext bytes. */
  encodedLength(length: number): number
  /** Encrypts `plain` into `out`, which holds `encodedLength(plain.length)` bytes. */
  encodeInto(out: Uint8Array, plain: Uint8Array): number
  /** The in-band end of our direction (a goodbye, a FINAL message); nothing is encoded after it. */
  endMarker(): Uint8Array
  /** Memory that `encodeInto` overwrites completely (uninitialised, where the platform can). Default: `new Uint8Array`. */
  allocUninitialized?(length: number): Uint8Array
}

export interface SealedChannelOptions {
  /** The channel under the cipher (`channelOf(connection)`). */
  inner: ByteChannel
  /** The reader the handshake ran on, which started `inner`; it hands over what came after the handshake. */
  reader: ChannelReader
  decoder: FrameDecoder
  encoder: FrameEncoder
  /** Names the protocol in errors (`shs`, `noise`). */
  name: string
  /**
   * Each direction ends with the encoder's end marker (default `true`), so
   * an inner end without the peer's marker is a truncation, and half-close
   * works over an inner channel without it. `false` (a peer that never
   * sends one): the inner end is the end, when it falls between frames,
   * and we send no marker either.
   */
  endMarker?: boolean
  /** The peer's end marker in errors: "ended without <it>". Default `its end marker`. */
  endMarkerName?: string
  /** Included in errors. */
  address: string
  /** Plaintext per ciphertext chunk handed to the inner channel. Default 256 KiB. */
  batch?: number
}

/**
 * A framed cipher as a `ByteChannel` over the inner channel, after a
 * transform's handshake: decrypts each chunk as it arrives (plaintext is
 * delivered only after it verified) and encrypts each write into one
 * ciphertext chunk (per `batch` of plaintext). shs and noise are this
 * channel with their own coders; so can be any transform written on the
 * channel contract that encrypts in frames.
 *
 * - Ending: `end()` sends the end marker and half-closes the inner
 *   channel; over a channel without half-close (Tor) it closes the inner
 *   one only once the peer's marker arrived too, since closing it earlier
 *   would cut off the peer's reply. `close()` (`destroy` without `reset`)
 *   sends the marker first, so the peer sees an end; an abort (`reset`)
 *   skips it, so the peer sees the stream cut short.
 * - A frame that does not verify, or an inner end without the marker,
 *   fails only the reading side (`readError`) and stops the inner channel
 *   reading: the writing side stays usable until closed.
 *
 * Browser-safe. `connectionFromChannel(sealedChannel(...), ...)` gives it
 * WHATWG streams, or hands it to the next channel plugin up.
 */
export function sealedChannel(options: SealedChannelOptions): ByteChannel {
  return new SealedChannel(options)
}

/** Bytes per ciphertext slab. */
const SLAB = 1024 * 1024
/** The first slab of a connection. */
const FIRST_SLAB = 4096

/**
 * Memory for ciphertext, carved from large slabs and never reused: the
 * inner channel keeps a chunk until it is sent (a socket queues it), and
 * one allocation per slab is far cheaper than one per write. Slabs start
 * small and double up to 1 MiB, so that a connection that only ever sends
 * a few messages does not hold (and make the garbage collector account
 * for) a megabyte.
 */
export function ciphertextSlab(alloc: (length: number) => Uint8Array): (length: number) => Uint8Array {
  const slab = new Slab({ allocUninitialized: alloc })
  return (length) => slab.take(length)
}

// The state of `ciphertextSlab` as one small object: a channel holds one
// per idle connection, where closures and their contexts cost more.
class Slab {
  #slab: Uint8Array | undefined
  #used = 0
  #nextSize = FIRST_SLAB

  // Whose `allocUninitialized` makes the memory (plain zeroed arrays without one).
  constructor(readonly source: { allocUninitialized?(length: number): Uint8Array }) {}

  alloc(length: number): Uint8Array {
    const source = this.source
    return source.allocUninitialized ? source.allocUninitialized(length) : new Uint8Array(length)
  }

  take(length: number): Uint8Array {
    if (length > SLAB / 4) return this.alloc(length)
    let slab = this.#slab
    if (!slab || this.#used + length > slab.length) {
      let nextSize = this.#nextSize
      while (nextSize < SLAB && nextSize < 4 * length) nextSize *= 2
      slab = this.#slab = this.alloc(nextSize)
      this.#used = 0
      this.#nextSize = nextSize < SLAB ? nextSize * 2 : nextSize
    }
    const out = slab.subarray(this.#used, this.#used + length)
    this.#used += length
    return out
  }
}

const BATCH = 256 * 1024

class SealedChannel implements ByteChannel {
  readonly closed: Promise<void>
  readonly halfClose: boolean
  readonly #inner: ByteChannel
  readonly #reader: ChannelReader
  readonly #decoder: FrameDecoder
  readonly #encoder: FrameEncoder
  readonly #endMarker: boolean
  // Only for error messages. Copied out rather than keeping `options`: the
  // caller's object (often a spread) would stay alive with every idle connection.
  readonly #name: string
  readonly #address: string
  readonly #endMarkerName: string
  readonly #batch: number
  readonly #slab: Slab
  #sink: ChannelSink | undefined
  // Reading: open until the end marker, a bad frame, the inner end or stopReading.
  #reading = true
  #writingEnded = false
  #peerDone = false
  // Set by end() over a channel without half-close: closes the inner one once the peer is done.
  #afterPeerDone: (() => void) | undefined
  // Where the decoder puts verified plaintext: made on the first data, not
  // per chunk (and not at all for a connection that stays idle).
  #emit: ((plain: Uint8Array) => void) | undefined

  constructor(options: SealedChannelOptions) {
    this.#name = options.name
    this.#address = options.address
    this.#endMarkerName = options.endMarkerName ?? 'its end marker'
    this.#inner = options.inner
    this.#reader = options.reader
    this.#decoder = options.decoder
    const encoder = (this.#encoder = options.encoder)
    this.#endMarker = options.endMarker ?? true
    this.#batch = options.batch ?? BATCH
    this.#slab = new Slab(encoder)
    this.closed = options.inner.closed
    // In-band ends give half-close over any inner channel; without them we have only the inner's.
    this.halfClose = this.#endMarker || options.inner.halfClose
  }

  #markPeerDone(): void {
    if (this.#peerDone) return
    this.#peerDone = true
    this.#afterPeerDone?.()
  }

  #stop(): boolean {
    if (!this.#reading) return false
    this.#reading = false
    this.#markPeerDone()
    return true
  }

  /** Ciphertext from the inner channel. */
  onData(chunk: Uint8Array): void {
    if (!this.#reading) return // draining after the end
    const sink = this.#sink!
    const decoder = this.#decoder
    try {
      decoder.pushOwned(chunk, (this.#emit ??= (plain: Uint8Array): void => this.#sink!.data(plain)))
    } catch (error) {
      this.#stop()
      this.#inner.stopReading()
      sink.readError(isMsError(error) ? error : new StreamError(`${this.#name}: the peer's data does not decode`, { address: this.#address, cause: error }))
      return
    }
    if (decoder.ended) {
      this.#stop()
      // Keep the inner channel flowing so that it sees the peer's end and
      // can be released; never stop it, that could tear down our writes.
      this.#inner.resume()
      sink.end()
    }
  }

  onInnerEnd(): void {
    if (!this.#stop()) return
    if (!this.#endMarker && this.#decoder.atBoundary) {
      this.#sink!.end()
      return
    }
    const why = this.#endMarker ? `without ${this.#endMarkerName}` : 'in the middle of a frame'
    this.#sink!.readError(new StreamError(`${this.#name}: the connection ended ${why} (truncated stream)`, { address: this.#address }))
  }

  onInnerDrain(): void {
    this.#sink!.drain()
  }

  onInnerError(error: MsError): void {
    this.#stop()
    this.#sink!.error(error)
  }

  onInnerReadError(error: MsError): void {
    if (this.#stop()) this.#sink!.readError(error)
  }

  start(sink: ChannelSink): void {
    if (this.#sink) throw new Error('channel already started')
    this.#sink = sink
    this.#reader.handOver(new InnerSink(this))
  }

  pause(): void {
    if (this.#reading) this.#inner.pause()
  }

  resume(): void {
    this.#inner.resume()
  }

  write(chunk: Uint8Array): boolean {
    if (this.#writingEnded) return true
    const encoder = this.#encoder
    const batch = this.#batch
    let ok = true
    for (let offset = 0; offset < chunk.length; offset += batch) {
      const part = chunk.subarray(offset, offset + batch)
      const sealed = this.#slab.take(encoder.encodedLength(part.length))
      encoder.encodeInto(sealed, part)
      ok = this.#inner.write(sealed)
    }
    return ok
  }

  end(): Promise<void> {
    if (this.#writingEnded) return Promise.resolve()
    this.#writingEnded = true
    const inner = this.#inner
    if (!this.#endMarker) return inner.end()
    inner.write(this.#encoder.endMarker())
    if (!inner.halfClose && !this.#peerDone) {
      // The marker told the peer we are done; the inner end waits for its marker.
      this.#afterPeerDone = () => void inner.end().catch(() => {})
      return Promise.resolve()
    }
    return inner.end()
  }

  stopReading(): void {
    if (this.#stop()) this.#inner.stopReading()
  }

  destroy(error?: MsError | (() => MsError), reset?: boolean): void {
    if (!reset && !this.#writingEnded && this.#endMarker) {
      // An orderly close: the peer must see the end marker (an end), not a
      // stream cut short. After an abort (reset) it must see just that.
      this.#writingEnded = true
      this.#inner.write(this.#encoder.endMarker())
    }
    this.#inner.destroy(error, reset)
  }
}

/** The inner channel's events, routed to the sealed channel (whose own `end` means something else). */
class InnerSink implements ChannelSink {
  constructor(private readonly channel: SealedChannel) {}
  data(chunk: Uint8Array): void {
    this.channel.onData(chunk)
  }
  end(): void {
    this.channel.onInnerEnd()
  }
  drain(): void {
    this.channel.onInnerDrain()
  }
  error(error: MsError): void {
    this.channel.onInnerError(error)
  }
  readError(error: MsError): void {
    this.channel.onInnerReadError(error)
  }
}
