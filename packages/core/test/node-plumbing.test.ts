import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AbortError, DialError, LimitError, ListenError, TimeoutError, type MsError } from '../src/index.js'
import { checkSocketOptions, connectionLimit, dialSocket, listenServer, reportAcceptErrors } from '../src/node/index.js'
import { waitUntil } from './wait.js'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

async function listening(onSocket: (socket: Socket) => void = () => {}): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket)
  servers.push(server)
  await listenServer(server, { listen: { host: '127.0.0.1', port: 0 }, address: 'net:127.0.0.1:0' })
  return { server, port: (server.address() as { port: number }).port }
}

async function freePort(): Promise<number> {
  const { server, port } = await listening()
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('dialSocket', () => {
  it('resolves with the connected socket', async () => {
    const accepted: Socket[] = []
    const { port } = await listening((s) => accepted.push(s))
    const socket = await dialSocket({ connect: { host: '127.0.0.1', port }, address: `net:127.0.0.1:${port}` })
    expect(socket.remotePort).toBe(port)
    await waitUntil(() => accepted.length === 1, 'the server to accept')
    socket.destroy()
  })

  it('maps a refusal to DialError with the errno code, the address and the target', async () => {
    const port = await freePort()
    const error = await dialSocket({ connect: { host: '127.0.0.1', port }, address: 'onion:x.onion:1', target: 'the proxy' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).code).toBe('ECONNREFUSED')
    expect((error as DialError).address).toBe('onion:x.onion:1')
    expect((error as DialError).message).toMatch(/^could not connect to the proxy: /)
    expect(((error as DialError).cause as { code?: string }).code).toBe('ECONNREFUSED')
  })

  it('rejects at once for an aborted signal or a zero timeout, creating no socket', async () => {
    const { port } = await listening(() => expect.unreachable('no connection may be made'))
    await expect(dialSocket({ connect: { host: '127.0.0.1', port }, address: 'a', signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    await expect(dialSocket({ connect: { host: '127.0.0.1', port }, address: 'a', timeout: 0 })).rejects.toBeInstanceOf(TimeoutError)
  })

  it('an abort right after the call destroys the socket and rejects with the reason', async () => {
    const { port } = await listening()
    const controller = new AbortController()
    const dialling = dialSocket({ connect: { host: '127.0.0.1', port }, address: 'a', signal: controller.signal })
    const reason = new AbortError('changed my mind')
    controller.abort(reason)
    await expect(dialling).rejects.toBe(reason)
  })

  it('maps a synchronous validation error to DialError', async () => {
    const error = await dialSocket({ connect: { host: '127.0.0.1', port: 70000 }, address: 'net:127.0.0.1:70000' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).code).toBe('ERR_SOCKET_BAD_PORT')
  })
})

describe('listenServer', () => {
  it('maps a bind failure to ListenError with the errno code', async () => {
    const { port } = await listening()
    const second = createServer()
    const error = await listenServer(second, { listen: { host: '127.0.0.1', port }, address: `net:127.0.0.1:${port}` }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('EADDRINUSE')
    expect((error as ListenError).address).toBe(`net:127.0.0.1:${port}`)
    expect(second.listening).toBe(false)
  })

  it('an abort during the bind closes the server and rejects with AbortError; a pre-aborted signal binds nothing', async () => {
    const server = createServer()
    const controller = new AbortController()
    const binding = listenServer(server, { listen: { host: '127.0.0.1', port: 0 }, address: 'net:127.0.0.1:0', signal: controller.signal })
    controller.abort()
    await expect(binding).rejects.toBeInstanceOf(AbortError)
    await waitUntil(() => !server.listening, 'the server to close')
    const untouched = createServer()
    await expect(listenServer(untouched, { listen: { port: 0 }, address: 'x', signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    expect(untouched.listening).toBe(false)
  })

  it('reportAcceptErrors turns later server errors into ListenErrors for onError', async () => {
    const { server } = await listening()
    const errors: MsError[] = []
    reportAcceptErrors(server, 'net:127.0.0.1:1', (e) => errors.push(e))
    server.emit('error', Object.assign(new Error('too many open files'), { code: 'EMFILE' }))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ListenError)
    expect((errors[0] as ListenError).code).toBe('EMFILE')
  })
})

describe('connectionLimit', () => {
  it('admits up to max open sockets, refuses the next with a LimitError, and admits again once one closed', async () => {
    const errors: MsError[] = []
    const admit = connectionLimit(1, (e) => errors.push(e))
    const admitted: Socket[] = []
    const { port } = await listening((s) => {
      if (admit(s, `net:127.0.0.1:${s.remotePort}`)) admitted.push(s)
    })
    const first = createConnection({ host: '127.0.0.1', port })
    await waitUntil(() => admitted.length === 1, 'the first socket to be admitted')
    const second = createConnection({ host: '127.0.0.1', port })
    second.on('error', () => {})
    await new Promise((resolve) => second.once('close', resolve))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(LimitError)
    expect(errors[0]!.message).toMatch(/^too many open connections \(1\); closed one from net:127\.0\.0\.1:\d+$/)
    const closed = new Promise((resolve) => admitted[0]!.once('close', resolve))
    admitted[0]!.destroy()
    first.destroy()
    await closed
    const third = createConnection({ host: '127.0.0.1', port })
    await waitUntil(() => admitted.length === 2, 'a socket to be admitted again')
    third.destroy()
    admitted[1]!.destroy()
  })

  it('admits everything without a max', () => {
    const admit = connectionLimit(undefined, () => expect.unreachable())
    expect(admit({} as Socket, 'x')).toBe(true)
  })
})

describe('checkSocketOptions', () => {
  it('rejects a non-positive connectTimeout and a negative or fractional maxConnections, naming the transport', () => {
    expect(() => checkSocketOptions('net', { connectTimeout: 0 })).toThrow(/^net: connectTimeout/)
    expect(() => checkSocketOptions('unix', { maxConnections: -1 })).toThrow(/^unix: maxConnections/)
    expect(() => checkSocketOptions('unix', { maxConnections: 1.5 })).toThrow(TypeError)
    expect(() => checkSocketOptions('net', { connectTimeout: 1, maxConnections: 0 })).not.toThrow()
  })
})
