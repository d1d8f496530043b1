import { StreamError, utf8, type FrameDecoder, type FrameEncoder } from '@ms/core'
import { constantTimeEqual, copyBytes, SECRETSTREAM_ABYTES, SECRETSTREAM_STATEBYTES, TAG_FINAL, TAG_MESSAGE, type NoiseCrypto } from './crypto/types.js'

/**
 * The transport of `@hyperswarm/secret-stream` 6.x after the handshake:
 * every message is a 3-byte little-endian length then that many bytes.
 * Each side first sends its 56-byte header message (its stream id, 32
 * bytes, then the libsodium secretstream header, 24), then secretstream
 * XChaCha20-Poly1305 messages (1 encrypted tag byte, the ciphertext, a
 * 16-byte MAC). The stream id is BLAKE2b-256 of a namespace keyed with the
 * handshake hash, so each side proves it finished the same handshake.
 *
 * Both directions run synchronously: one output allocation per write, and
 * incoming messages are verified and decrypted in place.
 */

export const HEADER_MESSAGE = 56
/** The largest message the 3-byte length allows. */
export const MAX_MESSAGE = 0xffffff
/** Plaintext per message we send. */
export const MAX_PLAIN = 64 * 1024

const namespaces = new WeakMap<NoiseCrypto, [Uint8Array, Uint8Array]>()

/** hypercore-crypto's `namespace('hyperswarm/secret-stream', 3)`: the initiator's and the responder's ids. */
function namespace(crypto: NoiseCrypto): [Uint8Array, Uint8Array] {
  let ns = namespaces.get(crypto)
  if (!ns) {
    const base = crypto.blake2b([utf8.encode('hyperswarm/secret-stream')], 32)
    ns = [copyBytes(crypto.blake2b([base, Uint8Array.of(0)], 32)), copyBytes(crypto.blake2b([base, Uint8Array.of(1)], 32))]
    namespaces.set(crypto, ns)
  }
  return ns
}

/** The stream id the initiator (or responder) announces. */
export function streamId(crypto: NoiseCrypto, handshakeHash: Uint8Array, initiator: boolean): Uint8Array {
  const [ni, nr] = namespace(crypto)
  // A copy: the decoder keeps it for the connection's life.
  return copyBytes(crypto.blake2b([initiator ? ni : nr], 32, handshakeHash))
}

export function writeLength(out: Uint8Array, offset: number, n: number): void {
  out[offset] = n & 0xff
  out[offset + 1] = (n >>> 8) & 0xff
  out[offset + 2] = (n >>> 16) & 0xff
}

export function readLength(bytes: Uint8Array, offset = 0): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16)
}

/** `payload` with its 3-byte length in front. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + payload.length)
  writeLength(out, 0, payload.length)
  out.set(payload, 3)
  return out
}

export class SecretStreamEncoder implements FrameEncoder {
  readonly #crypto: NoiseCrypto
  readonly #state = new Uint8Array(SECRETSTREAM_STATEBYTES)
  /** Our header message, framed: length, stream id, secretstream header. */
  readonly headerMessage: Uint8Array
  #ended = false

  constructor(crypto: NoiseCrypto, key: Uint8Array, id: Uint8Array) {
    this.#crypto = crypto
    const header = new Uint8Array(3 + HEADER_MESSAGE)
    writeLength(header, 0, HEADER_MESSAGE)
    header.set(id, 3)
    crypto.secretstreamInitPush(this.#state, header.subarray(35), key)
    this.headerMessage = header
  }

  /** The encoded size of `length` plaintext bytes. */
  static encodedLength(length: number): number {
    return length + (3 + SECRETSTREAM_ABYTES) * Math.max(1, Math.ceil(length / MAX_PLAIN))
  }

  encodedLength(length: number): number {
    return SecretStreamEncoder.encodedLength(length)
  }

  allocUninitialized(length: number): Uint8Array {
    return this.#crypto.allocUninitialized ? this.#crypto.allocUninitialized(length) : new Uint8Array(length)
  }

  /** Encrypts `data` (any length; empty gives one empty message) as consecutive messages into `out`. */
  encodeInto(out: Uint8Array, data: Uint8Array): number {
    if (this.#ended) throw new StreamError('noise: write after the final message')
    const crypto = this.#crypto
    const state = this.#state
    let ip = 0
    let op = 0
    do {
      const n = Math.min(MAX_PLAIN, data.length - ip)
      writeLength(out, op, n + SECRETSTREAM_ABYTES)
      crypto.secretstreamPush(state, out.subarray(op + 3, op + 3 + n + SECRETSTREAM_ABYTES), data.subarray(ip, ip + n), TAG_MESSAGE)
      ip += n
      op += 3 + n + SECRETSTREAM_ABYTES
    } while (ip < data.length)
    return op
  }

  encode(data: Uint8Array): Uint8Array {
    const out = this.allocUninitialized(SecretStreamEncoder.encodedLength(data.length))
    this.encodeInto(out, data)
    return out
  }

  /** The end marker (`FrameEncoder`): the FINAL message. */
  endMarker(): Uint8Array {
    return this.final()
  }

  /** The empty message tagged FINAL: the in-band end of our direction. Nothing may be encoded after it. */
  final(): Uint8Array {
    if (this.#ended) throw new StreamError('noise: final message sent twice')
    const out = new Uint8Array(3 + SECRETSTREAM_ABYTES)
    writeLength(out, 0, SECRETSTREAM_ABYTES)
    this.#crypto.secretstreamPush(this.#state, out.subarray(3), EMPTY, TAG_FINAL)
    this.#ended = true
    this.#crypto.wipe(this.#state)
    return out
  }

  get ended(): boolean {
    return this.#ended
  }
}

const EMPTY = new Uint8Array(0)

// Decoder states.
const LENGTH = 0
const BODY = 1
const DONE = 2

/**
 * Parses and verifies the peer's messages: first its header message, then
 * secretstream messages. Only verified plaintext is emitted; a bad header,
 * a message that does not verify or a length out of bounds throws
 * `StreamError`, after which the decoder refuses everything.
 */
export class SecretStreamDecoder implements FrameDecoder {
  readonly #crypto: NoiseCrypto
  readonly #key: Uint8Array
  readonly #expectedId: Uint8Array
  readonly #maxMessage: number
  readonly #address: string | undefined
  readonly #state = new Uint8Array(SECRETSTREAM_STATEBYTES)
  #headerDone = false
  #phase = LENGTH
  readonly #lengthBytes = new Uint8Array(3)
  #lengthFill = 0
  #length = 0
  // A message split across chunks: its parts until complete (no allocation before the bytes arrive).
  #parts: Uint8Array[] = []
  #fill = 0
  #failed: StreamError | undefined

  constructor(crypto: NoiseCrypto, key: Uint8Array, expectedId: Uint8Array, options: { maxMessage?: number; address?: string } = {}) {
    this.#crypto = crypto
    this.#key = key
    this.#expectedId = expectedId
    this.#maxMessage = options.maxMessage ?? MAX_MESSAGE
    this.#address = options.address
  }

  /** True once the FINAL message arrived: the peer ended its side in-band. */
  get ended(): boolean {
    return this.#phase === DONE
  }

  /** True when the bytes so far end exactly at a message boundary. */
  get atBoundary(): boolean {
    return this.#phase === LENGTH && this.#lengthFill === 0
  }

  #fail(message: string): never {
    this.#failed = new StreamError(`noise: ${message}`, { address: this.#address })
    this.#crypto.wipe(this.#state)
    this.#crypto.wipe(this.#key)
    this.#parts = []
    throw this.#failed
  }

  /**
   * Feeds received bytes (the caller gives up `chunk`: messages are
   * decrypted inside it). Each verified, non-empty plaintext goes to `emit`
   * in order, as a view into `chunk` or into a message that straddled
   * chunks. Bytes after the FINAL message are ignored.
   */
  push(chunk: Uint8Array, emit: (plain: Uint8Array) => void): void {
    this.pushOwned(chunk, emit)
  }

  /** `push` (`FrameDecoder`'s name for it: the decoder owns the chunk). */
  pushOwned(chunk: Uint8Array, emit: (plain: Uint8Array) => void): void {
    if (this.#failed) throw this.#failed
    const length = chunk.length
    let p = 0
    while (p < length && this.#phase !== DONE) {
      if (this.#phase === LENGTH) {
        if (this.#lengthFill === 0 && length - p >= 3) {
          this.#length = readLength(chunk, p)
          p += 3
        } else {
          this.#lengthBytes[this.#lengthFill++] = chunk[p++]!
          if (this.#lengthFill < 3) continue
          this.#lengthFill = 0
          this.#length = readLength(this.#lengthBytes)
        }
        this.#checkLength(this.#length)
        this.#phase = BODY
      }
      const need = this.#length
      if (this.#fill === 0 && length - p >= need) {
        this.#message(chunk.subarray(p, p + need), emit)
        p += need
      } else {
        const take = Math.min(need - this.#fill, length - p)
        this.#parts.push(chunk.subarray(p, p + take))
        this.#fill += take
        p += take
        if (this.#fill < need) break
        const message = new Uint8Array(need)
        let o = 0
        for (const part of this.#parts) {
          message.set(part, o)
          o += part.length
        }
        this.#parts = []
        this.#fill = 0
        this.#message(message, emit)
      }
      if (this.#phase !== DONE) this.#phase = LENGTH
    }
  }

  #checkLength(n: number): void {
    if (!this.#headerDone) {
      if (n !== HEADER_MESSAGE) this.#fail(`the header message must be ${HEADER_MESSAGE} bytes, got ${n}`)
    } else if (n < SECRETSTREAM_ABYTES) {
      this.#fail(`a message of ${n} bytes is shorter than its authenticator`)
    } else if (n > this.#maxMessage) {
      this.#fail(`a message of ${n} bytes is larger than the limit of ${this.#maxMessage}`)
    }
  }

  #message(message: Uint8Array, emit: (plain: Uint8Array) => void): void {
    const crypto = this.#crypto
    if (!this.#headerDone) {
      if (!constantTimeEqual(message.subarray(0, 32), this.#expectedId)) this.#fail('the header message carries a wrong stream id')
      crypto.secretstreamInitPull(this.#state, message.subarray(32), this.#key)
      crypto.wipe(this.#key)
      this.#headerDone = true
      return
    }
    const plain = message.subarray(1, message.length - 16)
    const tag = crypto.secretstreamPull(this.#state, plain, message)
    if (tag < 0) this.#fail('a message does not verify (corrupted, truncated, reordered or forged)')
    if (tag === TAG_FINAL) {
      this.#phase = DONE
      crypto.wipe(this.#state)
      if (plain.length > 0) emit(plain)
      return
    }
    if (plain.length > 0) emit(plain)
  }
}
