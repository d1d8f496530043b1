import { appendSegment, concatBytes, createByteReader, writeOrAbort, type Connection, type Segment, type Transform } from '@ms/core'

/**
 * A test-only transform that carries end-of-stream in band, the way
 * protocols that run over Tor must (shs's goodbye, for one): frames are a
 * 4-byte big-endian length and the payload; a zero length means "no more
 * data from me". Closing the writable sends that marker and leaves the
 * stream open; the inner connection is ended (flushed, then closed) only
 * once both directions are done. `close()` sends the marker too, so the
 * peer sees an orderly end; an abort does not, so the peer sees an error.
 *
 * Tor closes a whole stream at the first FIN (it has no half-close), so the
 * shared transport suite, whose tests half-close, runs over `onion~eof`:
 * the onion transport underneath is what is being tested.
 */
export function eof(): Transform<true> {
  const segment: Segment = { name: 'eof', data: [] }
  const upgrade = async (inner: Connection): Promise<Connection> => wrap(inner, appendSegment(inner.remoteAddress, segment))
  return {
    name: 'eof',
    parse: (s) => (s.name === 'eof' && s.data.length === 0 ? true : null),
    advertise: () => segment,
    upgradeOutbound: upgrade,
    upgradeInbound: upgrade,
  }
}

function wrap(inner: Connection, remoteAddress: string): Connection {
  const source = createByteReader(inner.readable, remoteAddress)
  const writer = inner.writable.getWriter()
  let readDone = false
  let writeDone = false
  let ending: Promise<void> | undefined
  const finish = () => {
    if (!readDone || !writeDone) return
    // Both directions are done: now a FIN (which makes Tor close the
    // stream) loses nothing.
    ending ??= writer.close().catch(() => {}).finally(() => void inner.close())
  }

  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const header = await source.readExactly(4)
      const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0)
      if (length === 0) {
        readDone = true
        controller.close()
        finish()
        return
      }
      controller.enqueue(await source.readExactly(length))
    },
    cancel() {
      readDone = true
      finish()
    },
  })

  const frame = (payload: Uint8Array) => {
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, payload.byteLength)
    return concatBytes([header, payload])
  }
  const writable = new WritableStream<Uint8Array>({
    async write(chunk, controller) {
      if (chunk.byteLength > 0) await writeOrAbort(writer.write(frame(chunk)), controller, (reason) => void inner.close(reason))
    },
    async close() {
      await writer.write(new Uint8Array(4))
      writeDone = true
      finish()
    },
    abort(reason) {
      writeDone = true
      void inner.close(reason)
    },
  })

  return {
    readable,
    writable,
    remoteAddress,
    direction: inner.direction,
    info: inner.info,
    // close() is an orderly end at the peer (the contract): send our end
    // marker first, unless we already did, so the peer's readable ends
    // instead of seeing a truncated frame. Bounded: a peer that reads
    // nothing must not hold close() up.
    close: async (reason) => {
      if (!writeDone) {
        writeDone = true
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([
          writer.write(new Uint8Array(4)).catch(() => {}),
          inner.closed,
          new Promise((resolve) => (timer = setTimeout(resolve, 2_000))),
        ])
        clearTimeout(timer)
      }
      return inner.close(reason)
    },
    closed: inner.closed,
  }
}
