// A small correct transform (`xor`: a one-byte hello each way, then every
// byte xor-ed with a key) and a catalogue of deliberately broken variants,
// each with the check that must catch it. Written only against the public
// contract, as a third party would.
import {
  appendSegment,
  createByteReader,
  raceSignal,
  throwIfAborted,
  wrapConnection,
  writeOrAbort,
  type Connection,
  type Segment,
  type Transform,
  type UpgradeOptions,
} from '@ms/core'

/** The ways to break the transform; all false gives the correct one. */
export interface Breakage {
  /** The writable never passes on the last chunk written before close(). */
  dropLastChunk?: boolean
  /** Chunks larger than 64 KiB lose everything after the first 64 KiB. */
  truncateLargeChunks?: boolean
  /** write() waits for the inner write with no way out: an abort waits for it too. */
  writeBlocksAbort?: boolean
  /** writable.close() does not close the inner writable. */
  noHalfClose?: boolean
  /** remoteAddress is the inner one, without `~xor`. */
  noSegment?: boolean
  /** close() resolves and does nothing. */
  closeDoesNothing?: boolean
  /** writable.abort() stops writing but leaves the inner connection alone. */
  abortStaysLocal?: boolean
  /** The upgrade never looks at its signal. */
  ignoresSignal?: boolean
}

const KEY = 0x5a
const HELLO = 0x42
const SEGMENT: Segment = { name: 'xor', data: [] }
const xor = (bytes: Uint8Array) => bytes.map((b) => b ^ KEY)

export function xorTransform(broken: Breakage = {}): Transform<Record<string, never>> {
  async function upgrade(inner: Connection, { signal }: UpgradeOptions = {}): Promise<Connection> {
    const address = appendSegment(inner.remoteAddress, SEGMENT)
    const watch = broken.ignoresSignal ? undefined : signal
    throwIfAborted(watch, address)
    const writer = inner.writable.getWriter()
    const reader = createByteReader(inner.readable, address)
    // The handshake: one byte each way.
    await raceSignal(writer.write(new Uint8Array([HELLO])), watch, undefined, address)
    const hello = await raceSignal(reader.readExactly(1), watch, undefined, address)
    if (hello[0] !== HELLO) throw new Error('xor: bad hello')
    throwIfAborted(watch, address)

    let held: Uint8Array | undefined
    const send = (chunk: Uint8Array, controller: WritableStreamDefaultController) => {
      let out: Uint8Array = xor(chunk)
      if (broken.truncateLargeChunks && out.byteLength > 64 * 1024) out = out.subarray(0, 64 * 1024)
      if (broken.dropLastChunk) {
        // Sends each chunk only when the next one comes: the last never goes.
        const previous = held
        held = out
        if (!previous) return Promise.resolve()
        out = previous
      }
      if (broken.writeBlocksAbort) return writer.write(out)
      return writeOrAbort(writer.write(out), controller, (reason) => void writer.abort(reason).catch(() => {}))
    }
    const writable = new WritableStream<Uint8Array>({
      write: (chunk, controller) => send(chunk, controller),
      close: () => (broken.noHalfClose ? undefined : writer.close()),
      abort: (reason) => (broken.abortStaysLocal ? undefined : writer.abort(reason)),
    })
    const readable = reader.release().pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, c) => c.enqueue(xor(chunk)) }))
    return wrapConnection(inner, {
      ...(broken.noSegment ? { remoteAddress: inner.remoteAddress } : { segment: SEGMENT }),
      readable,
      writable,
      ...(broken.closeDoesNothing ? { close: () => Promise.resolve() } : {}),
    })
  }
  return {
    name: 'xor',
    parse: (segment) => (segment.name === 'xor' && segment.data.length === 0 ? {} : null),
    advertise: () => SEGMENT,
    upgradeOutbound: (connection, _options, options) => upgrade(connection, options),
    upgradeInbound: (connection, options) => upgrade(connection, options),
  }
}

/** Each broken variant and (a prefix of) the name of a check that must fail for it. */
export const catalogue: { name: string; broken: Breakage; caughtBy: string[] }[] = [
  { name: 'dropped last chunk', broken: { dropLastChunk: true }, caughtBy: ['round-trips one small message'] },
  { name: 'truncated large chunks', broken: { truncateLargeChunks: true }, caughtBy: ['round-trips 1 MiB intact'] },
  { name: 'a write that blocks an abort', broken: { writeBlocksAbort: true }, caughtBy: ['aborting a writer blocked by a peer that reads nothing settles'] },
  { name: 'missing half-close', broken: { noHalfClose: true }, caughtBy: ['half-closes from the client', 'half-closes from the server'] },
  { name: 'no segment appended', broken: { noSegment: true }, caughtBy: ['appends its segment to remoteAddress on both ends'] },
  { name: 'close() does nothing', broken: { closeDoesNothing: true }, caughtBy: ['close() reaches the peer', 'close() reaches the inner connection'] },
  { name: 'abort not reaching the inner connection', broken: { abortStaysLocal: true }, caughtBy: ['writable.abort() reaches the inner connection', 'writable.abort() tears the connection down'] },
  { name: 'signal ignored', broken: { ignoresSignal: true }, caughtBy: ['rejects with AbortError when the signal is already aborted', 'rejects with AbortError when aborted mid-upgrade'] },
]
