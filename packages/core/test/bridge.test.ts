import { describe, expect, it } from 'vitest'
import {
  MsError,
  StreamError,
  channelOf,
  connectionFromChannel,
  memoryPair,
  type ByteChannel,
  type ChannelSink,
  type Connection,
} from '../src/index.js'

/** Records what a channel delivers, with a promise per kind of event. */
function recorder() {
  const events: string[] = []
  const chunks: Uint8Array[] = []
  const waiters: { test: () => boolean; resolve: () => void }[] = []
  const check = () => {
    for (const w of waiters.splice(0)) {
      if (w.test()) w.resolve()
      else waiters.push(w)
    }
  }
  let error: MsError | undefined
  let readError: MsError | undefined
  const sink: ChannelSink = {
    data(chunk) {
      chunks.push(chunk)
      events.push('data')
      check()
    },
    end() {
      events.push('end')
      check()
    },
    drain() {
      events.push('drain')
      check()
    },
    error(e) {
      error = e
      events.push('error')
      check()
    },
    readError(e) {
      readError = e
      events.push('readError')
      check()
    },
  }
  const until = (test: () => boolean, what: string) =>
    test()
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${events.join(',')}`)), 5000)
          waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) })
        })
  const bytes = () => chunks.reduce((n, c) => n + c.byteLength, 0)
  return {
    sink,
    events,
    chunks,
    bytes,
    get error() {
      return error
    },
    get readError() {
      return readError
    },
    until,
    event: (name: string) => until(() => events.includes(name), name),
  }
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<number[]> {
  const out: number[] = []
  for await (const chunk of readable) out.push(...chunk)
  return out
}

/** A connection with streams only, whose parts the test controls. */
function scripted() {
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let writeController!: WritableStreamDefaultController
  const written: Uint8Array[] = []
  const log: string[] = []
  let release: (() => void) | undefined
  let blocked = false
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  const connection: Connection = {
    readable: new ReadableStream<Uint8Array>(
      {
        start: (c) => void (readController = c),
        cancel: (reason) => void log.push(`cancel:${String(reason)}`),
      },
      { highWaterMark: 0 },
    ),
    writable: new WritableStream<Uint8Array>({
      start: (c) => void (writeController = c),
      write(chunk) {
        written.push(chunk)
        if (blocked) return new Promise<void>((resolve) => (release = resolve))
      },
      close: () => void log.push('close'),
    }),
    remoteAddress: 'test:peer',
    direction: 'outbound',
    info: {},
    close(reason) {
      log.push(`connection.close:${reason instanceof Error ? reason.message : String(reason)}`)
      try {
        readController.error(new StreamError('closed'))
      } catch {}
      try {
        writeController.error(new StreamError('closed'))
      } catch {}
      resolveClosed()
      return closed
    },
    closed,
  }
  return {
    connection,
    written,
    log,
    push: (...bytes: number[]) => readController.enqueue(new Uint8Array(bytes)),
    endReadable: () => readController.close(),
    failReadable: (e: unknown) => readController.error(e),
    failWritable: (e: unknown) => writeController.error(e),
    /** Resolves `closed` without touching the streams (as a connection does once both directions finished). */
    release: () => resolveClosed(),
    block: () => void (blocked = true),
    unblock: () => {
      blocked = false
      release?.()
    },
  }
}

describe('channelOf', () => {
  it('returns the connection’s own channel when it offers one', () => {
    const channel = { halfClose: true } as unknown as ByteChannel
    const connection = { takeChannel: () => channel } as unknown as Connection
    expect(channelOf(connection)).toBe(channel)
  })

  it('bridges a streams-only connection: bytes both ways, half-close both ways', async () => {
    const { client, server } = memoryPair()
    const channel = channelOf(client)
    expect(channel.halfClose).toBe(true)
    expect(() => client.readable.getReader()).toThrow() // the streams are the channel's now
    const r = recorder()
    channel.start(r.sink)

    const serverWriter = server.writable.getWriter()
    await serverWriter.write(new Uint8Array([1, 2, 3]))
    await r.until(() => r.bytes() === 3, '3 bytes')
    expect([...r.chunks[0]!]).toEqual([1, 2, 3])

    expect(channel.write(new Uint8Array([4, 5]))).toBe(true)
    const reading = readAll(server.readable)
    await channel.end()
    expect(await reading).toEqual([4, 5])

    // Our side is closed, the peer's still carries data, then ends.
    await serverWriter.write(new Uint8Array([6]))
    await serverWriter.close()
    await r.event('end')
    expect(r.bytes()).toBe(4)
    expect(r.events).not.toContain('error')
    await client.closed
    await server.closed
  })

  it('pause holds back data until resume, which never delivers synchronously', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    s.push(1)
    await r.until(() => r.bytes() === 1, 'first byte')
    channel.pause()
    s.push(2)
    s.push(3)
    // Give the bridge every chance to deliver what it must not.
    for (let i = 0; i < 20; i++) await Promise.resolve()
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(r.bytes()).toBe(1)
    channel.resume()
    expect(r.bytes()).toBe(1)
    await r.until(() => r.bytes() === 3, 'the held bytes')
    expect(r.chunks.map((c) => c[0])).toEqual([1, 2, 3])
  })

  it('write returns false past the window and drain follows once the writable took the bytes', async () => {
    const s = scripted()
    s.block()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    const results: boolean[] = []
    for (let i = 0; i < 4; i++) results.push(channel.write(new Uint8Array(32 * 1024)))
    expect(results).toEqual([true, true, false, false])
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(r.events).not.toContain('drain')
    s.unblock()
    await r.event('drain')
    expect(r.events.filter((e) => e === 'drain')).toHaveLength(1)
    expect(s.written).toHaveLength(4)
  })

  it('an error of the readable is a readError: writing goes on', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    s.failReadable(new Error('corrupt'))
    await r.event('readError')
    expect(r.readError).toBeInstanceOf(StreamError)
    expect(r.readError!.address).toBe('test:peer')
    expect(channel.write(new Uint8Array([9]))).toBe(true)
    await channel.end()
    expect(s.written.map((c) => [...c])).toEqual([[9]])
    expect(s.log).toContain('close')
    expect(r.events).toEqual(['readError'])
  })

  it('a broken writable is an error, reported once, with the MsError kept as it is', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    const broken = new StreamError('reset', { address: 'test:peer' })
    s.failWritable(broken)
    await r.event('error')
    expect(r.error).toBe(broken)
    s.push(1)
    channel.write(new Uint8Array([1]))
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(r.events).toEqual(['error'])
    await expect(channel.end()).rejects.toBeInstanceOf(StreamError)
  })

  it('a failure before start is reported at start', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    s.failWritable(new Error('gone'))
    await new Promise((resolve) => setTimeout(resolve, 0))
    const r = recorder()
    channel.start(r.sink)
    expect(r.events).toEqual(['error'])
    expect(r.error).toBeInstanceOf(StreamError)
  })

  it('stopReading cancels the readable and leaves the writable open', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    channel.stopReading()
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(s.log).toEqual(['cancel:undefined'])
    expect(channel.write(new Uint8Array([7]))).toBe(true)
    await channel.end()
    expect(s.written.map((c) => [...c])).toEqual([[7]])
    expect(r.events).toEqual([])
  })

  it('destroy(error) reports the error while a direction is open and closes the connection with it', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    let made = 0
    channel.destroy(() => {
      made++
      return new StreamError('torn down', { address: 'test:peer' })
    })
    expect(made).toBe(1)
    expect(r.events).toEqual(['error'])
    expect(r.error!.message).toBe('torn down')
    await channel.closed
    expect(s.log).toContain('connection.close:torn down')
    channel.destroy(new StreamError('again'))
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(r.events).toEqual(['error'])
  })

  it('destroy() after both directions finished builds no error and closes without a reason', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    s.endReadable()
    await r.event('end')
    await channel.end()
    let made = 0
    channel.destroy(() => {
      made++
      return new StreamError('unused')
    })
    await channel.closed
    expect(made).toBe(0)
    expect(r.events).toEqual(['end'])
    expect(s.log).toContain('connection.close:undefined')
  })

  it('closed follows the delivery of the end, even when the connection resolved its own closed first', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    let closedAt = -1
    void channel.closed.then(() => (closedAt = r.events.length))
    await new Promise((resolve) => setTimeout(resolve, 0))
    s.release()
    s.endReadable()
    await channel.closed
    expect(r.events).toEqual(['end'])
    expect(closedAt).toBe(1)
  })

  it('closed waits for unread data while paused, and looks at a paused readable for its end', async () => {
    const s = scripted()
    const channel = channelOf(s.connection)
    const r = recorder()
    channel.start(r.sink)
    channel.pause()
    let closed = false
    void channel.closed.then(() => (closed = true))
    s.push(1)
    s.endReadable()
    s.release()
    await new Promise((resolve) => setTimeout(resolve, 10))
    // The data is held (paused), so nothing is over yet.
    expect(r.events).toEqual([])
    expect(closed).toBe(false)
    channel.resume()
    await channel.closed
    expect(r.events).toEqual(['data', 'end'])

    // A sink that pauses on each chunk leaves no read in flight; once the
    // connection is released, the bridge still looks and delivers the end.
    const t = scripted()
    const other = channelOf(t.connection)
    const r2 = recorder()
    other.start({ ...r2.sink, data: (chunk) => (r2.sink.data(chunk), other.pause()) })
    t.push(2)
    await r2.event('data')
    await new Promise((resolve) => setTimeout(resolve, 0))
    t.endReadable()
    t.release()
    await other.closed
    expect(r2.events).toEqual(['data', 'end'])
  })

  it('carries halfClose: false from the connection', () => {
    const { client } = memoryPair()
    const channel = channelOf(Object.assign(Object.create(client) as Connection, { halfClose: false, readable: client.readable, writable: client.writable }))
    expect(channel.halfClose).toBe(false)
  })

  it('round trip: lazy streams over the bridge carry 1 MiB each way with backpressure', async () => {
    const { client, server } = memoryPair({ highWaterMark: 16 * 1024 })
    const wrap = (c: Connection) => connectionFromChannel(channelOf(c), { remoteAddress: c.remoteAddress, direction: c.direction })
    const a = wrap(client)
    const b = wrap(server)
    const size = 1024 * 1024
    const data = new Uint8Array(size).map((_, i) => i * 7)
    const send = async (c: Connection) => {
      const w = c.writable.getWriter()
      for (let o = 0; o < size; o += 50_000) await w.write(data.slice(o, o + 50_000))
      await w.close()
    }
    const [, , got1, got2] = await Promise.all([send(a), send(b), readAll(b.readable), readAll(a.readable)])
    expect(got1.length).toBe(size)
    expect(got2.length).toBe(size)
    expect(got1.every((v, i) => v === data[i])).toBe(true)
    expect(got2.every((v, i) => v === data[i])).toBe(true)
    await Promise.all([a.close(), b.close()])
  })
})
