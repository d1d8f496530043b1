import { MsError, StreamError, isMsError, type ByteChannel, type ChannelReader, type ChannelSink } from '@ms/core'
import { BoxEncoder, type BoxDecoder } from './boxstream.js'

/**
 * The handshake and box-stream over a `ByteChannel`, shs's only byte path:
 * no WHATWG streams, no readers or writers, one pair of streams built on
 * top at the end (or none, when the next plugin up takes the channel).
 * Over a connection that offers no channel of its own (WebSockets, the
 * memory transport, a transform written on streams) it runs on the channel
 * `@ms/core`'s `channelOf` bridges over that connection's streams; the
 * compliance and hostile-input suites run over both (`net~shs`, and
 * `mem~shs`/`ws~shs`).
 */

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
export function ciphertextSlab(encoder: Pick<BoxEncoder, 'allocUninitialized'>): (length: number) => Uint8Array {
  let slab: Uint8Array | undefined
  let slabUsed = 0
  let nextSize = FIRST_SLAB
  return (length) => {
    if (length > SLAB / 4) return encoder.allocUninitialized(length)
    if (!slab || slabUsed + length > slab.length) {
      while (nextSize < SLAB && nextSize < 4 * length) nextSize *= 2
      slab = encoder.allocUninitialized(nextSize)
      slabUsed = 0
      if (nextSize < SLAB) nextSize *= 2
    }
    const out = slab.subarray(slabUsed, slabUsed + length)
    slabUsed += length
    return out
  }
}

export interface BoxChannelOptions {
  /** The channel under box-stream (`channelOf(connection)`). */
  inner: ByteChannel
  /** The reader the handshake ran on, which started `inner`; it hands over what came after the handshake. */
  reader: ChannelReader
  decoder: BoxDecoder
  encoder: BoxEncoder
  /** Included in errors. */
  address: string
}

/**
 * Box-stream as a `ByteChannel` over the inner channel: decrypts each chunk
 * as it arrives (plaintext is delivered only after its MAC verified) and
 * encrypts each write into one ciphertext chunk. `end()` sends the goodbye
 * and half-closes the inner channel; over a channel without half-close
 * (Tor) it closes the inner one only once the peer said goodbye too, since
 * closing it earlier would cut off the peer's reply.
 *
 * A corrupt frame, or an end without the goodbye, fails only the reading
 * side (`readError`), and the inner channel stops reading: the writing
 * side stays usable until closed.
 *
 * The transform uses it after the handshake; on its own it runs box-stream
 * with keys agreed elsewhere: `connectionFromChannel(boxChannel(...), ...)`
 * gives it WHATWG streams.
 */
export function boxChannel(options: BoxChannelOptions): ByteChannel {
  return new BoxChannel(options)
}

/** Plaintext per inner write. */
const BATCH = 64 * 4096

class BoxChannel implements ByteChannel {
  readonly closed: Promise<void>
  readonly halfClose = true
  readonly #inner: ByteChannel
  readonly #reader: ChannelReader
  readonly #decoder: BoxDecoder
  readonly #encoder: BoxEncoder
  readonly #address: string
  readonly #take: (length: number) => Uint8Array
  #sink: ChannelSink | undefined
  // Reading: open until the goodbye, a bad frame, the inner end or stopReading.
  #reading = true
  #writingEnded = false
  #peerDone = false
  // Set by end() over a channel without half-close: closes the inner one once the peer is done.
  #afterPeerDone: (() => void) | undefined
  // Made once, not per chunk: where the decoder puts verified plaintext.
  readonly #emit = (plain: Uint8Array): void => this.#sink!.data(plain)

  constructor(options: BoxChannelOptions) {
    this.#inner = options.inner
    this.#reader = options.reader
    this.#decoder = options.decoder
    this.#encoder = options.encoder
    this.#address = options.address
    this.#take = ciphertextSlab(options.encoder)
    this.closed = options.inner.closed
  }

  #markPeerDone(): void {
    if (this.#peerDone) return
    this.#peerDone = true
    this.#afterPeerDone?.()
  }

  /** Ciphertext from the inner channel. */
  onData(chunk: Uint8Array): void {
    if (!this.#reading) return // draining after the goodbye
    const sink = this.#sink!
    const decoder = this.#decoder
    try {
      decoder.pushOwned(chunk, this.#emit)
    } catch (error) {
      this.#reading = false
      this.#markPeerDone()
      this.#inner.stopReading()
      sink.readError(isMsError(error) ? error : new StreamError('shs: box-stream failed', { address: this.#address, cause: error }))
      return
    }
    if (decoder.ended) {
      this.#reading = false
      this.#markPeerDone()
      // Keep the inner channel flowing so that it sees the peer's end and
      // can be released; never stop it, that could tear down our writes.
      this.#inner.resume()
      sink.end()
    }
  }

  onInnerEnd(): void {
    if (!this.#reading) return
    this.#reading = false
    this.#markPeerDone()
    this.#sink!.readError(new StreamError('shs: the connection ended without a goodbye (truncated stream)', { address: this.#address }))
  }

  onInnerDrain(): void {
    this.#sink!.drain()
  }

  onInnerError(error: MsError): void {
    this.#reading = false
    this.#markPeerDone()
    this.#sink!.error(error)
  }

  onInnerReadError(error: MsError): void {
    if (!this.#reading) return
    this.#reading = false
    this.#markPeerDone()
    this.#sink!.readError(error)
  }

  start(sink: ChannelSink): void {
    if (this.#sink) throw new Error('channel already started')
    this.#sink = sink
    this.#reader.handOver(new BoxInnerSink(this))
  }

  pause(): void {
    if (this.#reading) this.#inner.pause()
  }

  resume(): void {
    this.#inner.resume()
  }

  write(chunk: Uint8Array): boolean {
    if (this.#writingEnded) return true
    let ok = true
    // Large writes become one ciphertext chunk per 64 frames.
    for (let offset = 0; offset < chunk.length; offset += BATCH) {
      const part = chunk.subarray(offset, offset + BATCH)
      const boxed = this.#take(BoxEncoder.encodedLength(part.length))
      this.#encoder.encodeInto(boxed, part)
      ok = this.#inner.write(boxed)
    }
    return ok
  }

  end(): Promise<void> {
    if (this.#writingEnded) return Promise.resolve()
    this.#writingEnded = true
    const inner = this.#inner
    inner.write(this.#encoder.goodbye())
    if (!inner.halfClose && !this.#peerDone) {
      // The goodbye told the peer we are done; the inner end waits for its goodbye.
      this.#afterPeerDone = () => void inner.end().catch(() => {})
      return Promise.resolve()
    }
    return inner.end()
  }

  stopReading(): void {
    if (!this.#reading) return
    this.#reading = false
    this.#markPeerDone()
    this.#inner.stopReading()
  }

  destroy(error?: MsError | (() => MsError), reset?: boolean): void {
    if (!reset && !this.#writingEnded) {
      // An orderly close: the peer must see the goodbye (an end), not a
      // stream cut short. After an abort (reset) it must see just that.
      this.#writingEnded = true
      this.#inner.write(this.#encoder.goodbye())
    }
    this.#inner.destroy(error, reset)
  }
}

/** The inner channel's events, routed to the box channel (whose own `end` means something else). */
class BoxInnerSink implements ChannelSink {
  constructor(private readonly box: BoxChannel) {}
  data(chunk: Uint8Array): void {
    this.box.onData(chunk)
  }
  end(): void {
    this.box.onInnerEnd()
  }
  drain(): void {
    this.box.onInnerDrain()
  }
  error(error: MsError): void {
    this.box.onInnerError(error)
  }
  readError(error: MsError): void {
    this.box.onInnerReadError(error)
  }
}
