import { createConnection, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { concatBytes, createMultiServer, type Connection, type MsError, type Transform } from '@ms/core'
import { readAll } from '@ms/compliance'
import { PROXY_V2_SIGNATURE, net, type NetOptions, type ProxyProtocolError } from '../src/index.js'

const ascii = (text: string) => new TextEncoder().encode(text)
const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

interface Harness {
  port: number
  connections: Connection[]
  errors: MsError[]
  nextConnection(): Promise<Connection>
  nextError(): Promise<ProxyProtocolError>
}

async function start(proxyProtocol: NetOptions['proxyProtocol']): Promise<Harness> {
  const connections: Connection[] = []
  const errors: MsError[] = []
  const waiters: (() => void)[] = []
  const wake = () => waiters.splice(0).forEach((w) => w())
  const listener = await net({ proxyProtocol }).listen!(
    (c) => {
      connections.push(c)
      cleanup.push(() => c.close())
      wake()
    },
    {
      onError: (e) => {
        errors.push(e)
        wake()
      },
    },
  )
  cleanup.push(() => listener.close())
  const port = Number(listener.addresses('device')[0]!.data.at(-1))
  const until = <T>(take: () => T | undefined) =>
    new Promise<T>((resolve) => {
      const check = () => {
        const value = take()
        if (value !== undefined) resolve(value)
        else waiters.push(check)
      }
      check()
    })
  let seenC = 0
  let seenE = 0
  return {
    port,
    connections,
    errors,
    nextConnection: () => until(() => connections[seenC] && connections[seenC++]),
    nextError: () => until(() => errors[seenE] && (errors[seenE++] as ProxyProtocolError)),
  }
}

async function dial(port: number): Promise<Socket> {
  const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  cleanup.push(() => socket.destroy())
  return socket
}

const payload = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff)

function v2Inet(src: number[], sport: number, cmd = 1): Uint8Array {
  const body = [...src, 127, 0, 0, 1, sport >> 8, sport & 0xff, 0x1f, 0x48]
  return concatBytes([PROXY_V2_SIGNATURE, Uint8Array.of(0x20 | cmd, 0x11, 0, body.length), Uint8Array.from(body)])
}

/** Reads a channel (the byte fast path transforms take) to its end. */
function readChannel(connection: Connection): Promise<Uint8Array> {
  const channel = connection.takeChannel!()!
  expect(channel).toBeDefined()
  const chunks: Uint8Array[] = []
  return new Promise((resolve, reject) => {
    channel.start({
      data: (chunk) => chunks.push(Uint8Array.from(chunk)),
      end: () => resolve(concatBytes(chunks)),
      drain: () => {},
      error: reject,
      readError: reject,
    })
  })
}

describe('net proxyProtocol: the real client reaches the connection', () => {
  it('v1 header and data in one segment: remoteAddress is the client, the data arrives intact (streams)', async () => {
    const h = await start({ trusted: ['127.0.0.1'] })
    const socket = await dial(h.port)
    socket.end(concatBytes([ascii('PROXY TCP4 203.0.113.7 127.0.0.1 4242 8008\r\n'), payload]))
    const connection = await h.nextConnection()
    expect(connection.remoteAddress).toBe('net:203.0.113.7:4242')
    expect(await readAll(connection.readable)).toEqual(payload)
    expect(h.errors).toEqual([])
  })

  it('v2 header fed a few bytes at a time, data in the last piece: the channel path reads it intact', async () => {
    const h = await start({ trusted: ['127.0.0.0/8'] })
    const socket = await dial(h.port)
    const all = concatBytes([v2Inet([198, 51, 100, 9], 61000), payload])
    // Separate writes with a round trip between them cannot be coalesced.
    for (const piece of [all.subarray(0, 5), all.subarray(5, 14), all.subarray(14, 20), all.subarray(20, 27)]) {
      await new Promise<void>((resolve) => socket.write(piece, () => resolve()))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    // 27 of the header's 28 bytes: nothing handed over yet.
    expect(h.connections.length).toBe(0)
    socket.end(all.subarray(27))
    const connection = await h.nextConnection()
    expect(connection.remoteAddress).toBe('net:198.51.100.9:61000')
    expect(await readChannel(connection)).toEqual(payload)
  })

  it('an IPv6 client is written as net does (bare IPv6)', async () => {
    const h = await start({ trusted: ['127.0.0.1'] })
    const socket = await dial(h.port)
    socket.end(ascii('PROXY TCP6 2001:db8::5 ::1 7 8008\r\n'))
    expect((await h.nextConnection()).remoteAddress).toBe('net:2001:db8::5:7')
  })

  it('a LOCAL (health check) header keeps the socket address', async () => {
    const h = await start({ trusted: ['127.0.0.1'] })
    const socket = await dial(h.port)
    socket.end(concatBytes([v2Inet([1, 2, 3, 4], 5, 0), ascii('x')]))
    const connection = await h.nextConnection()
    expect(connection.remoteAddress).toBe(`net:127.0.0.1:${socket.localPort}`)
    expect(await readAll(connection.readable)).toEqual(ascii('x'))
  })

  it('a health check (LOCAL header, then close) is dropped quietly; LOCAL followed later by data is handed over', async () => {
    const h = await start({ trusted: ['127.0.0.1'] })
    const check = await dial(h.port)
    const gone = new Promise((resolve) => check.once('close', resolve))
    check.write(v2Inet([0, 0, 0, 0], 0, 0))
    await new Promise((resolve) => setTimeout(resolve, 50))
    check.destroy()
    await gone
    const later = await dial(h.port)
    later.write(v2Inet([0, 0, 0, 0], 0, 0))
    await new Promise((resolve) => setTimeout(resolve, 50))
    later.end(ascii('after'))
    const connection = await h.nextConnection()
    expect(connection.remoteAddress).toBe(`net:127.0.0.1:${later.localPort}`)
    expect(await readAll(connection.readable)).toEqual(ascii('after'))
    // The health check produced neither a connection nor an error.
    expect(h.connections.length).toBe(1)
    expect(h.errors).toEqual([])
  })

  it('not required: a connection without a header passes through unchanged, a silent one after the deadline', async () => {
    const h = await start({ trusted: ['10.0.0.0/8'], required: false, timeout: 300 })
    const plain = await dial(h.port)
    plain.end(payload)
    const first = await h.nextConnection()
    expect(first.remoteAddress).toBe(`net:127.0.0.1:${plain.localPort}`)
    expect(await readAll(first.readable)).toEqual(payload)
    const silent = await dial(h.port)
    const second = await h.nextConnection()
    expect(second.remoteAddress).toBe(`net:127.0.0.1:${silent.localPort}`)
    silent.end(ascii('late'))
    expect(await readAll(second.readable)).toEqual(ascii('late'))
    expect(h.errors).toEqual([])
  })
})

describe('net proxyProtocol: refused connections end with a typed error and touch nothing else', () => {
  async function refused(options: NetOptions['proxyProtocol'], send: (s: Socket) => void, reason: string) {
    const h = await start(options)
    const socket = await dial(h.port)
    // The server ends the connection: our side sees its end (or a reset).
    const closed = new Promise((resolve) => {
      socket.once('end', resolve)
      socket.once('close', resolve)
      socket.resume()
    })
    send(socket)
    const error = await h.nextError()
    expect(error.name).toBe('ProxyProtocolError')
    expect(error.reason).toBe(reason)
    expect(error.address).toBe(`net:127.0.0.1:${socket.localPort}`)
    await closed
    expect(h.connections.length).toBe(0)
    // The listener goes on serving well-formed connections.
    const good = await dial(h.port)
    good.end(concatBytes([ascii('PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n'), ascii('ok')]))
    const connection = await h.nextConnection()
    expect(connection.remoteAddress).toBe('net:192.0.2.1:1')
    expect(await readAll(connection.readable)).toEqual(ascii('ok'))
    return error
  }
  const line = ascii('PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n')

  it('required, no header', async () => {
    await refused({ trusted: ['127.0.0.1'] }, (s) => s.write(new Uint8Array(64).fill(1)), 'missing')
  })
  it('a header from an untrusted source (header optional)', async () => {
    const h = await start({ trusted: ['10.0.0.0/8'], required: false })
    const socket = await dial(h.port)
    socket.write(line)
    const error = await h.nextError()
    expect([error.name, error.reason, error.address]).toEqual(['ProxyProtocolError', 'untrusted', `net:127.0.0.1:${socket.localPort}`])
    expect(h.connections.length).toBe(0)
  })
  it('an untrusted source when the header is required: refused before reading', async () => {
    const h = await start({ trusted: ['10.0.0.0/8', '::1'] })
    const socket = await dial(h.port)
    const error = await h.nextError()
    expect([error.reason, error.address]).toEqual(['untrusted', `net:127.0.0.1:${socket.localPort}`])
  })
  it('malformed v1', async () => {
    await refused({ trusted: ['127.0.0.1'] }, (s) => s.write(ascii('PROXY TCP4 1.2.3.999 1.2.3.4 1 2\r\n')), 'malformed')
  })
  it('malformed v2 (bad version nibble)', async () => {
    const bad = v2Inet([1, 2, 3, 4], 5)
    bad[12] = 0x31
    await refused({ trusted: ['127.0.0.1'] }, (s) => s.write(bad), 'malformed')
  })
  it('v2 over the size cap', async () => {
    await refused({ trusted: ['127.0.0.1'], maxHeaderBytes: 64 }, (s) => s.write(concatBytes([PROXY_V2_SIGNATURE, Uint8Array.of(0x21, 0x11, 0x01, 0x00)])), 'too-large')
  })
  it('truncated: the peer ends inside the header', async () => {
    await refused({ trusted: ['127.0.0.1'] }, (s) => s.end(line.subarray(0, 20)), 'truncated')
  })
  it('timeout: a header that never completes', async () => {
    const error = await refused({ trusted: ['127.0.0.1'], timeout: 300 }, (s) => s.write(line.subarray(0, 20)), 'timeout')
    expect(error.message).toMatch(/300 ms/)
  })
  it('timeout: nothing at all, header required', async () => {
    await refused({ trusted: ['127.0.0.1'], timeout: 300 }, () => {}, 'timeout')
  })
})

describe('net proxyProtocol options', () => {
  it.each([{}, { trusted: ['nope'] }, { trusted: [], timeout: 0 }, { trusted: [], maxHeaderBytes: 10 }])('rejects %j', (options) => {
    expect(() => net({ proxyProtocol: options as never })).toThrow(TypeError)
  })
})

describe('net proxyProtocol with a MultiServer: per-source admission sees the real clients', () => {
  it('maxPendingPerSource caps each proxied client, not the proxy all of them come through', async () => {
    // A transform whose inbound handshakes hang until shed (silent peers).
    const pending: { address: string; aborted: boolean }[] = []
    const stall: Transform = {
      name: 'stall',
      parse: () => ({}),
      advertise: () => ({ name: 'stall', data: [] }),
      upgradeOutbound: async (c) => c,
      upgradeInbound: (connection, { signal }) =>
        new Promise<Connection>((_, reject) => {
          const entry = { address: connection.remoteAddress, aborted: false }
          pending.push(entry)
          signal?.addEventListener('abort', () => {
            entry.aborted = true
            reject(signal.reason)
          })
        }),
    }
    const errors: MsError[] = []
    const ms = createMultiServer([[net({ proxyProtocol: { trusted: ['127.0.0.1'] } }), stall]])
    const listener = await ms.listen(() => {}, { maxPendingUpgrades: 100, maxPendingPerSource: 2, onError: (e) => errors.push(e) })
    cleanup.push(() => listener.close())
    const port = Number(ms.stringify().split('~')[0]!.split(':').pop())
    const open = async (client: string, n: number) => {
      const socket = await dial(port)
      socket.write(ascii(`PROXY TCP4 ${client} 127.0.0.1 ${1000 + n} 8008\r\n`))
    }
    // Three clients, two handshakes each: all within the cap of 2 per source
    // (through one proxy address they would be 6 from 127.0.0.1).
    for (const [i, client] of ['192.0.2.1', '192.0.2.2', '192.0.2.3'].entries()) {
      await open(client, 2 * i)
      await open(client, 2 * i + 1)
    }
    await expect.poll(() => pending.length, { timeout: 10_000 }).toBe(6)
    expect(pending.map((p) => p.address).sort()).toEqual(['192.0.2.1:1000', '192.0.2.1:1001', '192.0.2.2:1002', '192.0.2.2:1003', '192.0.2.3:1004', '192.0.2.3:1005'].map((a) => `net:${a}`))
    expect(errors).toEqual([])
    // A third from 192.0.2.1 sheds that client's own idlest handshake, nobody else's.
    await open('192.0.2.1', 6)
        await expect.poll(() => errors.length, { timeout: 10_000 }).toBe(1)
    expect(errors[0]!.name).toBe('LimitError')
    expect(errors[0]!.message).toMatch(/192\.0\.2\.1 had more than 2 handshakes in progress/)
    expect(pending.filter((p) => p.aborted).map((p) => p.address)).toEqual(['net:192.0.2.1:1000'])
  })
})
