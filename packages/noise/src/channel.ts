import { MsError, StreamError, isMsError, type ByteChannel, type ChannelReader, type ChannelSink } from '@ms/core'
import type { SecretStreamDecoder, SecretStreamEncoder } from './secretstream.js'

/**
 * The handshake and secretstream over a \`ByteChannel\`: the inner
 * connection's own channel when it offers one (net, unix, onion), else a
 * channel over its WHATWG streams (`@ms/core`'s `channelOf`). One pair of WHATWG
 * streams is built on top, at the end, only if someone asks for them.
 */

export interface NoiseChannelOptions {
  inner: ByteChannel
  reader: ChannelReader
  decoder: SecretStreamDecoder
  encoder: SecretStreamEncoder
  /** The peer ends its direction with a FINAL message (it said so in the handshake); else only the inner end ends it. */
  peerSendsFinal: boolean
  address: string
}

/**
 * Secretstream as a \`ByteChannel\` over the inner channel: decrypts each
 * chunk as it arrives (plaintext is delivered only after its MAC verified)
 * and encrypts each write into one ciphertext chunk.
 *
 * Ending: between our own peers each direction ends with a FINAL message,
 * so an inner end without it is a truncation (\`readError\`); over a channel
 * without half-close (Tor) the inner channel is closed only once the peer
 * sent its FINAL too, since closing it earlier would cut off the reply. A
 * peer that did not announce FINAL (\`@hyperswarm/secret-stream\`) ends by
 * ending the inner stream, as it does itself.
 *
 * A message that does not verify, or an unexpected end, fails only the
 * reading side (\`readError\`) and stops the inner channel reading: the
 * writing side stays usable until closed.
 */
export function noiseChannel(options: NoiseChannelOptions): ByteChannel {
  return new NoiseChannel(options)
}

/** Plaintext per inner write. */
const BATCH = 256 * 1024

class NoiseChannel implements ByteChannel {
  readonly closed: Promise<void>
  readonly halfClose: boolean
  readonly #inner: ByteChannel
  readonly #reader: ChannelReader
  readonly #decoder: SecretStreamDecoder
  readonly #encoder: SecretStreamEncoder
  readonly #peerSendsFinal: boolean
  readonly #address: string
  #sink: ChannelSink | undefined
  #reading = true
  #writingEnded = false
  #peerDone = false
  #afterPeerDone: (() => void) | undefined
  readonly #emit = (plain: Uint8Array): void => this.#sink!.data(plain)

  constructor(options: NoiseChannelOptions) {
    this.#inner = options.inner
    this.#reader = options.reader
    this.#decoder = options.decoder
    this.#encoder = options.encoder
    this.#peerSendsFinal = options.peerSendsFinal
    this.#address = options.address
    this.closed = options.inner.closed
    // In-band ends give half-close over any inner channel; without them we have only the inner's.
    this.halfClose = options.inner.halfClose || options.peerSendsFinal
  }

  #markPeerDone(): void {
    if (this.#peerDone) return
    this.#peerDone = true
    this.#afterPeerDone?.()
  }

  onData(chunk: Uint8Array): void {
    if (!this.#reading) return // draining after the end
    const sink = this.#sink!
    const decoder = this.#decoder
    try {
      decoder.push(chunk, this.#emit)
    } catch (error) {
      this.#reading = false
      this.#markPeerDone()
      this.#inner.stopReading()
      sink.readError(isMsError(error) ? error : new StreamError('noise: secretstream failed', { address: this.#address, cause: error }))
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
    if (!this.#peerSendsFinal && this.#decoder.atBoundary) {
      this.#sink!.end()
      return
    }
    const why = this.#peerSendsFinal ? 'without its final message' : 'in the middle of a message'
    this.#sink!.readError(new StreamError(`noise: the connection ended ${why} (truncated stream)`, { address: this.#address }))
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
    this.#reader.handOver(new NoiseInnerSink(this))
  }

  pause(): void {
    if (this.#reading) this.#inner.pause()
  }

  resume(): void {
    this.#inner.resume()
  }

  write(chunk: Uint8Array): boolean {
    if (this.#writingEnded) return true
    if (chunk.length === 0) return true
    let ok = true
    for (let offset = 0; offset < chunk.length; offset += BATCH) {
      ok = this.#inner.write(this.#encoder.encode(chunk.subarray(offset, offset + BATCH)))
    }
    return ok
  }

  end(): Promise<void> {
    if (this.#writingEnded) return Promise.resolve()
    this.#writingEnded = true
    const inner = this.#inner
    if (!this.#peerSendsFinal) return inner.end()
    inner.write(this.#encoder.final())
    if (!inner.halfClose && !this.#peerDone) {
      // The FINAL told the peer we are done; the inner end waits for its FINAL.
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
    if (!reset && !this.#writingEnded && this.#peerSendsFinal) {
      // An orderly close: the peer must see the FINAL (an end), not a
      // stream cut short. After an abort (reset) it must see just that.
      this.#writingEnded = true
      this.#inner.write(this.#encoder.final())
    }
    this.#inner.destroy(error, reset)
  }
}

/** The inner channel's events, routed to the noise channel (whose own \`end\` means something else). */
class NoiseInnerSink implements ChannelSink {
  constructor(private readonly channel: NoiseChannel) {}
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
