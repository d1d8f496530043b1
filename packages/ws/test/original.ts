import { createRequire } from 'node:module'
import * as http from 'node:http'

/** npm `multiserver` 3.8.2 and pull-stream, loaded as the CommonJS they are. */
export const require = createRequire(import.meta.url)

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any

export const Multiserver: (plugs: Any[]) => Any = require('multiserver')
export const OriginalWs: (opts?: Any) => Any = require('multiserver/plugins/ws')
export const OriginalShs: (opts: Any) => Any = require('multiserver/plugins/shs')
export const pull: Any = require('pull-stream')

export interface PullDuplex {
  source: (abort: unknown, cb: (end: unknown, data?: Buffer) => void) => void
  sink: (read: PullDuplex['source']) => void
  address?: string
}

/**
 * A pull source that sends `data` in `chunkSize` pieces, then waits for
 * `until` before ending, so the peer's reply is not cut short by our end
 * (npm `multiserver`'s ws plugin closes the socket when its sink ends).
 */
export function sendThenWait(data: Uint8Array, until: Promise<unknown>, chunkSize = 16 * 1024): PullDuplex['source'] {
  let offset = 0
  return (abort, cb) => {
    if (abort) return cb(abort)
    if (offset < data.byteLength) {
      const chunk = Buffer.from(data.subarray(offset, offset + chunkSize))
      offset += chunk.byteLength
      return cb(null, chunk)
    }
    until.then(
      () => cb(true),
      (error: unknown) => cb(error),
    )
  }
}

/** A pull sink that gathers exactly `length` bytes, then resolves (it keeps draining after). */
export function collect(length: number): { sink: PullDuplex['sink']; done: Promise<Uint8Array> } {
  let resolve!: (bytes: Uint8Array) => void
  let reject!: (error: unknown) => void
  const done = new Promise<Uint8Array>((res, rej) => ((resolve = res), (reject = rej)))
  const out = new Uint8Array(length)
  let got = 0
  const sink: PullDuplex['sink'] = (read) => {
    const next = (end: unknown, data?: Buffer): void => {
      if (end) {
        if (got < length) reject(end === true ? new Error(`ended after ${got} of ${length} bytes`) : end)
        return
      }
      if (data && got < length) {
        out.set(data.subarray(0, length - got), got)
        got += Math.min(data.byteLength, length - got)
        if (got === length) resolve(out)
      }
      read(null, next)
    }
    read(null, next)
  }
  return { sink, done }
}

/** An HTTP server on 127.0.0.1 and a free port, for the original ws plugin (which otherwise picks a random fixed port). */
export function loopbackServer(): Promise<http.Server> {
  const server = http.createServer()
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}
