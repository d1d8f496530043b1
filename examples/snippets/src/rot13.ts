// A complete third-party transform in the smallest space: it rotates letters
// by 13 in both directions (a toy, not security). It depends only on
// @ms/core's public contract. A real one: examples/deflate.
import { throwIfAborted, wrapConnection, writeOrAbort, type Connection, type Segment, type Transform, type UpgradeOptions } from '@ms/core'

const rotate = (bytes: Uint8Array) =>
  bytes.map((b) => (b >= 65 && b <= 90 ? ((b - 52) % 26) + 65 : b >= 97 && b <= 122 ? ((b - 84) % 26) + 97 : b))

export function rot13(): Transform<Record<string, never>> {
  // Resolves to a new Connection; the caller closes the inner one if we throw.
  async function upgrade(inner: Connection, { signal }: UpgradeOptions = {}): Promise<Connection> {
    throwIfAborted(signal, inner.remoteAddress)
    const writer = inner.writable.getWriter()
    // wrapConnection appends our segment and passes on close, closed,
    // direction, info and halfClose: only the streams are ours.
    return wrapConnection(inner, {
      segment: { name: 'rot13', data: [] },
      readable: inner.readable.pipeThrough(new TransformStream({ transform: (chunk, c) => c.enqueue(rotate(chunk)) })),
      writable: new WritableStream({
        // writeOrAbort: an abort must not wait for a peer that never reads.
        write: (chunk, c) => writeOrAbort(writer.write(rotate(chunk)), c, (reason) => void writer.abort(reason).catch(() => {})),
        close: () => writer.close(),
        // An abort reaches the peer as an abort (an error there), not as an end.
        abort: (reason) => writer.abort(reason),
      }),
    })
  }
  return {
    name: 'rot13',
    // parse() never throws: `null` means "not mine", and the MultiServer moves on.
    parse: (segment: Segment) => (segment.name === 'rot13' && segment.data.length === 0 ? {} : null),
    advertise: () => ({ name: 'rot13', data: [] }),
    upgradeOutbound: (connection, _options, options) => upgrade(connection, options),
    upgradeInbound: (connection, options) => upgrade(connection, options),
  }
}
