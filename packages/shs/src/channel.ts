import { sealedChannel, type ByteChannel, type ChannelReader } from '@ms/core'
import type { BoxDecoder, BoxEncoder } from './boxstream.js'

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
 * Box-stream as a `ByteChannel` over the inner channel: `@ms/core`'s
 * `sealedChannel` with box-stream's coders. It decrypts each chunk as it
 * arrives (plaintext is delivered only after its MAC verified) and
 * encrypts each write into one ciphertext chunk (per 64 frames). `end()`
 * sends the goodbye and half-closes the inner channel; over a channel
 * without half-close (Tor) it closes the inner one only once the peer said
 * goodbye too, since closing it earlier would cut off the peer's reply.
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
  return sealedChannel({ ...options, name: 'shs', endMarkerName: 'a goodbye', batch: BATCH })
}

/** Plaintext per inner write: 64 frames. */
const BATCH = 64 * 4096
