import type { Readable, Writable } from 'node:stream'
import type { Connection } from '@ms/core'

/** How long our input may still take to end after the peer ended its side. */
const LINGER_MS = 500

export interface RelayResult {
  /**
   * `clean`: both sides ended (ours at most LINGER_MS after the peer's).
   * `peer-closed`: the peer ended while our input stayed open. `error`: the
   * connection broke.
   */
  outcome: 'clean' | 'peer-closed' | 'error'
  error?: unknown
  bytesIn: number
  bytesOut: number
}

/**
 * Copies `input` into the connection and the connection into `output`,
 * like `nc`. End of `input` half-closes our side; the relay is over when
 * the peer ends its side (or the connection breaks).
 */
export async function relay(connection: Connection, input: Readable, output: Writable): Promise<RelayResult> {
  let inputDone = false
  let bytesIn = 0
  let bytesOut = 0
  const writer = connection.writable.getWriter()

  const upstream = (async () => {
    try {
      for await (const chunk of input) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array)
        await writer.write(bytes)
        bytesOut += bytes.byteLength
      }
      inputDone = true
      await writer.close()
    } catch {
      // The connection failed or the relay ended; downstream reports it.
    }
  })()

  let outcome: RelayResult['outcome'] = 'clean'
  let error: unknown
  try {
    const reader = connection.readable.getReader()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      bytesIn += value.byteLength
      if (!output.write(value)) await waitDrain(output)
    }
    // The peer ended its side. Like socat (-t), give our input a moment to
    // end as well before deciding the peer closed first: its end and ours
    // often cross on the wire.
    if (!inputDone) await Promise.race([upstream, new Promise((resolve) => setTimeout(resolve, LINGER_MS).unref())])
    if (!inputDone) outcome = 'peer-closed'
  } catch (e) {
    outcome = 'error'
    error = e
  }
  await flush(output)
  if (outcome === 'peer-closed') {
    // Stop reading our input, but end our side cleanly (e.g. shs's goodbye)
    // so the peer sees an orderly end rather than a truncated stream.
    // (Bounded: a peer that ended but does not read must not hold us.)
    input.destroy()
    const endOurSide = upstream.then(() => writer.close()).catch(() => {})
    await Promise.race([endOurSide, new Promise((resolve) => setTimeout(resolve, LINGER_MS).unref())])
  } else if (outcome === 'error') {
    input.destroy()
    writer.releaseLock()
  } else {
    await upstream
  }
  await connection.close()
  return { outcome, error, bytesIn, bytesOut }
}

function waitDrain(output: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      output.off('drain', done)
      output.off('error', done)
      output.off('close', done)
      resolve()
    }
    output.once('drain', done)
    output.once('error', done)
    output.once('close', done)
  })
}

function flush(output: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (output.destroyed || output.writableEnded) return resolve()
    output.write('', () => resolve())
  })
}
