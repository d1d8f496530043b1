import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { backends } from './backends.js'

/*
 * A box-stream header announcing a 0-byte body (not the goodbye, whose
 * header is all zeros): no encoder sends one (npm pull-box-stream and
 * go-secretstream skip empty writes, and so do we), but the reference
 * decoder, npm pull-box-stream 1.0.13, accepts it. So do we, for interop,
 * and it costs the receiver what any frame costs (two secretbox opens) and
 * no memory: it yields no plaintext. What once made such frames dangerous
 * was the readable's accounting (issue 19, item 2: a 1-byte view into a
 * 64 KiB read of empty frames counted as one byte); see
 * soak/test/retention.test.ts for the attack against a live server.
 */

const require = createRequire(import.meta.url)
/* eslint-disable @typescript-eslint/no-explicit-any */
const boxes = require('pull-box-stream')
const pull = require('pull-stream')

function increment(nonce: Uint8Array): void {
  for (let i = nonce.length - 1; i >= 0; i--) if (++nonce[i]! !== 256) return
  else nonce[i] = 0
}

describe.each(backends)('empty box-stream bodies ($name)', ({ mod }) => {
  const { shsCrypto: crypto, BoxDecoder, HEADER_BOX } = mod
  const key = crypto.randomBytes(32)
  const nonce = crypto.randomBytes(24)

  /** Frames of the given body sizes, by hand (our encoder never makes an empty one), then the goodbye. */
  function frames(bodies: number[]): Uint8Array {
    const out = new Uint8Array(bodies.reduce((n, b) => n + HEADER_BOX + b, HEADER_BOX))
    const headerNonce = new Uint8Array(nonce)
    const bodyNonce = new Uint8Array(24)
    const header = new Uint8Array(18)
    let p = 0
    for (const n of bodies) {
      bodyNonce.set(headerNonce)
      increment(bodyNonce)
      crypto.secretboxDetachedInto(out.subarray(p + HEADER_BOX, p + HEADER_BOX + n), header.subarray(2), new Uint8Array(n).fill(n), bodyNonce, key)
      header[0] = n >>> 8
      header[1] = n & 0xff
      crypto.secretboxInto(out.subarray(p, p + HEADER_BOX), header, headerNonce, key)
      increment(headerNonce)
      increment(headerNonce)
      p += HEADER_BOX + n
    }
    crypto.secretboxInto(out.subarray(p), new Uint8Array(18), headerNonce, key)
    return out
  }

  const wire = () => frames([0, 3, 0, 0, 2, 0])
  const expected = Uint8Array.of(3, 3, 3, 2, 2)

  it('are accepted by the reference decoder (npm pull-box-stream)', async () => {
    const out = await new Promise<Buffer>((resolve, reject) =>
      pull(
        pull.values([Buffer.from(wire())]),
        boxes.createUnboxStream(Buffer.from(key), Buffer.from(nonce)),
        pull.collect((error: unknown, chunks: Buffer[]) => (error ? reject(error) : resolve(Buffer.concat(chunks)))),
      ),
    )
    expect(new Uint8Array(out)).toEqual(expected)
  })

  it('are accepted by ours, yield nothing, and in place emit only the real plaintext', () => {
    const copied = new BoxDecoder(crypto, key, nonce)
    expect(copied.push(wire())).toEqual(expected)
    expect(copied.ended).toBe(true)

    const inPlace = new BoxDecoder(crypto, key, nonce)
    const emitted: Uint8Array[] = []
    inPlace.pushOwned(wire(), (plain) => emitted.push(plain))
    expect(emitted.reduce((n, c) => n + c.byteLength, 0)).toBe(expected.length)
    expect(emitted.every((c) => c.byteLength > 0)).toBe(true)
    expect(inPlace.ended).toBe(true)
  })

  it('split one byte at a time, never emit an empty chunk', () => {
    const decoder = new BoxDecoder(crypto, key, nonce)
    const bytes = wire()
    const emitted: Uint8Array[] = []
    for (let i = 0; i < bytes.length; i++) decoder.pushOwned(bytes.slice(i, i + 1), (plain) => emitted.push(plain))
    expect(emitted.every((c) => c.byteLength > 0)).toBe(true)
    expect(Uint8Array.from(emitted.flatMap((c) => [...c]))).toEqual(expected)
    expect(decoder.ended).toBe(true)
  })
})
