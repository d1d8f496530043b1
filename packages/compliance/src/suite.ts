import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  Deadline,
  createMultiServer,
  isMsError,
  type MsError,
  type MsErrorsByName,
  type Connection,
  type MultiServer,
  type MultiServerListener,
  type Scope,
  type Suite,
  type Transform,
  type Transport,
} from '@ms/core'
import { activeResources, waitForNoLeaks } from './handles.js'
import { memory } from '@ms/core'
import { echo, firstDifference, patternBytes, readAll, writeAll } from './streams.js'

/**
 * Matches an error by kind with `isMsError`, not `instanceof`: the transport
 * under test may have been built against another copy of @ms/core than the
 * one this suite imports, and its errors must still count.
 */
function kind(name: keyof MsErrorsByName): [(error: unknown) => boolean, string] {
  return [(error) => isMsError(error, name), `a ${name} (isMsError)`]
}

export interface TransportSuiteSetup {
  /** Shown in test names, e.g. `net (IPv4)`. */
  name: string
  /** A fresh server suite for each test (transport first, then transforms). */
  server: () => Suite
  /** A fresh client suite for each test. */
  client: () => Suite
  /** The scope whose advertised address the client dials. Default `device`. */
  scope?: Scope
  /** Bytes for the large round trip. Default 16 MiB. */
  largeBytes?: number
  /** Connections opened at once in the parallel test. Default 100. */
  parallel?: number
  /** Per-test timeout in ms. Default 60 s. */
  timeout?: number
  /**
   * Most bytes a writer may get accepted while the peer reads nothing.
   * Default 32 MiB (kernel socket buffers on loopback can hold several MiB).
   */
  backpressureLimit?: number
  /**
   * `true` when the dialled connections offer `takeChannel` (the
   * `ByteChannel` fast path, see @ms/core): the suite then checks that the
   * channel carries bytes both ways and replaces the streams. `false`
   * checks that they do not offer it. Default: not checked.
   */
  channel?: boolean
}

export interface TransformSuiteSetup {
  name: string
  /** Fresh server-side transforms for each test. */
  server: () => Transform[]
  /** Fresh client-side transforms for each test. */
  client: () => Transform[]
  /** The transport underneath. Default: the in-memory transport. */
  transport?: () => { server: Transport; client: Transport }
  largeBytes?: number
  parallel?: number
  timeout?: number
  backpressureLimit?: number
}

const MiB = 1024 * 1024

/**
 * The shared behaviour every transport (with or without transforms on top)
 * must show. Call at the top level of a vitest file.
 */
export function transportSuite(setup: TransportSuiteSetup): void {
  const scope = setup.scope ?? 'device'
  const large = setup.largeBytes ?? 16 * MiB
  const parallel = setup.parallel ?? 100
  const timeout = setup.timeout ?? 60_000
  const backpressureLimit = setup.backpressureLimit ?? 32 * MiB

  describe(`compliance: ${setup.name}`, () => {
    let server: MultiServer
    let client: MultiServer
    let listener: MultiServerListener | undefined
    let baseline: Map<string, number>
    const opened: Connection[] = []

    beforeEach(() => {
      baseline = activeResources()
      server = createMultiServer([setup.server()])
      client = createMultiServer([setup.client()])
    })

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((c) => c.close()))
      await listener?.close()
      listener = undefined
    })

    async function serve(onConnection: (c: Connection) => void, errors: MsError[] = []): Promise<string> {
      listener = await server.listen(onConnection, { onError: (e) => errors.push(e) })
      const address = server.stringify(scope)
      expect(address, `the server advertises an address in scope ${scope}`).not.toBe('')
      return address
    }

    async function dial(address: string): Promise<Connection> {
      const connection = await client.connect(address)
      opened.push(connection)
      return connection
    }

    it('round-trips one small message and ends cleanly', { timeout }, async () => {
      const address = await serve(echo)
      const c = await dial(address)
      expect(typeof c.remoteAddress).toBe('string')
      expect(c.direction).toBe('outbound')
      const message = new TextEncoder().encode('hello, multiserver')
      const [, reply] = await Promise.all([writeAll(c.writable, message), readAll(c.readable)])
      expect(new TextDecoder().decode(reply)).toBe('hello, multiserver')
    })

    if (setup.channel === false) {
      it('offers no channel (takeChannel)', { timeout }, async () => {
        const address = await serve(echo)
        const c = await dial(address)
        expect(c.takeChannel).toBeUndefined()
      })
    } else if (setup.channel) {
      it('hands over its channel once, which carries bytes both ways and replaces the streams', { timeout }, async () => {
        const address = await serve(echo)
        const c = await dial(address)
        const channel = c.takeChannel?.()
        expect(channel).toBeDefined()
        expect(c.takeChannel!()).toBeUndefined()
        expect(() => c.readable).toThrow(TypeError)
        const parts: Uint8Array[] = []
        const ended = new Promise<void>((resolve, reject) => {
          channel!.start({ data: (chunk) => void parts.push(chunk.slice()), end: resolve, drain: () => {}, error: reject, readError: reject })
        })
        const message = patternBytes(100_000, 9)
        channel!.write(message.subarray(0, 1000))
        channel!.write(message.subarray(1000))
        await channel!.end()
        await ended
        const reply = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
        let offset = 0
        for (const part of parts) reply.set(part, (offset += part.length) - part.length)
        expect(firstDifference(reply, message)).toBeNull()
        await c.close()
      })
    }

    it(`round-trips ${large / MiB} MiB intact`, { timeout }, async () => {
      const address = await serve(echo)
      const c = await dial(address)
      const data = patternBytes(large, 7)
      const [, reply] = await Promise.all([writeAll(c.writable, data, { chunkSize: 256 * 1024 }), readAll(c.readable)])
      expect(firstDifference(reply, data)).toBeNull()
    })

    it('round-trips many small writes in order', { timeout }, async () => {
      const address = await serve(echo)
      const c = await dial(address)
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
          if (i % 256 === 0) await writer.ready
        }
        await writer.close()
      })()
      const [, reply] = await Promise.all([writing, readAll(c.readable)])
      expect(firstDifference(reply, data)).toBeNull()
    })

    /** A dialled connection plus the server's end, which nothing reads until the test does. */
    async function dialHeld(): Promise<{ c: Connection; accepted: Promise<Connection> }> {
      let resolveServer!: (c: Connection) => void
      const accepted = new Promise<Connection>((resolve) => (resolveServer = resolve))
      const c = await dial(await serve(resolveServer))
      return { c, accepted }
    }

    it('half-closes from the client: the server reads to the end and can still reply', { timeout }, async () => {
      const { c, accepted } = await dialHeld()
      await writeAll(c.writable, new TextEncoder().encode('question'))
      const s = await accepted
      expect(s.direction).toBe('inbound')
      const question = await readAll(s.readable)
      expect(new TextDecoder().decode(question)).toBe('question')
      await writeAll(s.writable, new TextEncoder().encode('answer after your end'))
      expect(new TextDecoder().decode(await readAll(c.readable))).toBe('answer after your end')
      await withTimeout(Promise.all([c.closed, s.closed]), 5000, 'closed did not resolve after both sides ended')
    })

    it('half-closes from the server: the client reads to the end and can still send', { timeout }, async () => {
      const { c, accepted } = await dialHeld()
      // Some transforms only complete the server side after the client speaks.
      const s = await accepted
      await writeAll(s.writable, new TextEncoder().encode('greeting'))
      expect(new TextDecoder().decode(await readAll(c.readable))).toBe('greeting')
      await writeAll(c.writable, new TextEncoder().encode('late words'))
      expect(new TextDecoder().decode(await readAll(s.readable))).toBe('late words')
    })

    it('moves data both directions at once', { timeout }, async () => {
      const size = Math.min(large, 4 * MiB)
      const fromServer = patternBytes(size, 11)
      const fromClient = patternBytes(size, 13)
      let serverGot: Promise<Uint8Array> | undefined
      const address = await serve((s) => {
        serverGot = readAll(s.readable)
        void writeAll(s.writable, fromServer).catch(() => {})
      })
      const c = await dial(address)
      const [, clientGot] = await Promise.all([writeAll(c.writable, fromClient), readAll(c.readable)])
      expect(firstDifference(clientGot, fromServer)).toBeNull()
      expect(serverGot).toBeDefined()
      expect(firstDifference(await serverGot!, fromClient)).toBeNull()
    })

    it('rejects with AbortError when aborted before dialling', { timeout }, async () => {
      const address = await serve(echo)
      const controller = new AbortController()
      controller.abort()
      await expect(client.connect(address, { signal: controller.signal })).rejects.toSatisfy(...kind('AbortError'))
    })

    it('rejects with AbortError when aborted during the dial, and leaves nothing open', { timeout }, async () => {
      const address = await serve(echo)
      const controller = new AbortController()
      const attempt = client.connect(address, { signal: controller.signal })
      controller.abort()
      await expect(attempt).rejects.toSatisfy(...kind('AbortError'))
      await listener!.close()
      listener = undefined
      expect(await waitForNoLeaks(baseline)).toEqual({})
    })

    it('rejects with TimeoutError when the timeout passes first', { timeout }, async () => {
      const address = await serve(echo)
      await expect(client.connect(address, { timeout: 0 })).rejects.toSatisfy(...kind('TimeoutError'))
    })

    it('closing the listener closes its open connections', { timeout }, async () => {
      const address = await serve(() => {})
      const c = await dial(address)
      // Exchange nothing: the server may still be mid-handshake or idle.
      await listener!.close()
      listener = undefined
      const reading = readAll(c.readable).then(
        () => 'ended',
        () => 'errored',
      )
      expect(['ended', 'errored']).toContain(await withTimeout(reading, 10_000, 'client readable did not finish after listener.close()'))
    })

    it('graceful close waits for open connections to end', { timeout }, async () => {
      const address = await serve(echo)
      const c = await dial(address)
      const reply = readAll(c.readable)
      await writeAll(c.writable, new TextEncoder().encode('x'), { close: false })
      let closedYet = false
      const closing = listener!.close({ graceful: true }).then(() => (closedYet = true))
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(closedYet, 'graceful close waits while a connection is open').toBe(false)
      await c.writable.close()
      expect(new TextDecoder().decode(await reply)).toBe('x')
      await withTimeout(closing, 10_000, 'graceful close did not finish after the connection ended')
      listener = undefined
    })

    it(`serves ${parallel} connections in parallel`, { timeout }, async () => {
      const address = await serve(echo)
      const results = await Promise.all(
        Array.from({ length: parallel }, async (_, i) => {
          const c = await dial(address)
          const message = new TextEncoder().encode(`connection ${i}`)
          const [, reply] = await Promise.all([writeAll(c.writable, message), readAll(c.readable)])
          return new TextDecoder().decode(reply)
        }),
      )
      expect(results).toEqual(Array.from({ length: parallel }, (_, i) => `connection ${i}`))
    })

    it('a slow reader makes the writer wait (backpressure)', { timeout }, async () => {
      const { c, accepted } = await dialHeld()
      const chunk = patternBytes(MiB, 17)
      const writer = c.writable.getWriter()
      let accepted_ = 0
      let stop = false
      const total = backpressureLimit * 2
      const writing = (async () => {
        while (!stop && accepted_ < total) {
          await writer.write(chunk)
          accepted_ += chunk.byteLength
        }
      })()
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const acceptedWhileNotReading = accepted_
      expect(acceptedWhileNotReading, 'bytes accepted while the peer read nothing').toBeLessThan(backpressureLimit)
      // Now read: the writer must make progress again.
      stop = true
      const s = await accepted
      const reading = readAll(s.readable)
      await writing
      await writer.close()
      const got = await reading
      expect(got.byteLength).toBe(accepted_)
    })

    it('aborting a writer blocked by a peer that reads nothing settles', { timeout }, async () => {
      const { c, accepted } = await dialHeld()
      const chunk = patternBytes(MiB, 23)
      const writer = c.writable.getWriter()
      // Queue writes until one stays pending: the peer reads nothing, so
      // backpressure must hold a write back sooner or later.
      let blocked: Promise<void> | undefined
      for (let written = 0; written <= backpressureLimit * 2; written += MiB) {
        const write = writer.write(chunk)
        write.catch(() => {})
        const done = await Promise.race([write.then(() => true, () => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 250))])
        if (!done) {
          blocked = write
          break
        }
      }
      expect(blocked, 'a write stays pending while the peer reads nothing').toBeDefined()
      // WHATWG abort waits for the write in flight; the transport must cut
      // that wait short instead of waiting for a reader that never comes.
      // Settling at all (either way) within the bound is the behaviour checked.
      await withTimeout(writer.abort(new Error('the application gave up')).catch(() => {}), 10_000, 'writer.abort() did not settle while a write was blocked')
      await withTimeout(blocked!.catch(() => {}), 10_000, 'the blocked write never settled after abort()')
      await c.close()
      await (await accepted).close()
    })

    it('gives typed errors for bad addresses', { timeout }, async () => {
      await expect(client.connect('')).rejects.toSatisfy(...kind('AddressError'))
      await expect(client.connect('net:host.com:8008~')).rejects.toSatisfy(...kind('AddressError'))
      await expect(client.connect('zz-unknown:whatever')).rejects.toSatisfy(...kind('NoTransportError'))
    })

    it('gives a typed error when nothing listens at the address any more', { timeout }, async () => {
      const address = await serve(echo)
      await listener!.close()
      listener = undefined
      const error = await client.connect(address, { timeout: 20_000 }).then(
        (c) => {
          opened.push(c)
          return null
        },
        (e: unknown) => e,
      )
      expect(error).toSatisfy(...kind('MsError'))
    })

    it('leaves no sockets, servers or timers behind after close', { timeout }, async () => {
      const address = await serve(echo)
      const c = await dial(address)
      await Promise.all([writeAll(c.writable, new TextEncoder().encode('bye')), readAll(c.readable)])
      await c.close()
      opened.length = 0
      await listener!.close()
      listener = undefined
      expect(await waitForNoLeaks(baseline)).toEqual({})
    })
  })
}

/** The transport suite run over transforms, by default on the in-memory transport. */
export function transformSuite(setup: TransformSuiteSetup): void {
  const transports = setup.transport ?? (() => ({ server: memory(), client: memory() }))
  let pair: { server: Transport; client: Transport } | undefined
  const next = () => (pair ??= transports())
  transportSuite({
    name: `${setup.name} (transform)`,
    server: () => {
      const { server } = next()
      return [server, ...setup.server()] as Suite
    },
    client: () => {
      const { client } = next()
      pair = undefined
      return [client, ...setup.client()] as Suite
    },
    largeBytes: setup.largeBytes,
    parallel: setup.parallel,
    timeout: setup.timeout,
    backpressureLimit: setup.backpressureLimit,
  })
}

/** Settles like `promise`, or fails with `message` after `ms` (core's Deadline, the one bound). */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  const deadline = new Deadline({ timeout: ms })
  try {
    return await deadline.race(promise)
  } catch (error) {
    throw deadline.aborted && error === deadline.reason ? new Error(`${message} (within ${ms} ms)`) : error
  } finally {
    deadline.dispose()
  }
}
