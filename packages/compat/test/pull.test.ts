import { memoryPair, MsError, StreamError } from '@ms/core'
import { fromPullDuplex, toPullDuplex, type PullSource } from '@ms/compat'
import pull from 'pull-stream'
import { describe, expect, it } from 'vitest'
import { collect, countingSource, probeConnection, readOnce, tick } from './helpers.js'

const bytes = (...values: number[]) => new Uint8Array(values)

describe('toPullDuplex', () => {
  it('carries bytes both ways as Buffers; with allowHalfOpen a sink end only half-closes', async () => {
    const { client, server } = memoryPair()
    const a = toPullDuplex(client, { allowHalfOpen: true })
    const b = toPullDuplex(server, { allowHalfOpen: true })
    const received = collect(b.source)
    pull(pull.values([Buffer.from('hello '), new Uint8Array([119, 111]), 'rld']), a.sink)
    const chunks = await received
    expect(chunks.every((c) => Buffer.isBuffer(c))).toBe(true)
    expect(Buffer.concat(chunks).toString()).toBe('hello world')
    // The other direction is still open after the half-close.
    const back = collect(a.source)
    pull(pull.values([Buffer.from('reply')]), b.sink)
    expect(Buffer.concat(await back).toString()).toBe('reply')
    await client.closed
    await server.closed
  })

  it('sets address from the connection, remote and auth from what the transform learned', () => {
    const publicKey = new Uint8Array(32).fill(7)
    const { connection } = probeConnection({ remoteAddress: 'net:127.0.0.1:9~shs:abc', info: { shs: { publicKey, authorization: { allow: ['x'] } } } as never })
    const stream = toPullDuplex(connection)
    expect(stream.address).toBe('net:127.0.0.1:9~shs:abc')
    expect(Buffer.isBuffer(stream.remote)).toBe(true)
    expect(Buffer.from(stream.remote!).equals(Buffer.from(publicKey))).toBe(true)
    expect(stream.auth).toEqual({ allow: ['x'] })
    expect(stream.connection).toBe(connection)
    // The connection is not an own enumerable key: the stream looks like the original's.
    expect(Object.keys(stream).sort()).toEqual(['address', 'auth', 'remote', 'sink', 'source'])
  })

  it('gives noauth peers full permissions like the original noauth, and bare streams no remote/auth', () => {
    const noauth = toPullDuplex(probeConnection({ info: { noauth: { trusted: true } } as never }).connection)
    expect(noauth.auth).toEqual({ allow: null, deny: null })
    const bare = toPullDuplex(probeConnection().connection)
    expect('remote' in bare).toBe(false)
    expect('auth' in bare).toBe(false)
    const override = toPullDuplex(probeConnection().connection, { address: 'x:y', remote: new Uint8Array(32), auth: 'me' })
    expect(override.address).toBe('x:y')
    expect(override.auth).toBe('me')
  })

  it('source: reads the connection only when asked, at most one chunk ahead (over the bridged channel)', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    await tick(5)
    expect(probe.log.pulls).toBe(0)
    const first = readOnce(stream.source)
    await tick()
    expect(probe.log.pulls).toBe(1)
    probe.push(bytes(1, 2))
    expect((await first).data).toEqual(Buffer.from([1, 2]))
    // The channel keeps one read in flight; what it brings waits for the next read.
    await tick(5)
    expect(probe.log.pulls).toBe(2)
    probe.push(bytes(3))
    await tick(5)
    expect(probe.log.pulls).toBe(2)
    expect((await readOnce(stream.source)).data).toEqual(Buffer.from([3]))
    const second = readOnce(stream.source)
    await tick()
    probe.end()
    expect((await second).end).toBe(true)
    // After the end, reads answer end at once.
    expect((await readOnce(stream.source)).end).toBe(true)
  })

  it('source: a broken connection ends the source with the MsError', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    const read = readOnce(stream.source)
    await tick()
    probe.fail(new StreamError('ECONNRESET', { address: 'mem:probe' }))
    const { end } = await read
    expect(end).toBeInstanceOf(StreamError)
    expect((end as StreamError).address).toBe('mem:probe')
  })

  it('by default, the peer ending its side ends ours too (like a socket without allowHalfOpen), flushing first', async () => {
    const { client, server } = memoryPair()
    const a = toPullDuplex(client)
    const b = toPullDuplex(server)
    // b replies through a sink that would go on for ever; the peer's end stops it.
    let reads = 0
    let abortedWith: unknown
    b.sink((abort, cb) => {
      if (abort) {
        abortedWith = abort
        return cb(abort)
      }
      reads++
      if (reads <= 3) return cb(null, Buffer.from(`r${reads}`))
      // Then waits (a live stream with nothing to say yet).
    })
    const got = collect(a.source)
    pull(pull.values([Buffer.from('q')]), a.sink)
    expect(Buffer.concat(await collect(b.source)).toString()).toBe('q')
    // What b wrote before the end still arrives, then a's source ends.
    expect(Buffer.concat(await got).toString()).toBe('r1r2r3')
    expect(abortedWith).toBe(true)
    await client.closed
    await server.closed
  })

  it('by default, source abort(true) closes the whole connection, as the original destroys the socket', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    const { source, state } = countingSource(1000)
    probe.holdWrites()
    stream.sink(source)
    await tick(5)
    const { end } = await readOnce(stream.source, true)
    expect(end).toBe(true)
    expect(probe.log.closeCalls).toEqual([undefined])
    // The sink's upstream is told to stop too.
    expect(state.aborted).toBe(true)
  })

  it('with allowHalfOpen, source abort(true) cancels only the readable side; a pending read is answered first', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection, { allowHalfOpen: true })
    const order: string[] = []
    const pending = new Promise<unknown>((resolve) =>
      stream.source(null, (end) => {
        order.push('read')
        resolve(end)
      }),
    )
    await tick()
    const aborted = new Promise<unknown>((resolve) =>
      stream.source(true, (end) => {
        order.push('abort')
        resolve(end)
      }),
    )
    expect(await pending).toBe(true)
    expect(await aborted).toBe(true)
    expect(order).toEqual(['read', 'abort'])
    expect(probe.log.cancelCalls).toBe(1)
    expect(probe.log.closeCalls).toEqual([])
    // The writing side is still open.
    pull(pull.values([Buffer.from('still')]), stream.sink)
    await tick(5)
    expect(Buffer.concat(probe.log.written).toString()).toBe('still')
    expect(probe.log.closedWritable).toBe(true)
  })

  it('source: abort(err) tears the whole connection down with that error', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    const reason = new Error('muxrpc gave up')
    const { end } = await readOnce(stream.source, reason)
    expect(end).toBe(reason)
    expect(probe.log.closeCalls).toEqual([reason])
  })

  it('sink: reads upstream only while the writable has room (backpressure)', async () => {
    const probe = probeConnection()
    probe.holdWrites()
    const stream = toPullDuplex(probe.connection)
    const { source, state } = countingSource(1000, 16 * 1024)
    stream.sink(source)
    await tick(5)
    // One chunk in the underlying sink, the rest queued in the stream: the
    // bridge's 64 KiB window (5 chunks of 16 KiB), no more.
    expect(probe.log.written.length).toBe(1)
    expect(state.reads).toBe(5)
    // Once the writable took half the window, the sink reads on.
    for (let i = 0; i < 3; i++) {
      probe.acceptWrite()
      await tick()
    }
    expect(probe.log.written.length).toBe(4)
    expect(state.reads).toBe(8)
  })

  it('sink: end(true) closes the writable side only', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    pull(pull.values([Buffer.from('a'), Buffer.from('b')]), stream.sink)
    await tick(5)
    expect(Buffer.concat(probe.log.written).toString()).toBe('ab')
    expect(probe.log.closedWritable).toBe(true)
    expect(probe.log.closeCalls).toEqual([])
    // The reading side is still open.
    const read = readOnce(stream.source)
    await tick()
    probe.push(bytes(5))
    expect((await read).data).toEqual(Buffer.from([5]))
  })

  it('sink: an error end closes the connection with the error', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    const boom = new Error('upstream failed')
    pull(pull.error(boom), stream.sink)
    await tick(5)
    expect(probe.log.closeCalls).toEqual([boom])
  })

  it('sink: a connection that breaks aborts the upstream source with the error', async () => {
    const probe = probeConnection()
    probe.holdWrites()
    const stream = toPullDuplex(probe.connection)
    const { source, state } = countingSource(1000, 16 * 1024)
    stream.sink(source)
    await tick(5)
    probe.fail(new StreamError('ECONNRESET', { address: 'mem:probe' }))
    await tick(5)
    expect(state.aborted).toBeInstanceOf(StreamError)
    const readsAtFailure = state.reads
    await tick(5)
    expect(state.reads).toBe(readsAtFailure)
  })

  it('sink: a non-byte chunk aborts upstream with a TypeError and closes the connection', async () => {
    const probe = probeConnection()
    const stream = toPullDuplex(probe.connection)
    let aborted: unknown
    let sent = false
    stream.sink((abort, cb) => {
      if (abort) {
        aborted = abort
        return cb(abort)
      }
      if (sent) return cb(true)
      sent = true
      cb(null, { not: 'bytes' } as never)
    })
    await tick(5)
    expect(aborted).toBeInstanceOf(TypeError)
    expect(probe.log.closeCalls.length).toBe(1)
  })

  it('streams 4 MiB through memory with bounded buffering, byte for byte', async () => {
    const { client, server } = memoryPair({ highWaterMark: 16 * 1024 })
    const a = toPullDuplex(client)
    const b = toPullDuplex(server)
    const chunks: Buffer[] = []
    for (let i = 0; i < 256; i++) chunks.push(Buffer.alloc(16 * 1024, i))
    let produced = 0
    let maxAhead = 0
    let consumed = 0
    const source: PullSource<Uint8Array> = (abort, cb) => {
      if (abort) return cb(abort)
      if (produced >= chunks.length) return cb(true)
      cb(null, chunks[produced++])
      maxAhead = Math.max(maxAhead, produced * 16 * 1024 - consumed)
    }
    a.sink(source)
    // A slow consumer: the producer must not run ahead unboundedly.
    const received: Buffer[] = []
    await new Promise<void>((resolve, reject) => {
      const next = () =>
        b.source(null, (end, data) => {
          if (end === true) return resolve()
          if (end) return reject(end)
          received.push(data as Buffer)
          consumed += (data as Buffer).length
          setImmediate(next)
        })
      next()
    })
    expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true)
    // Two memory pipes of 16 KiB each plus a chunk in flight on either side.
    expect(maxAhead).toBeLessThan(128 * 1024)
  })
})

describe('fromPullDuplex', () => {
  it('reads the source only while a read is pending (high-water mark 0)', async () => {
    const { source, state } = countingSource(5)
    const connection = fromPullDuplex({ source, sink: pull.drain() }, { remoteAddress: 'pull:test' })
    await tick(5)
    expect(state.reads).toBe(0)
    const reader = connection.readable.getReader()
    const first = await reader.read()
    expect(first.value).toEqual(new Uint8Array(16).fill(1))
    await tick(5)
    expect(state.reads).toBe(1)
    for (let i = 0; i < 4; i++) await reader.read()
    expect((await reader.read()).done).toBe(true)
    expect(state.reads).toBe(5)
  })

  it('an error end errors the readable with a StreamError carrying the address', async () => {
    const connection = fromPullDuplex({ source: pull.error(new Error('bad')), sink: pull.drain() }, { remoteAddress: 'pull:x' })
    const reader = connection.readable.getReader()
    const error = await reader.read().then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamError)
    expect((error as MsError).address).toBe('pull:x')
  })

  it('cancelling the readable aborts the source (true, or the error)', async () => {
    const one = countingSource(10)
    const c1 = fromPullDuplex({ source: one.source, sink: pull.drain() })
    await c1.readable.cancel()
    expect(one.state.aborted).toBe(true)
    const two = countingSource(10)
    const c2 = fromPullDuplex({ source: two.source, sink: pull.drain() })
    const reason = new Error('stop')
    await c2.readable.cancel(reason)
    expect(two.state.aborted).toBe(reason)
  })

  it('each write resolves once the sink took its chunk (backpressure)', async () => {
    let read: PullSource<Uint8Array> | undefined
    const got: Uint8Array[] = []
    const connection = fromPullDuplex({ source: pull.empty(), sink: (r: PullSource<Uint8Array>) => void (read = r) })
    const writer = connection.writable.getWriter()
    let firstDone = false
    const w1 = writer.write(bytes(1)).then(() => (firstDone = true))
    void writer.write(bytes(2))
    await tick(5)
    expect(firstDone).toBe(false)
    expect(writer.desiredSize).toBeLessThanOrEqual(0)
    read!(null, (end, data) => got.push(data!))
    await w1
    expect(got).toEqual([Buffer.from([1])])
    read!(null, (end, data) => got.push(data!))
    await tick()
    expect(got.length).toBe(2)
    const closing = writer.close()
    let ended: unknown
    read!(null, (end) => (ended = end))
    await closing
    expect(ended).toBe(true)
  })

  it('aborting the writable ends the sink with the error; a sink abort errors the writable', async () => {
    let ended: unknown
    const c1 = fromPullDuplex({
      source: pull.empty(),
      sink: (read: PullSource<Uint8Array>) => read(null, (end) => (ended = end)),
    })
    const reason = new Error('give up')
    await c1.writable.abort(reason)
    expect(ended).toBe(reason)

    const c2 = fromPullDuplex({
      source: pull.empty(),
      sink: (read: PullSource<Uint8Array>) => read(new Error('sink says no'), () => {}),
    })
    const writer = c2.writable.getWriter()
    const error = await writer.write(bytes(1)).then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StreamError)
  })

  it('close() aborts the source, ends the sink, and resolves closed', async () => {
    const src = countingSource(10)
    let ended: unknown
    const connection = fromPullDuplex({
      source: src.source,
      sink: (read: PullSource<Uint8Array>) => read(null, (end) => (ended = end)),
    })
    await connection.close()
    expect(src.state.aborted).toBe(true)
    expect(ended).toBe(true)
    await connection.closed
    // Idempotent.
    await connection.close()
  })

  it('closed resolves once both directions finished normally', async () => {
    const connection = fromPullDuplex({ source: pull.values([Buffer.from('x')]), sink: pull.drain() })
    let isClosed = false
    void connection.closed.then(() => (isClosed = true))
    const text = await new Response(connection.readable).text()
    expect(text).toBe('x')
    await tick()
    expect(isClosed).toBe(false)
    await connection.writable.close()
    await connection.closed
  })

  it('round trip: toPullDuplex(fromPullDuplex(...)) over a memory pair keeps every byte and the ends', async () => {
    const { client, server } = memoryPair()
    const clientPull = toPullDuplex(client)
    const wrapped = fromPullDuplex(clientPull, { remoteAddress: clientPull.address, direction: 'outbound' })
    expect(wrapped.remoteAddress).toBe('mem:server')
    const payload = Buffer.alloc(300_000)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) % 251
    const echoed = (async () => {
      // The server echoes everything then half-closes.
      await server.readable.pipeTo(server.writable)
    })()
    const writer = wrapped.writable.getWriter()
    const reading = new Response(wrapped.readable).arrayBuffer()
    for (let i = 0; i < payload.length; i += 10_000) await writer.write(payload.subarray(i, i + 10_000))
    await writer.close()
    const back = Buffer.from(await reading)
    expect(back.equals(payload)).toBe(true)
    await echoed
    await wrapped.closed
  })
})
