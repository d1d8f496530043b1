import { createHash, randomFillSync } from 'node:crypto'
import { StreamError, createByteReader, type Connection } from '@ms/core'

/**
 * The transfer every good peer runs, on both ends at once (full duplex):
 *
 *   u32 length (big-endian) | length bytes of random data | sha256(data)
 *
 * and then, only from the server, one verdict byte (1: your bytes arrived
 * intact) after its own digest. The server sends as many bytes as the
 * client announced (so a client can ask for a lot and then stop reading). Each side half-closes its writable when it
 * has nothing more to send and expects a clean end of the other's stream.
 * So a transfer is verified in both directions, and the client learns that
 * the server verified its bytes too.
 */

const CHUNK = 64 * 1024

/** Writes header, data and digest. Leaves the writer open (the server still sends its verdict). */
export async function sendPayload(writer: WritableStreamDefaultWriter<Uint8Array>, size: number): Promise<void> {
  const header = new Uint8Array(4)
  new DataView(header.buffer).setUint32(0, size)
  await writer.write(header)
  const hash = createHash('sha256')
  for (let left = size; left > 0; ) {
    const n = Math.min(CHUNK, left)
    // A fresh buffer per write: the stream may keep a reference until it is sent.
    const chunk = new Uint8Array(n)
    randomFillSync(chunk)
    hash.update(chunk)
    await writer.write(chunk)
    left -= n
  }
  await writer.write(new Uint8Array(hash.digest()))
}

export interface Received {
  size: number
  ok: boolean
}

export type Reader = ReturnType<typeof createByteReader>

async function readSize(reader: Reader, maxSize: number): Promise<number> {
  const header = await reader.readExactly(4)
  const size = new DataView(header.buffer, header.byteOffset, 4).getUint32(0)
  if (size > maxSize) throw new StreamError(`peer announced ${size} bytes, more than ${maxSize}`)
  return size
}

/** Reads header (unless already read), data and digest; `ok` says whether the digest matched. */
export async function receivePayload(reader: Reader, maxSize: number, announced?: number): Promise<Received> {
  const size = announced ?? (await readSize(reader, maxSize))
  const hash = createHash('sha256')
  for (let left = size; left > 0; ) {
    const n = Math.min(CHUNK, left)
    hash.update(await reader.readExactly(n))
    left -= n
  }
  const digest = await reader.readExactly(32)
  return { size, ok: Buffer.from(digest).equals(hash.digest()) }
}

/** Resolves once the stream ends cleanly; rejects if more bytes arrive. */
export async function expectEnd(connection: { readable: ReadableStream<Uint8Array> }, reader: Reader): Promise<void> {
  const rest = reader.release().getReader()
  for (;;) {
    const { done, value } = await rest.read()
    if (done) return
    if (value.byteLength > 0) throw new StreamError(`${value.byteLength} unexpected bytes after the transfer`)
  }
}

export interface ServerTransferResult {
  received: number
  sent: number
  verified: boolean
}

/** The server's half of a transfer. Throws on any failure; the caller closes the connection. */
export async function serveTransfer(connection: Connection, maxSize: number): Promise<ServerTransferResult> {
  const writer = connection.writable.getWriter()
  const reader = createByteReader(connection.readable, connection.remoteAddress)
  const sendSize = await readSize(reader, maxSize)
  const sending = sendPayload(writer, sendSize)
  // If the receiving side fails, the send side must not linger on backpressure.
  sending.catch(() => {})
  const got = await receivePayload(reader, maxSize, sendSize)
  await sending
  await writer.write(Uint8Array.of(got.ok ? 1 : 0))
  await writer.close()
  await expectEnd(connection, reader)
  return { received: got.size, sent: sendSize, verified: got.ok }
}

export interface ClientTransferResult {
  sent: number
  received: number
  /** The server's bytes matched their digest. */
  receivedOk: boolean
  /** The server said our bytes matched theirs. */
  serverVerdict: boolean
}

/** The client's half of a transfer. */
export async function runTransfer(connection: Connection, sendSize: number, maxSize: number): Promise<ClientTransferResult> {
  const writer = connection.writable.getWriter()
  const reader = createByteReader(connection.readable, connection.remoteAddress)
  const sending = (async () => {
    await sendPayload(writer, sendSize)
    await writer.close()
  })()
  sending.catch(() => {})
  const got = await receivePayload(reader, maxSize)
  const verdict = await reader.readExactly(1)
  await expectEnd(connection, reader)
  await sending
  return { sent: sendSize, received: got.size, receivedOk: got.ok, serverVerdict: verdict[0] === 1 }
}
