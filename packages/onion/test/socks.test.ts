// The dialling side against a small fake SOCKS5 proxy on 127.0.0.1, so each
// reply code, authentication step and failure can be produced on demand.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AbortError, DialError, TimeoutError, createMultiServer } from '@ms/core'
import { activeResources, waitForNoLeaks } from '@ms/compliance'
import {
  DEFAULT_PROXIES,
  ProxyUnreachableError,
  SOCKS_REPLIES,
  SocksProtocolError,
  SocksReplyError,
  onion,
  parseProxy,
} from '../src/index.js'
import { bytes, readExactly, text, unusedOnion, waitFor, write } from './helpers.js'

interface Request {
  methods: number[]
  username?: string
  password?: string
  command: number
  addressType: number
  host: string
  port: number
}

type Behaviour =
  | { kind: 'reply'; code: number }
  | { kind: 'echo'; early?: Uint8Array }
  | { kind: 'hang' }
  | { kind: 'http' }
  | { kind: 'method'; method: number }
  | { kind: 'auth-fail' }

interface FakeProxy {
  port: number
  requests: Request[]
  sockets: Set<Socket>
  connections: number
  server: Server
}

const proxies: FakeProxy[] = []

afterEach(async () => {
  for (const p of proxies.splice(0)) {
    for (const s of p.sockets) s.destroy()
    await new Promise((resolve) => p.server.close(resolve))
  }
})

/** A SOCKS5 server that answers every CONNECT the way `behaviour` says. */
async function fakeProxy(behaviour: Behaviour): Promise<FakeProxy> {
  const state: FakeProxy = { port: 0, requests: [], sockets: new Set(), connections: 0, server: undefined as never }
  const server = createServer((socket) => {
    state.connections++
    state.sockets.add(socket)
    socket.on('close', () => state.sockets.delete(socket))
    socket.on('error', () => {})
    let buffer = Buffer.alloc(0)
    let stage: 'greeting' | 'auth' | 'request' | 'open' = 'greeting'
    const request: Partial<Request> = {}
    socket.on('data', (chunk: Buffer) => {
      if (stage === 'open') return void socket.write(chunk)
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        if (stage === 'greeting') {
          if (behaviour.kind === 'http') return void socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')
          if (buffer.length < 2 || buffer.length < 2 + buffer[1]!) return
          request.methods = [...buffer.subarray(2, 2 + buffer[1]!)]
          buffer = buffer.subarray(2 + buffer[1]!)
          if (behaviour.kind === 'method') return void socket.write(Uint8Array.of(5, behaviour.method))
          const method = request.methods.includes(2) ? 2 : 0
          socket.write(Uint8Array.of(5, method))
          stage = method === 2 ? 'auth' : 'request'
        } else if (stage === 'auth') {
          if (buffer.length < 2) return
          const ulen = buffer[1]!
          if (buffer.length < 3 + ulen) return
          const plen = buffer[2 + ulen]!
          if (buffer.length < 3 + ulen + plen) return
          request.username = buffer.subarray(2, 2 + ulen).toString()
          request.password = buffer.subarray(3 + ulen, 3 + ulen + plen).toString()
          buffer = buffer.subarray(3 + ulen + plen)
          if (behaviour.kind === 'auth-fail') return void socket.end(Uint8Array.of(1, 1))
          socket.write(Uint8Array.of(1, 0))
          stage = 'request'
        } else if (stage === 'request') {
          if (buffer.length < 5) return
          const length = buffer[4]!
          if (buffer.length < 7 + length) return
          request.command = buffer[1]
          request.addressType = buffer[3]
          request.host = buffer.subarray(5, 5 + length).toString()
          request.port = buffer.readUInt16BE(5 + length)
          buffer = buffer.subarray(7 + length)
          state.requests.push(request as Request)
          if (behaviour.kind === 'hang') return
          // Tor answers with an IPv4 0.0.0.0:0 bound address, refusal or not.
          const code = behaviour.kind === 'reply' ? behaviour.code : 0
          const reply = Uint8Array.of(5, code, 0, 1, 0, 0, 0, 0, 0, 0)
          if (code !== 0) return void socket.end(reply)
          // Bytes from the destination may arrive in the same packet as the reply.
          const early = behaviour.kind === 'echo' ? behaviour.early : undefined
          socket.write(early ? Buffer.concat([reply, early]) : reply)
          stage = 'open'
          if (buffer.length > 0) socket.write(buffer)
          return
        } else return
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.server = server
  state.port = (server.address() as AddressInfo).port
  proxies.push(state)
  return state
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const target = unusedOnion()

describe('dialling through a SOCKS5 proxy', () => {
  it('sends the onion name to the proxy as a domain name and carries bytes both ways', async () => {
    const proxy = await fakeProxy({ kind: 'echo', early: bytes('early') })
    const client = createMultiServer([[onion({ socks: `127.0.0.1:${proxy.port}` })]])
    const c = await client.connect(`onion:${target}:8008`)
    try {
      expect(proxy.requests).toEqual([{ methods: [0], command: 1, addressType: 3, host: target, port: 8008 }])
      expect(c.remoteAddress).toBe(`onion:${target}:8008`)
      // What came with the proxy's reply is the first thing read.
      expect(text(await readExactly(c, 5))).toBe('early')
      await write(c, bytes('and back'))
      expect(text(await readExactly(c, 8))).toBe('and back')
    } finally {
      await c.close()
    }
  })

  it('translates every SOCKS5 and Tor reply code into a typed error', async () => {
    const codes = [...Object.keys(SOCKS_REPLIES).map(Number), 0x42]
    for (const code of codes) {
      const proxy = await fakeProxy({ kind: 'reply', code })
      const transport = onion({ socks: { host: '127.0.0.1', port: proxy.port } })
      const error = await transport.dial({ host: target, port: 80 }, {}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SocksReplyError)
      expect(error).toBeInstanceOf(DialError)
      const e = error as SocksReplyError
      expect(e.reply).toBe(code)
      expect(e.address).toBe(`onion:${target}:80`)
      expect(e.proxy).toBe(`127.0.0.1:${proxy.port}`)
      expect(e.code).toBe(SOCKS_REPLIES[code]?.code ?? 'SOCKS_REPLY_0x42')
    }
  })

  it('names the codes the way RFC 1928 and tor\'s socks-extensions.txt do', async () => {
    const cases: [number, string][] = [
      [0x04, 'SOCKS_HOST_UNREACHABLE'],
      [0x06, 'SOCKS_TTL_EXPIRED'],
      [0xf0, 'ONION_DESCRIPTOR_NOT_FOUND'],
      [0xf1, 'ONION_DESCRIPTOR_INVALID'],
      [0xf2, 'ONION_INTRO_FAILED'],
      [0xf3, 'ONION_RENDEZVOUS_FAILED'],
      [0xf4, 'ONION_MISSING_CLIENT_AUTH'],
      [0xf5, 'ONION_WRONG_CLIENT_AUTH'],
      [0xf6, 'ONION_INVALID_ADDRESS'],
      [0xf7, 'ONION_INTRO_TIMEOUT'],
    ]
    for (const [code, name] of cases) {
      const proxy = await fakeProxy({ kind: 'reply', code })
      const error = await onion({ socks: `127.0.0.1:${proxy.port}` })
        .dial({ host: target, port: 80 }, {})
        .catch((e: unknown) => e)
      expect((error as DialError).code).toBe(name)
    }
  })

  it('reports no reachable proxy with every attempt, and tries the list in order', async () => {
    const [a, b] = [await closedPort(), await closedPort()]
    const error = await onion({ socks: [`127.0.0.1:${a}`, `127.0.0.1:${b}`] })
      .dial({ host: target, port: 80 }, {})
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProxyUnreachableError)
    const e = error as ProxyUnreachableError
    expect(e.code).toBe('ENOPROXY')
    expect(e.attempts.map((x) => x.proxy)).toEqual([`127.0.0.1:${a}`, `127.0.0.1:${b}`])
    expect(e.attempts.map((x) => (x.error as { code?: string }).code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED'])

    const proxy = await fakeProxy({ kind: 'echo' })
    const c = await onion({ socks: [`127.0.0.1:${a}`, `127.0.0.1:${proxy.port}`] }).dial({ host: target, port: 80 }, {})
    await c.close()
    expect(proxy.requests).toHaveLength(1)
  })

  it('uses the tor daemon, then Tor Browser, by default', () => {
    expect(DEFAULT_PROXIES).toEqual([
      { host: '127.0.0.1', port: 9050 },
      { host: '127.0.0.1', port: 9150 },
    ])
    expect(parseProxy('socks5h://[::1]:9050')).toEqual({ host: '::1', port: 9050 })
    expect(parseProxy('localhost:9150')).toEqual({ host: 'localhost', port: 9150 })
  })

  it('isolates circuits with fresh SOCKS credentials per dial, or the given ones', async () => {
    const proxy = await fakeProxy({ kind: 'echo' })
    const fresh = onion({ socks: `127.0.0.1:${proxy.port}`, isolate: true })
    await (await fresh.dial({ host: target, port: 80 }, {})).close()
    await (await fresh.dial({ host: target, port: 80 }, {})).close()
    const fixed = onion({ socks: `127.0.0.1:${proxy.port}`, isolate: { username: 'alice', password: 'pw' } })
    await (await fixed.dial({ host: target, port: 80 }, {})).close()
    const perAddress = onion({ socks: `127.0.0.1:${proxy.port}`, isolate: (address) => ({ username: address, password: 'x' }) })
    await (await perAddress.dial({ host: target, port: 81 }, {})).close()

    const [r1, r2, r3, r4] = proxy.requests
    // Only username/password is offered, so the proxy cannot skip it.
    expect(r1!.methods).toEqual([2])
    expect(r1!.username).toMatch(/^ms-[0-9a-f]{24}$/)
    expect(r2!.username).not.toBe(r1!.username)
    expect([r3!.username, r3!.password]).toEqual(['alice', 'pw'])
    expect(r4!.username).toBe(`onion:${target}:81`)
  })

  it('says when the proxy wants authentication we lack, or rejects ours', async () => {
    const wants = await fakeProxy({ kind: 'method', method: 0xff })
    const e1 = await onion({ socks: `127.0.0.1:${wants.port}` }).dial({ host: target, port: 80 }, {}).catch((e: unknown) => e)
    expect(e1).toBeInstanceOf(SocksProtocolError)
    expect((e1 as SocksProtocolError).code).toBe('SOCKS_AUTH_METHOD')

    const rejects = await fakeProxy({ kind: 'auth-fail' })
    const e2 = await onion({ socks: `127.0.0.1:${rejects.port}`, isolate: true }).dial({ host: target, port: 80 }, {}).catch((e: unknown) => e)
    expect((e2 as SocksProtocolError).code).toBe('SOCKS_AUTH_FAILED')
  })

  it('says when the port is not a SOCKS5 proxy', async () => {
    const http = await fakeProxy({ kind: 'http' })
    const error = await onion({ socks: `127.0.0.1:${http.port}` }).dial({ host: target, port: 80 }, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SocksProtocolError)
    expect((error as SocksProtocolError).code).toBe('SOCKS_PROTOCOL')
    expect((error as Error).message).toMatch(/not a SOCKS5 proxy/)
  })

  it('refuses a name whose checksum is wrong without asking the proxy', async () => {
    const proxy = await fakeProxy({ kind: 'echo' })
    const typo = target.slice(0, 10) + (target[10] === 'a' ? 'b' : 'a') + target.slice(11)
    const error = await onion({ socks: `127.0.0.1:${proxy.port}` }).dial({ host: typo, port: 80 }, {}).catch((e: unknown) => e)
    expect((error as DialError).code).toBe('ONION_INVALID_ADDRESS')
    expect(proxy.connections).toBe(0)
  })

  it('aborts while the proxy is still connecting, once, leaving no socket or timer', async () => {
    const proxy = await fakeProxy({ kind: 'hang' })
    const baseline = activeResources()
    const controller = new AbortController()
    const client = createMultiServer([[onion({ socks: `127.0.0.1:${proxy.port}` })]])
    const attempt = client.connect(`onion:${target}:80`, { signal: controller.signal })
    await waitFor(() => proxy.requests.length === 1)
    controller.abort()
    await expect(attempt).rejects.toBeInstanceOf(AbortError)
    await waitFor(() => proxy.sockets.size === 0)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })

  it('rejects at once when the signal is already aborted', async () => {
    const proxy = await fakeProxy({ kind: 'echo' })
    const controller = new AbortController()
    controller.abort()
    const dial = onion({ socks: `127.0.0.1:${proxy.port}` }).dial({ host: target, port: 80 }, { signal: controller.signal })
    await expect(dial).rejects.toBeInstanceOf(AbortError)
    expect(proxy.connections).toBe(0)
  })

  it('gives up after connectTimeout with TimeoutError, leaving nothing open', async () => {
    const proxy = await fakeProxy({ kind: 'hang' })
    const baseline = activeResources()
    const started = Date.now()
    const error = await onion({ socks: `127.0.0.1:${proxy.port}`, connectTimeout: 200 })
      .dial({ host: target, port: 80 }, {})
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).timeout).toBe(200)
    expect((error as TimeoutError).address).toBe(`onion:${target}:80`)
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    await waitFor(() => proxy.sockets.size === 0)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })
})
