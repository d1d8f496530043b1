// Errors are matched with isMsError, not instanceof: the plugin under test
// may have been built against another copy of @ms/core than this suite's.
import { isMsError, type Connection } from '@ms/core'
import { ComplianceError, describeError, outcome, stillPending, turn, within } from './bounded.js'
import { waitForNoLeaks } from './handles.js'
import { Harness, MiB, resolve, type ResolvedSetup, type TransportSuiteSetup } from './harness.js'
import { echo, firstDifference, patternBytes, readAll, writeAll } from './streams.js'

/** One named behaviour: `run` sets up, checks and cleans up; it throws (a `ComplianceError`, mostly) when the plugin lacks it. */
export interface ComplianceCheck {
  readonly name: string
  run(): Promise<void>
}

const text = (s: string) => new TextEncoder().encode(s)
const decode = (b: Uint8Array) => new TextDecoder().decode(b)

function expectBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  const difference = firstDifference(got, want)
  if (difference) throw new ComplianceError(`${what}: ${difference}`)
}

function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new ComplianceError(message)
}

/**
 * Writes small chunks until one fails, a macrotask apart (TCP learns that
 * the peer is gone from the reset its first write provokes). Rejects with a
 * `ComplianceError` if they keep succeeding for `bound` ms.
 */
async function writeUntilFails(connection: Connection, bound: number, what: string): Promise<unknown> {
  const writer = connection.writable.getWriter()
  const deadline = Date.now() + bound
  try {
    while (Date.now() < deadline) {
      const result = await within(outcome(writer.write(new Uint8Array(64))), bound, `${what}: a write neither succeeded nor failed`)
      if (!result.ok) return result.error
      await turn(10)
    }
  } finally {
    writer.releaseLock()
  }
  throw new ComplianceError(`${what}: its writes kept succeeding`)
}

/** Checks that `error` is a `StreamError` (the contract's error for a broken or aborted connection). */
function expectStreamError(error: unknown, what: string): void {
  if (!(isMsError(error, 'StreamError'))) throw new ComplianceError(`${what} with ${describeError(error)}, not a StreamError`)
}

/** The checks every transport (with or without transforms on top) must pass. */
export function transportChecks(setup: TransportSuiteSetup): ComplianceCheck[] {
  const r = resolve(setup)
  const { bound } = r
  const checks: ComplianceCheck[] = []
  const check = (name: string, body: (h: Harness, r: ResolvedSetup) => Promise<void>) =>
    checks.push({
      name,
      async run() {
        const h = new Harness(setup, r)
        try {
          await body(h, r)
        } finally {
          await h.cleanup()
        }
      },
    })
  const idle = { idle: bound }

  check('round-trips one small message and ends cleanly', async (h) => {
    const c = await h.dial(await h.serve(echo))
    expectThat(typeof c.remoteAddress === 'string' && c.remoteAddress !== '', 'the connection has no remoteAddress')
    expectThat(c.direction === 'outbound', `a dialled connection has direction ${String(c.direction)}, not outbound`)
    const message = text('hello, multiserver')
    const [, reply] = await Promise.all([
      writeAll(c.writable, message, { ...idle, what: 'the client writable' }),
      readAll(c.readable, Infinity, { ...idle, what: 'the echoed reply' }),
    ])
    expectThat(decode(reply) === 'hello, multiserver', `the echo returned ${JSON.stringify(decode(reply))}`)
    expectThat(message.every((b, i) => b === text('hello, multiserver')[i]), 'the connection modified a chunk it was given to write')
  })

  check('carries the channel contract (takeChannel)', async (h) => {
    const c = await h.dial(await h.serve(echo))
    if (setup.channel === false) {
      expectThat(c.takeChannel === undefined, 'the connection offers takeChannel, but the setup says it must not')
      return
    }
    if (!c.takeChannel) {
      expectThat(setup.channel !== true, 'the connection offers no takeChannel, but the setup says it must (channel: true)')
      return
    }
    const channel = c.takeChannel()
    if (!channel) {
      expectThat(setup.channel !== true, 'takeChannel() on an untouched connection returned undefined')
      return
    }
    expectThat(c.takeChannel() === undefined, 'takeChannel() handed the channel out twice')
    let threw = false
    try {
      void c.readable
    } catch (error) {
      threw = error instanceof TypeError
    }
    expectThat(threw, 'the streams are still available after the channel was taken (their getters must throw TypeError)')
    const parts: Uint8Array[] = []
    const ended = new Promise<void>((resolve, reject) => {
      channel.start({ data: (chunk) => void parts.push(new Uint8Array(chunk)), end: resolve, drain: () => {}, error: reject, readError: reject })
    })
    const message = patternBytes(100_000, 9)
    channel.write(message.subarray(0, 1000))
    channel.write(message.subarray(1000))
    await within(channel.end(), bound, 'channel.end() did not resolve')
    await within(ended, bound, 'the channel did not deliver the end of the echo')
    const reply = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let offset = 0
    for (const part of parts) reply.set(part, (offset += part.length) - part.length)
    expectBytes(reply, message, 'the echo over the channel')
    await within(c.close(), bound, 'close() after using the channel did not resolve')
  })

  check(`round-trips ${r.large / MiB} MiB intact`, async (h) => {
    const c = await h.dial(await h.serve(echo))
    const data = patternBytes(r.large, 7)
    const [, reply] = await Promise.all([
      writeAll(c.writable, data, { chunkSize: 256 * 1024, ...idle, what: 'the client writable' }),
      readAll(c.readable, Infinity, { ...idle, what: 'the echoed reply' }),
    ])
    expectBytes(reply, data, 'the echoed bytes')
    expectBytes(data, patternBytes(r.large, 7), 'the written chunks were modified by the connection')
  })

  check('round-trips many small writes in order', async (h) => {
    const c = await h.dial(await h.serve(echo))
    const data = patternBytes(200_000, 3)
    const sizes = patternBytes(20_000, 5)
    const writing = (async () => {
      const writer = c.writable.getWriter()
      let offset = 0
      for (let i = 0; offset < data.length; i++) {
        const size = 1 + (sizes[i % sizes.length]! % 37)
        // Not awaiting each write: many small writes queued at once is the point.
        void writer.write(data.subarray(offset, offset + size)).catch(() => {})
        offset += size
        if (i % 256 === 0) await within(writer.ready, bound, 'the writer did not become ready again while the echo was read')
      }
      await within(writer.close(), bound, 'close() after many small writes did not complete')
    })()
    const [, reply] = await Promise.all([writing, readAll(c.readable, Infinity, { ...idle, what: 'the echoed reply' })])
    expectBytes(reply, data, 'the echoed bytes')
  })

  check('half-closes from the client: the server reads to the end and can still reply', async (h) => {
    const { c, accepted } = await h.dialHeld()
    await writeAll(c.writable, text('question'), { ...idle, what: 'the client writable' })
    const s = await accepted
    expectThat(s.direction === 'inbound', `an accepted connection has direction ${String(s.direction)}, not inbound`)
    const question = await readAll(s.readable, Infinity, { ...idle, what: "the server's readable after the client closed its writable (half-close)" })
    expectThat(decode(question) === 'question', `the server read ${JSON.stringify(decode(question))}`)
    await writeAll(s.writable, text('answer after your end'), { ...idle, what: "the server's writable after the client's half-close" })
    const answer = await readAll(c.readable, Infinity, { ...idle, what: "the client's readable after the server's half-close" })
    expectThat(decode(answer) === 'answer after your end', `the client read ${JSON.stringify(decode(answer))}`)
    await within(Promise.all([c.closed, s.closed]), bound, '`closed` did not resolve after both sides ended')
  })

  check('half-closes from the server: the client reads to the end and can still send', async (h) => {
    const { c, accepted } = await h.dialHeld()
    // Some transforms only complete the server side after the client speaks.
    const s = await accepted
    await writeAll(s.writable, text('greeting'), { ...idle, what: "the server's writable" })
    const greeting = await readAll(c.readable, Infinity, { ...idle, what: "the client's readable after the server closed its writable (half-close)" })
    expectThat(decode(greeting) === 'greeting', `the client read ${JSON.stringify(decode(greeting))}`)
    await writeAll(c.writable, text('late words'), { ...idle, what: "the client's writable after the server's half-close" })
    const late = await readAll(s.readable, Infinity, { ...idle, what: "the server's readable after the client's half-close" })
    expectThat(decode(late) === 'late words', `the server read ${JSON.stringify(decode(late))}`)
  })

  check('moves data both directions at once', async (h) => {
    const size = Math.min(r.large, 4 * MiB)
    const fromServer = patternBytes(size, 11)
    const fromClient = patternBytes(size, 13)
    let serverGot: Promise<Uint8Array> | undefined
    const c = await h.dial(
      await h.serve((s) => {
        serverGot = readAll(s.readable, Infinity, { ...idle, what: "the server's readable" })
        void writeAll(s.writable, fromServer).catch(() => {})
      }),
    )
    const [, clientGot] = await Promise.all([
      writeAll(c.writable, fromClient, { ...idle, what: "the client's writable" }),
      readAll(c.readable, Infinity, { ...idle, what: "the client's readable" }),
    ])
    expectBytes(clientGot, fromServer, 'what the client received')
    expectThat(serverGot !== undefined, 'the server never got the connection')
    expectBytes(await serverGot!, fromClient, 'what the server received')
  })

  check('close() reaches the peer as an orderly end: its readable ends, its writes fail', async (h) => {
    const { c, accepted } = await h.dialHeld()
    const s = await accepted
    await closeReachesPeer(c, s, 'client', 'server', bound)
  })

  check("close() from the server reaches the client the same way", async (h) => {
    const { c, accepted } = await h.dialHeld()
    const s = await accepted
    await closeReachesPeer(s, c, 'server', 'client', bound)
  })

  check(
    setup.endOnly
      ? "writable.abort() tears the connection down and reaches the peer (as an end: the transport carries no reset)"
      : "writable.abort() tears the connection down and errors the peer's readable",
    async (h) => {
      const { c, accepted } = await h.dialHeld()
      const s = await accepted
      const writer = c.writable.getWriter()
      await within(writer.write(text('partial')), bound, 'a write before the abort did not complete')
      const reader = s.readable.getReader()
      const first = await within(reader.read(), bound, 'the server did not receive the bytes written before the abort')
      expectThat(!first.done, 'the server\'s readable ended before the abort')
      await within(outcome(writer.abort(new Error('compliance: the application gave up'))), bound, 'writable.abort() did not settle')
      const after = await within(outcome(readAfter(reader, first.value!.byteLength, 7)), bound, "after the client's writable.abort(), the server's readable neither ended nor errored: the abort did not reach the peer")
      if (setup.endOnly) {
        expectThat(after.ok === false || after.value === 'ended', `after the client's abort the server's readable delivered more data`)
      } else {
        if (after.ok) throw new ComplianceError(`after the client's writable.abort() the server's readable ${after.value === 'ended' ? 'ended as if the stream were complete' : 'delivered more data'}; it must error (StreamError): a cut-short stream must not look finished`)
        expectStreamError(after.error, "after the client's writable.abort() the server's readable errored")
      }
      await within(c.closed, bound, "after writable.abort(), the client's `closed` did not resolve: the abort must tear down the connection")
      const ours = await within(outcome(c.readable.getReader().read()), bound, "after writable.abort(), the client's own readable neither ended nor errored")
      expectThat(!ours.ok, "after writable.abort(), the client's own readable did not error (the whole connection is torn down)")
      await writeUntilFails(s, bound, "after the client's writable.abort(), the server")
    },
  )

  check("readable.cancel() leaves the peer's writes succeeding; once our writable closes too the connection is released", async (h) => {
    const { c, accepted } = await h.dialHeld()
    const s = await accepted
    await within(c.readable.cancel(new Error('compliance: not interested')), bound, 'readable.cancel() did not settle')
    const writer = s.writable.getWriter()
    for (let i = 0; i < 3; i++) {
      const write = await within(outcome(writer.write(patternBytes(1024, i + 1))), bound, "after the client cancelled its readable, the server's write neither succeeded nor failed")
      if (!write.ok) throw new ComplianceError(`after the client cancelled its readable the server's write failed (${describeError(write.error)}); its writes must keep succeeding`)
      await turn(10)
    }
    writer.releaseLock()
    await writeAll(c.writable, text('still writing'), { ...idle, what: "the client's writable after cancelling its readable" })
    const got = await readAll(s.readable, Infinity, { ...idle, what: "the server's readable after the client cancelled its readable and closed its writable" })
    expectThat(decode(got) === 'still writing', `the server read ${JSON.stringify(decode(got))}`)
    await within(c.closed, bound, "the client cancelled its readable and closed its writable, yet its `closed` did not resolve: the connection was not released")
  })

  check('rejects with AbortError when aborted before dialling', async (h) => {
    const address = await h.serve(echo)
    const controller = new AbortController()
    controller.abort()
    const result = await within(outcome(h.client.connect(address, { signal: controller.signal })), bound, 'connect() with an aborted signal did not settle')
    if (result.ok) h.opened.push(result.value)
    expectThat(!result.ok && isMsError(result.error, 'AbortError'), `connect() with an aborted signal ${result.ok ? 'resolved' : `rejected with ${describeError(result.error)}`}, not AbortError`)
  })

  check('rejects with AbortError when aborted during the dial, and leaves nothing open', async (h) => {
    const address = await h.serve(echo)
    const controller = new AbortController()
    const attempt = outcome(h.client.connect(address, { signal: controller.signal }))
    controller.abort()
    const result = await within(attempt, bound, 'connect() aborted during the dial did not settle')
    if (result.ok) h.opened.push(result.value)
    expectThat(!result.ok && isMsError(result.error, 'AbortError'), `connect() aborted during the dial ${result.ok ? 'resolved' : `rejected with ${describeError(result.error)}`}, not AbortError`)
    await h.closeListener()
    const leaked = await waitForNoLeaks(h.baseline, bound)
    expectThat(Object.keys(leaked).length === 0, `left open after an aborted dial: ${JSON.stringify(leaked)}`)
  })

  check('rejects with TimeoutError when the timeout passes first', async (h) => {
    const address = await h.serve(echo)
    const result = await within(outcome(h.client.connect(address, { timeout: 0 })), bound, 'connect() with timeout 0 did not settle')
    if (result.ok) h.opened.push(result.value)
    expectThat(!result.ok && isMsError(result.error, 'TimeoutError'), `connect() with timeout 0 ${result.ok ? 'resolved' : `rejected with ${describeError(result.error)}`}, not TimeoutError`)
  })

  check('closing the listener closes its open connections', async (h) => {
    const c = await h.dial(await h.serve(() => {}))
    // Exchange nothing: the server may still be mid-handshake or idle.
    await h.closeListener()
    await within(outcome(readAll(c.readable)), bound, 'the client readable did not finish after listener.close()')
  })

  check('graceful close waits for open connections to end', async (h) => {
    const c = await h.dial(await h.serve(echo))
    const reply = readAll(c.readable, Infinity, { ...idle, what: 'the echoed reply' })
    await writeAll(c.writable, text('x'), { close: false, ...idle })
    const closing = h.listener!.close({ graceful: true })
    h.listener = undefined
    // A negative can only be watched for a while: a graceful close that does not wait resolves within this.
    expectThat(await stillPending(closing, 100), 'listener.close({ graceful: true }) resolved while a connection was still open')
    await within(c.writable.close(), bound, "the client's writable.close() did not complete")
    expectThat(decode(await reply) === 'x', 'the echo did not arrive')
    await within(closing, bound, 'graceful close did not finish after the connection ended')
  })

  check(`serves ${r.parallel} connections in parallel`, async (h) => {
    const address = await h.serve(echo)
    const results = await Promise.all(
      Array.from({ length: r.parallel }, async (_, i) => {
        const c = await h.dial(address)
        const [, reply] = await Promise.all([writeAll(c.writable, text(`connection ${i}`), idle), readAll(c.readable, Infinity, idle)])
        return decode(reply)
      }),
    )
    results.forEach((got, i) => expectThat(got === `connection ${i}`, `connection ${i} got ${JSON.stringify(got)}`))
  })

  check('a slow reader makes the writer wait (backpressure)', async (h) => {
    const { c, accepted } = await h.dialHeld()
    const chunk = patternBytes(MiB, 17)
    const writer = c.writable.getWriter()
    let written = 0
    // Write until one write stays pending: the peer reads nothing.
    let pending: Promise<void> | undefined
    while (written <= r.backpressureLimit) {
      const write = writer.write(chunk)
      write.catch(() => {})
      if (await stillPending(write, 250)) {
        pending = write
        break
      }
      await write
      written += chunk.byteLength
    }
    expectThat(pending !== undefined, `the writer accepted ${written} bytes while the peer read nothing (limit ${r.backpressureLimit})`)
    // Now read: the writer must make progress again.
    const s = await accepted
    const reading = readAll(s.readable, Infinity, { ...idle, what: "the server's readable" })
    await within(pending!, bound, 'the held-back write did not complete once the peer read')
    written += chunk.byteLength
    await within(writer.close(), bound, 'close() after backpressure did not complete')
    const got = await reading
    expectThat(got.byteLength === written, `the server read ${got.byteLength} bytes of ${written}`)
  })

  check('aborting a writer blocked by a peer that reads nothing settles', async (h) => {
    const { c, accepted } = await h.dialHeld()
    const chunk = patternBytes(MiB, 23)
    const writer = c.writable.getWriter()
    let blocked: Promise<void> | undefined
    for (let written = 0; written <= r.backpressureLimit * 2; written += MiB) {
      const write = writer.write(chunk)
      write.catch(() => {})
      if (await stillPending(write, 250)) {
        blocked = write
        break
      }
    }
    expectThat(blocked !== undefined, 'no write stayed pending while the peer read nothing (no backpressure)')
    // WHATWG abort waits for the write in flight; the plugin must cut that
    // wait short instead of waiting for a reader that never comes.
    await within(outcome(writer.abort(new Error('compliance: the application gave up'))), bound, 'writer.abort() did not settle while a write was blocked')
    await within(outcome(blocked!), bound, 'the blocked write never settled after abort()')
    await accepted
  })

  check('gives typed errors for bad addresses', async (h) => {
    for (const [address, type] of [
      ['', 'AddressError'],
      ['net:host.com:8008~', 'AddressError'],
      ['zz-unknown:whatever', 'NoTransportError'],
    ] as const) {
      const result = await within(outcome(h.client.connect(address)), bound, `connect(${JSON.stringify(address)}) did not settle`)
      expectThat(!result.ok && isMsError(result.error, type), `connect(${JSON.stringify(address)}) gave ${result.ok ? 'a connection' : describeError(result.error)}, not ${type}`)
    }
  })

  check('gives a typed error when nothing listens at the address any more', async (h) => {
    const address = await h.serve(echo)
    await h.closeListener()
    const result = await within(outcome(h.client.connect(address, { timeout: 20_000 })), 25_000, 'connect() to a closed listener did not settle')
    if (result.ok) h.opened.push(result.value)
    expectThat(!result.ok && isMsError(result.error, 'MsError'), `connect() to a closed listener ${result.ok ? 'resolved' : `rejected with ${describeError(result.error)}`}, not an MsError`)
  })

  check('leaves no sockets, servers or timers behind after close', async (h) => {
    const c = await h.dial(await h.serve(echo))
    await Promise.all([writeAll(c.writable, text('bye'), idle), readAll(c.readable, Infinity, idle)])
    await within(c.close(), bound, 'close() did not resolve')
    await h.closeListener()
    await h.cleanup()
    const leaked = await waitForNoLeaks(h.baseline, bound)
    expectThat(Object.keys(leaked).length === 0, `left open after close: ${JSON.stringify(leaked)}`)
  })

  return checks
}

/** Reads what is left after `skip` bytes of `expected`: 'ended' or 'data'. */
async function readAfter(reader: ReadableStreamDefaultReader<Uint8Array>, got: number, expected: number): Promise<'ended' | 'data'> {
  let seen = got
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return 'ended'
    seen += value.byteLength
    if (seen > expected) return 'data'
  }
}

/** `closer.close()`: its peer's readable ends (not errors) and its writes fail; both `closed` resolve. */
async function closeReachesPeer(closer: Connection, peer: Connection, us: string, them: string, bound: number): Promise<void> {
  const reader = peer.readable.getReader()
  await within(closer.close(), bound, `the ${us}'s close() did not resolve`)
  const read = await within(outcome(reader.read()), bound, `after the ${us}'s close(), the ${them}'s readable neither ended nor errored: close() did not reach the peer`)
  if (!read.ok) throw new ComplianceError(`after the ${us}'s close() the ${them}'s readable errored (${describeError(read.error)}); close() is an orderly end: it must end`)
  expectThat(read.value.done === true, `after the ${us}'s close() the ${them}'s readable delivered data`)
  reader.releaseLock()
  await within(closer.closed, bound, `the ${us}'s \`closed\` did not resolve after close()`)
  expectStreamError(await writeUntilFails(peer, bound, `after the ${us}'s close(), the ${them}`), `after the ${us}'s close() the ${them}'s write failed`)
  await within(peer.closed, bound, `the ${them}'s \`closed\` did not resolve once its write had failed`)
}
