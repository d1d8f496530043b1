// A complete transform, as written in @ms/core's README (transform guide).
import {
  HandshakeError, createByteReader, raceSignal, throwIfAborted, wrapConnection, writeOrAbort,
  type Connection, type Segment, type Transform, type UpgradeOptions,
} from '@ms/core'

// What this transform tells the application, on connection.info.xor (declaration merging).
declare module '@ms/core' {
  interface ConnectionInfo { xor?: { key: number } }
}

const SEGMENT: Segment = { name: 'xor', data: [] }

export function xor(key = 0x5a): Transform<Record<string, never>> {
  const code = (bytes: Uint8Array) => bytes.map((b) => b ^ key) // a new array: never touch a written chunk

  async function upgrade(inner: Connection, { signal, onProgress }: UpgradeOptions = {}): Promise<Connection> {
    // An aborted signal rejects at once, with an AbortError carrying the address.
    throwIfAborted(signal, inner.remoteAddress)
    const writer = inner.writable.getWriter()
    const reader = createByteReader(inner.readable, inner.remoteAddress)
    // The handshake: every wait races the signal, so an abort mid-upgrade rejects at once.
    await raceSignal(writer.write(new Uint8Array([0x42])), signal, undefined, inner.remoteAddress)
    const [hello] = await raceSignal(reader.readExactly(1), signal, undefined, inner.remoteAddress)
    if (hello !== 0x42) throw new HandshakeError('xor: bad hello', { address: inner.remoteAddress, stage: 'hello' })
    onProgress?.() // inbound: a valid step from the peer (the MultiServer's admission favours it)

    return wrapConnection(inner, {
      segment: SEGMENT, // remoteAddress: the inner one + `~xor`, on both ends
      info: { xor: { key } }, // merged over the inner connection's info
      // release() hands back the bytes that came after the hello, then the rest.
      readable: reader.release().pipeThrough(new TransformStream({ transform: (chunk, c) => c.enqueue(code(chunk)) })),
      writable: new WritableStream({
        // writeOrAbort: an abort must not wait for a write the peer holds back.
        write: (chunk, c) => writeOrAbort(writer.write(code(chunk)), c, (reason) => void writer.abort(reason).catch(() => {})),
        close: () => writer.close(), // half-close reaches the peer
        abort: (reason) => writer.abort(reason), // an abort reaches the peer as an error
      }),
    })
  }

  return {
    name: 'xor',
    parse: (segment) => (segment.name === 'xor' && segment.data.length === 0 ? {} : null), // never throws
    advertise: () => SEGMENT,
    upgradeOutbound: (connection, _options, options) => upgrade(connection, options),
    upgradeInbound: (connection, options) => upgrade(connection, options),
  }
}
