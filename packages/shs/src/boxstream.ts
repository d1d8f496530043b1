import { StreamError, concatBytes, type FrameDecoder, type FrameEncoder } from '@ms/core'
import { isAllZero, type ShsCrypto } from './crypto/types.js'

/**
 * Box-stream, byte-exact with npm pull-box-stream 1.0.13: every chunk of at
 * most 4096 bytes becomes a 34-byte header box (secretbox of the body
 * length as 2 bytes big-endian and the body's 16-byte MAC) followed by the
 * body ciphertext (secretbox without its MAC). The nonce is a 24-byte
 * big-endian counter: header n, body n+1, next header n+2. The stream ends
 * with a header box of 18 zero bytes (the goodbye).
 *
 * Both directions run synchronously over caller-owned buffers: one output
 * allocation per write or per received chunk, never per frame.
 */

export const MAX_BODY = 4096
export const HEADER_BOX = 34
const HEADER_PLAIN = 18

/** Adds one to a big-endian counter in place (wrapping, like increment-buffer). */
export function incrementNonce(nonce: Uint8Array): void {
  for (let i = nonce.length - 1; i >= 0; i--) {
    const v = (nonce[i]! + 1) & 0xff
    nonce[i] = v
    if (v !== 0) return
  }
}

function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError('box-stream key must be 32 bytes')
  if (!(nonce instanceof Uint8Array) || nonce.length !== 24) throw new TypeError('box-stream nonce must be 24 bytes')
}

// Scratch of one `encodeInto` call (a frame's plain header, its MAC view,
// its body nonce), shared by every encoder: encoding is synchronous and
// calls nothing but the crypto backend, and nothing in it outlives the
// call. Each Uint8Array view costs an idle connection about 100 bytes of
// heap, so an encoder keeps only its key and nonce.
const ENCODE_SCRATCH = new Uint8Array(HEADER_PLAIN + 24)
const ENCODE_HEADER = ENCODE_SCRATCH.subarray(0, HEADER_PLAIN)
const ENCODE_MAC = ENCODE_SCRATCH.subarray(2, HEADER_PLAIN)
const ENCODE_BODY_NONCE = ENCODE_SCRATCH.subarray(HEADER_PLAIN)
// The MAC of the body being decrypted, copied out of the decoder's header
// right before the call that uses it (the same reasoning).
const DECODE_MAC = new Uint8Array(16)

export class BoxEncoder implements FrameEncoder {
  readonly #crypto: ShsCrypto
  // Key and nonce share one buffer: one allocation per encoder.
  readonly #key: Uint8Array
  // The next header's nonce; its body's is the one after it.
  readonly #headerNonce: Uint8Array
  #ended = false

  constructor(crypto: ShsCrypto, key: Uint8Array, nonce: Uint8Array) {
    checkKeyNonce(key, nonce)
    this.#crypto = crypto
    const state = new Uint8Array(32 + 24)
    this.#key = state.subarray(0, 32)
    this.#headerNonce = state.subarray(32, 56)
    this.#key.set(key)
    this.#headerNonce.set(nonce)
  }

  /** Memory for output that `encodeInto` overwrites completely (uninitialised where the backend can). */
  allocUninitialized(length: number): Uint8Array {
    return this.#crypto.allocUninitialized ? this.#crypto.allocUninitialized(length) : new Uint8Array(length)
  }

  /** The encoded size of `length` plaintext bytes. */
  static encodedLength(length: number): number {
    return length + HEADER_BOX * Math.ceil(length / MAX_BODY)
  }

  encodedLength(length: number): number {
    return BoxEncoder.encodedLength(length)
  }

  /** Encrypts `data` (any length; empty gives empty) as consecutive frames in one buffer. */
  encode(data: Uint8Array): Uint8Array {
    if (this.#ended) throw new StreamError('box-stream: write after goodbye')
    const out = new Uint8Array(BoxEncoder.encodedLength(data.length))
    this.encodeInto(out, data)
    return out
  }

  /** Encrypts `data` into `out`, which must hold `encodedLength(data.length)` bytes. */
  encodeInto(out: Uint8Array, data: Uint8Array): number {
    const crypto = this.#crypto
    const key = this.#key
    const header = ENCODE_HEADER
    const mac = ENCODE_MAC
    const headerNonce = this.#headerNonce
    const bodyNonce = ENCODE_BODY_NONCE
    const length = data.length
    let ip = 0
    let op = 0
    while (ip < length) {
      const n = length - ip < MAX_BODY ? length - ip : MAX_BODY
      bodyNonce.set(headerNonce)
      incrementNonce(bodyNonce)
      // The body first: its MAC goes into the header.
      crypto.secretboxDetachedInto(out.subarray(op + HEADER_BOX, op + HEADER_BOX + n), mac, data.subarray(ip, ip + n), bodyNonce, key)
      header[0] = n >>> 8
      header[1] = n & 0xff
      crypto.secretboxInto(out.subarray(op, op + HEADER_BOX), header, headerNonce, key)
      incrementNonce(headerNonce)
      incrementNonce(headerNonce)
      ip += n
      op += HEADER_BOX + n
    }
    return op
  }

  /** True once `goodbye()` was called. */
  get goodbyeSent(): boolean {
    return this.#ended
  }

  /** The end marker (`FrameEncoder`): the goodbye. */
  endMarker(): Uint8Array {
    return this.goodbye()
  }

  /** The final header box (18 zero bytes, boxed); nothing may be encoded after it. */
  goodbye(): Uint8Array {
    if (this.#ended) throw new StreamError('box-stream: goodbye sent twice')
    this.#ended = true
    const out = new Uint8Array(HEADER_BOX)
    this.#crypto.secretboxInto(out, new Uint8Array(HEADER_PLAIN), this.#headerNonce, this.#key)
    this.#crypto.wipe(this.#key)
    return out
  }
}

// Decoder states.
const HEADER = 0
const BODY = 1
const DONE = 2

export class BoxDecoder implements FrameDecoder {
  readonly #crypto: ShsCrypto
  // Key, nonce and the current frame's header share one buffer (see
  // BoxEncoder); the header outlives a call when its body is split across reads.
  readonly #key: Uint8Array
  readonly #nonce: Uint8Array
  readonly #address: string | undefined
  // A header box split across reads: allocated on first use.
  #headerBox: Uint8Array | undefined
  #headerFill = 0
  readonly #header: Uint8Array
  // Only frames split across reads need it: allocated on first use, so an
  // idle connection costs 4 KiB less.
  #body: Uint8Array | undefined
  #bodyFill = 0
  #bodyLength = 0
  #state: number = HEADER
  #failed: StreamError | undefined

  constructor(crypto: ShsCrypto, key: Uint8Array, nonce: Uint8Array, address?: string) {
    checkKeyNonce(key, nonce)
    this.#crypto = crypto
    const state = new Uint8Array(32 + 24 + HEADER_PLAIN)
    this.#key = state.subarray(0, 32)
    this.#nonce = state.subarray(32, 56)
    this.#header = state.subarray(56)
    this.#key.set(key)
    this.#nonce.set(nonce)
    this.#address = address
  }

  /** True once the goodbye arrived: the peer closed its side cleanly. */
  get ended(): boolean {
    return this.#state === DONE
  }

  /** True when the bytes so far end exactly at a frame boundary. */
  get atBoundary(): boolean {
    return this.#state === HEADER && this.#headerFill === 0
  }

  #fail(message: string): never {
    this.#failed = new StreamError(`box-stream: ${message}`, { address: this.#address })
    this.#crypto.wipe(this.#key)
    throw this.#failed
  }

  /**
   * Feeds received bytes; returns the plaintext of every frame completed by
   * them (verified before it is returned; possibly empty). Throws
   * `StreamError` on a bad MAC or an oversized header; the decoder is
   * unusable afterwards. Bytes after the goodbye are ignored.
   */
  push(chunk: Uint8Array): Uint8Array {
    const parts: Uint8Array[] = []
    this.#decode(chunk, false, (plain) => parts.push(plain))
    return parts.length <= 1 ? (parts[0] ?? EMPTY) : concatBytes(parts)
  }

  /**
   * Like `push`, for a chunk the caller owns and will not look at again:
   * frames are decrypted inside it, so bulk data is never copied or
   * allocated. Each verified piece of plaintext is handed to `emit` (a
   * view into `chunk`, or a fresh array for a frame that straddled two
   * chunks), in order.
   */
  pushOwned(chunk: Uint8Array, emit: (plain: Uint8Array) => void): void {
    this.#decode(chunk, true, emit)
  }

  #decode(chunk: Uint8Array, inPlace: boolean, emit: (plain: Uint8Array) => void): void {
    if (this.#failed) throw this.#failed
    const crypto = this.#crypto
    const key = this.#key
    const nonce = this.#nonce
    const header = this.#header
    const length = chunk.length
    // Plaintext of frames wholly inside `chunk` goes to out[start..op).
    let out: Uint8Array | undefined = inPlace ? chunk : undefined
    let start = 0
    let op = 0
    let p = 0
    while (p < length && this.#state !== DONE) {
      if (this.#state === HEADER) {
        let box: Uint8Array
        if (this.#headerFill === 0 && length - p >= HEADER_BOX) {
          box = chunk.subarray(p, p + HEADER_BOX)
          p += HEADER_BOX
        } else {
          const take = Math.min(HEADER_BOX - this.#headerFill, length - p)
          ;(this.#headerBox ??= new Uint8Array(HEADER_BOX)).set(chunk.subarray(p, p + take), this.#headerFill)
          this.#headerFill += take
          p += take
          if (this.#headerFill < HEADER_BOX) break
          this.#headerFill = 0
          box = this.#headerBox!
        }
        if (!crypto.secretboxOpenInto(header, box, nonce, key)) this.#fail('invalid header (wrong key, corrupted or reordered data)')
        if (isAllZero(header)) {
          this.#state = DONE
          crypto.wipe(key)
          break
        }
        const bodyLength = (header[0]! << 8) | header[1]!
        if (bodyLength > MAX_BODY) this.#fail(`header announces ${bodyLength} bytes, more than ${MAX_BODY}`)
        // An empty body (not the goodbye) is accepted, as npm pull-box-stream
        // accepts it, though no encoder sends one: it yields no plaintext,
        // and costs what any frame costs. Readers count what a plaintext view
        // pins, not its length (core's `retainable`), so a chunk of empty
        // frames around one byte no longer holds a whole socket read.
        incrementNonce(nonce)
        this.#bodyLength = bodyLength
        this.#state = BODY
      }
      const bodyLength = this.#bodyLength
      if (this.#bodyFill === 0 && length - p >= bodyLength) {
        // In place, the plaintext lands before its own ciphertext (op < p;
        // libsodium handles the overlap), compacting the frames of this chunk.
        out ??= new Uint8Array(length - p)
        const ok = crypto.secretboxOpenDetachedInto(out.subarray(op, op + bodyLength), chunk.subarray(p, p + bodyLength), macOf(header), nonce, key)
        if (!ok) this.#fail('invalid body (corrupted, truncated or reordered data)')
        p += bodyLength
        op += bodyLength
      } else {
        const take = Math.min(bodyLength - this.#bodyFill, length - p)
        ;(this.#body ??= new Uint8Array(MAX_BODY)).set(chunk.subarray(p, p + take), this.#bodyFill)
        this.#bodyFill += take
        p += take
        if (this.#bodyFill < bodyLength) break
        this.#bodyFill = 0
        // This frame started in an earlier chunk: it is the first one
        // completed here, so emitting it on its own keeps the order.
        const plain = new Uint8Array(bodyLength)
        const ok = crypto.secretboxOpenDetachedInto(plain, this.#body!.subarray(0, bodyLength), macOf(header), nonce, key)
        if (!ok) this.#fail('invalid body (corrupted, truncated or reordered data)')
        if (bodyLength > 0) emit(plain)
        if (inPlace) {
          // Nothing of this chunk before p is needed any more.
          start = op = p
        }
      }
      incrementNonce(nonce)
      this.#state = HEADER
    }
    if (out && op > start) emit(out.subarray(start, op))
  }
}

const EMPTY = new Uint8Array(0)

/** The MAC in a decrypted header, in the shared scratch (used at once by the caller). */
function macOf(header: Uint8Array): Uint8Array {
  const mac = DECODE_MAC
  for (let i = 0; i < 16; i++) mac[i] = header[i + 2]!
  return mac
}
