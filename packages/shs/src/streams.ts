import { MsError, StreamError, writeOrAbort, isMsError } from '@ms/core'
import { BoxDecoder, BoxEncoder, MAX_BODY } from './boxstream.js'

/** Plaintext per inner write: large writes become one ciphertext chunk per 64 frames. */
const BATCH = 64 * MAX_BODY
/** Bytes per ciphertext slab. */
const SLAB = 1024 * 1024
/** The first slab of a connection. */
const FIRST_SLAB = 4096

function asStreamError(error: unknown, address: string | undefined, what: string): MsError {
  if (isMsError(error)) return error
  return new StreamError(`shs: ${what}`, { address, cause: error })
}

/**
 * Memory for ciphertext, carved from large slabs and never reused: the
 * inner stream may keep a chunk after its write resolved (a socket queues
 * it), and one allocation per slab is far cheaper than one per write.
 * Slabs start small and double up to 1 MiB, so that a connection that
 * only ever sends a few messages does not hold (and make the garbage
 * collector account for) a megabyte.
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

/**
 * The decrypting side: reads ciphertext from `source`, releases plaintext
 * only after its MAC verified. Ends normally at the goodbye; errors with
 * `StreamError` on a bad frame or when the source ends without a goodbye.
 */
export function decryptingReadable(
  source: ReadableStream<Uint8Array>,
  decoder: BoxDecoder,
  address?: string,
  onDone: () => void = () => {},
): ReadableStream<Uint8Array> {
  const reader = source.getReader()
  let isDone = false
  // `done` also tells the writing side that the peer will send no more
  // (goodbye, end, error or our own cancel): see encryptingWritable.
  const markDone = () => {
    if (isDone) return
    isDone = true
    onDone()
  }

  // After the goodbye the peer has half-closed; keep reading (and
  // discarding) so the inner stream sees its end and can be released,
  // but never cancel it: that could tear down our writing side too.
  const drain = () => {
    const step = (): Promise<void> => reader.read().then((r) => (r.done ? undefined : step()))
    step().catch(() => {})
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          let result: ReadableStreamReadResult<Uint8Array>
          try {
            result = await reader.read()
          } catch (error) {
            markDone()
            throw asStreamError(error, address, 'the connection broke')
          }
          if (result.done) {
            markDone()
            throw new StreamError('shs: the connection ended without a goodbye (truncated stream)', { address })
          }
          let emitted = false
          try {
            // Chunks read from the inner stream are ours: decrypt inside them.
            decoder.pushOwned(result.value, (plain) => {
              emitted = true
              controller.enqueue(plain)
            })
          } catch (error) {
            markDone()
            reader.cancel(error).catch(() => {})
            throw error
          }
          if (decoder.ended) {
            markDone()
            controller.close()
            drain()
            return
          }
          if (emitted) return
        }
      },
      cancel(reason) {
        if (isDone) return
        markDone()
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 1 },
  )
}

/**
 * The encrypting side. Each write is encrypted at once into one buffer
 * (split into frames of at most 4096 bytes) and queued on the inner writer
 * without waiting for it to flush, so large transfers pipeline; the inner
 * writer's backpressure (`ready`) still paces us.
 *
 * Closing sends the goodbye (box-stream's own half-close), then closes the
 * inner writable and resolves once that flushed, so `await writer.close()`
 * followed by `connection.close()` loses nothing. When the inner
 * connection has no half-close (`halfClose: false`, Tor), its writable is
 * closed only once the peer is done as well (`peerDone`), since closing it
 * earlier would cut off the peer's reply.
 */
export function encryptingWritable(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  encoder: BoxEncoder,
  address?: string,
  /** Set when the inner connection has no half-close: resolves once the peer is done. */
  peerDone?: { readonly done: boolean; readonly promise: Promise<void> },
): WritableStream<Uint8Array> {
  let failure: MsError | undefined
  const onWriteError = (error: unknown) => {
    failure ??= asStreamError(error, address, 'writing to the connection failed')
  }
  let writeController: WritableStreamDefaultController | undefined
  const ready = async () => {
    if (failure) throw failure
    try {
      // abort() waits for the write in flight, which may be waiting for the
      // inner writer's backpressure: the abort cuts that wait short. Only a
      // real backpressure wait needs the abort listener.
      const waiting = writeController !== undefined && (writer.desiredSize ?? 1) <= 0
      await (waiting ? writeOrAbort(writer.ready, writeController!, () => {}) : writer.ready)
    } catch (error) {
      onWriteError(error)
      throw failure
    }
    if (failure) throw failure
  }

  const take = ciphertextSlab(encoder)

  return new WritableStream<Uint8Array>({
    start(controller) {
      writeController = controller
    },
    async write(chunk) {
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`shs: write a Uint8Array, not ${chunk === null ? 'null' : typeof chunk}`)
      }
      for (let offset = 0; offset < chunk.length; offset += BATCH) {
        // Encrypt before waiting: the caller may reuse its buffer once write() resolves.
        const part = chunk.subarray(offset, offset + BATCH)
        const boxed = take(BoxEncoder.encodedLength(part.length))
        encoder.encodeInto(boxed, part)
        await ready()
        writer.write(boxed).catch(onWriteError)
      }
    },
    async close() {
      await ready()
      const bye = encoder.goodbye()
      try {
        await writer.write(bye)
      } catch (error) {
        onWriteError(error)
        throw failure
      }
      if (peerDone && !peerDone.done) {
        // The inner connection would end both directions on close (Tor):
        // the goodbye told the peer we are done; close once it is too.
        void peerDone.promise.then(() => writer.close()).catch(() => {})
        return
      }
      try {
        await writer.close()
      } catch (error) {
        onWriteError(error)
        throw failure
      }
    },
    async abort(reason) {
      await writer.abort(reason)
    },
  })
}
