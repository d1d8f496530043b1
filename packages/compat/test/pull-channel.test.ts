import { once } from 'node:events'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { StreamError } from '@ms/core'
import { fromNodeSocket } from '@ms/core/node'
import { toPullDuplex } from '@ms/compat'
import pull from 'pull-stream'
import { afterEach, describe, expect, it } from 'vitest'
import { collect, countingSource, probeChannel, readOnce, tick } from './helpers.js'

const bytes = (...values: number[]) => new Uint8Array(values)

/** A duplex whose sink has started on a long source and is held by a full channel. */
function blockedWriter() {
  const probe = probeChannel()
  const stream = toPullDuplex(probe.connection)
  const upstream = countingSource(1000)
  probe.fill()
  stream.sink(upstream.source)
  return { probe, stream, upstream: upstream.state }
}

describe('toPullDuplex over a channel (no WHATWG streams)', () => {
  it('takes the channel on first use only, after which the connection’s streams are gone', () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    expect(probe.taken).toBe(false)
    stream.source(null, () => {})
    expect(probe.taken).toBe(true)
    expect(() => probe.connection.readable).toThrow(TypeError)
  })

  it('source: the channel flows only while a read is pending; what arrives unasked waits, in order', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    const first = readOnce(stream.source)
    expect(probe.log.paused).toBe(false)
    probe.push(bytes(1))
    expect((await first).data).toEqual(Buffer.from([1]))
    // Two chunks from one socket event, with nobody reading: kept, and the channel paused.
    probe.push(bytes(2))
    probe.push(bytes(3))
    expect(probe.log.paused).toBe(true)
    const resumes = probe.log.resumes
    expect((await readOnce(stream.source)).data).toEqual(Buffer.from([2]))
    expect((await readOnce(stream.source)).data).toEqual(Buffer.from([3]))
    // Answered from the queue: the channel stayed paused.
    expect(probe.log.resumes).toBe(resumes)
    const fourth = readOnce(stream.source)
    expect(probe.log.paused).toBe(false)
    probe.push(bytes(4))
    const got = await fourth
    expect(Buffer.isBuffer(got.data)).toBe(true)
    expect(got.data).toEqual(Buffer.from([4]))
  })

  it('source: the peer’s end arrives after the chunks before it', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection, { allowHalfOpen: true })
    stream.source(null, () => {})
    probe.push(bytes(9)) // answers the read above
    probe.push(bytes(1))
    probe.end()
    expect((await readOnce(stream.source)).data).toEqual(Buffer.from([1]))
    expect((await readOnce(stream.source)).end).toBe(true)
    expect((await readOnce(stream.source)).end).toBe(true)
    expect(probe.log.ended).toBe(false)
  })

  it('source: a broken connection ends the source with the MsError and aborts the sink’s upstream', async () => {
    const { probe, stream, upstream } = blockedWriter()
    const read = readOnce(stream.source)
    probe.fail(new StreamError('ECONNRESET', { address: 'net:probe' }))
    const { end } = await read
    expect(end).toBeInstanceOf(StreamError)
    expect((end as StreamError).address).toBe('net:probe')
    expect(upstream.aborted).toBe(end)
  })

  it('source: a corrupt incoming side (readError) ends only the source; writing goes on', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection, { allowHalfOpen: true })
    const read = readOnce(stream.source)
    probe.readFail(new StreamError('box-stream: bad MAC', { address: 'net:probe' }))
    expect((await read).end).toBeInstanceOf(StreamError)
    pull(pull.values([Buffer.from('still')]), stream.sink)
    await tick()
    expect(Buffer.concat(probe.log.written).toString()).toBe('still')
    expect(probe.log.ended).toBe(true)
    expect(probe.log.destroyed).toBe(false)
  })

  it('by default, the peer’s end ends our side too, and stops the sink’s upstream', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    let aborted: unknown
    stream.sink((abort, cb) => {
      if (abort) {
        aborted = abort
        return cb(abort)
      }
      // A live stream with nothing to say yet: never answers.
    })
    const read = readOnce(stream.source)
    probe.end()
    expect((await read).end).toBe(true)
    expect(probe.log.ended).toBe(true)
    expect(aborted).toBe(true)
  })

  it('by default, source abort(true) destroys the connection and stops the sink’s upstream', async () => {
    const { probe, stream, upstream } = blockedWriter()
    const { end } = await readOnce(stream.source, true)
    expect(end).toBe(true)
    expect(probe.log.destroyed).toBe(true)
    expect(upstream.aborted).toBe(true)
  })

  it('source abort(err) destroys the connection; later reads get the error', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    const reason = new Error('muxrpc gave up')
    expect((await readOnce(stream.source, reason)).end).toBe(reason)
    expect(probe.log.destroyed).toBe(true)
    expect((await readOnce(stream.source)).end).toBe(reason)
  })

  it('with allowHalfOpen, source abort(true) only stops reading; a pending read is answered first', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection, { allowHalfOpen: true })
    const order: string[] = []
    stream.source(null, (end) => order.push(`read:${end}`))
    stream.source(true, (end) => order.push(`abort:${end}`))
    expect(order).toEqual(['read:true', 'abort:true'])
    expect(probe.log.stoppedReading).toBe(true)
    expect(probe.log.destroyed).toBe(false)
    pull(pull.values([Buffer.from('after')]), stream.sink)
    expect(Buffer.concat(probe.log.written).toString()).toBe('after')
  })

  it('sink: reads upstream only while the channel takes more (backpressure), and goes on at drain', () => {
    const { probe, stream, upstream } = blockedWriter()
    expect(upstream.reads).toBe(1)
    expect(probe.log.written.length).toBe(1)
    probe.drain()
    // Not full any more: the synchronous source runs to its end, in a loop, not a recursion.
    expect(upstream.reads).toBe(1000)
    expect(probe.log.written.length).toBe(1000)
    expect(probe.log.ended).toBe(true)
  })

  it('sink: a long synchronous source does not grow the stack', () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    const { source, state } = countingSource(200_000, 1)
    stream.sink(source)
    expect(state.reads).toBe(200_000)
    expect(probe.log.ended).toBe(true)
  })

  it('sink: strings go out as UTF-8, empty chunks send nothing, bad chunks fail the connection', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    const read = readOnce(stream.source)
    let abortedWith: unknown
    let n = 0
    const items: unknown[] = ['é', new Uint8Array(0), 42]
    stream.sink((abort, cb) => {
      if (abort) {
        abortedWith = abort
        return cb(abort)
      }
      cb(null, items[n++] as never)
    })
    expect(Buffer.concat(probe.log.written).toString()).toBe('é')
    expect(probe.log.written.length).toBe(1)
    expect(abortedWith).toBeInstanceOf(TypeError)
    expect(probe.log.destroyed).toBe(true)
    // The reading side learns that we closed the connection.
    const { end } = await read
    expect(end).toBeInstanceOf(StreamError)
    expect((end as StreamError).cause).toBe(abortedWith)
  })

  it('sink: an error end destroys the connection', async () => {
    const probe = probeChannel()
    const stream = toPullDuplex(probe.connection)
    const boom = new Error('upstream failed')
    pull(pull.error(boom), stream.sink)
    expect(probe.log.destroyed).toBe(true)
    expect(probe.log.ended).toBe(false)
  })

  it('closing the connection underneath ends a pending read and stops the sink’s upstream', async () => {
    const { probe, stream, upstream } = blockedWriter()
    const read = readOnce(stream.source)
    await stream.connection.close()
    const { end } = await read
    expect(end).toBeInstanceOf(StreamError)
    expect(upstream.aborted).toBeInstanceOf(StreamError)
  })
})

describe('toPullDuplex over a real TCP connection (the socket channel)', () => {
  const sockets: Socket[] = []
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy()
  })

  async function tcpPair() {
    const server = createServer({ allowHalfOpen: true })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    const accepted = once(server, 'connection')
    const client = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true })
    await once(client, 'connect')
    const [serverSocket] = (await accepted) as [Socket]
    server.close()
    sockets.push(client, serverSocket)
    return {
      client: fromNodeSocket(client, { remoteAddress: `net:127.0.0.1:${port}`, direction: 'outbound' }),
      server: fromNodeSocket(serverSocket, { remoteAddress: 'net:127.0.0.1:client', direction: 'inbound' }),
    }
  }

  it('carries 4 MiB both ways at once and ends cleanly', async () => {
    const { client, server } = await tcpPair()
    const a = toPullDuplex(client, { allowHalfOpen: true })
    const b = toPullDuplex(server, { allowHalfOpen: true })
    const payload = (seed: number) => Array.from({ length: 64 }, (_, i) => Buffer.alloc(65536, (i * 7 + seed) & 0xff))
    const toB = collect(b.source).then((chunks) => Buffer.concat(chunks))
    const toA = collect(a.source).then((chunks) => Buffer.concat(chunks))
    pull(pull.values(payload(1)), a.sink)
    pull(pull.values(payload(2)), b.sink)
    const [gotB, gotA] = await Promise.all([toB, toA])
    expect(gotB.equals(Buffer.concat(payload(1)))).toBe(true)
    expect(gotA.equals(Buffer.concat(payload(2)))).toBe(true)
    // Both directions finished: the sockets are released without anyone closing them.
    await Promise.all([client.closed, server.closed])
  })
})
