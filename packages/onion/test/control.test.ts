// The publishing side against a fake Tor control port on 127.0.0.1, for
// the replies a real Tor rarely gives on demand (collisions, drops, aborts).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AbortError, createMultiServer, type MsError } from '@ms/core'
import { activeResources, waitForNoLeaks } from '@ms/compliance'
import { TorControl, TorControlError, onion } from '../src/index.js'
import { waitFor } from './helpers.js'

const SERVICE_ID = 'a'.repeat(55) + 'd'
const KEY = 'ED25519-V3:' + 'A'.repeat(86) + '=='

interface FakeControl {
  port: number
  lines: string[]
  sockets: Set<Socket>
  server: Server
}

const fakes: FakeControl[] = []

afterEach(async () => {
  for (const f of fakes.splice(0)) {
    for (const s of f.sockets) s.destroy()
    await new Promise((resolve) => f.server.close(resolve))
  }
})

/**
 * A control port that records each command line and answers with what
 * `answer` returns (`undefined`: no answer). Defaults mimic Tor.
 */
async function fakeControl(answer: (line: string, socket: Socket) => string | undefined = () => undefined): Promise<FakeControl> {
  const state: FakeControl = { port: 0, lines: [], sockets: new Set(), server: undefined as never }
  const server = createServer((socket) => {
    state.sockets.add(socket)
    socket.on('close', () => state.sockets.delete(socket))
    socket.on('error', () => {})
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let i: number
      while ((i = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        state.lines.push(line)
        const custom = answer(line, socket)
        const reply = custom ?? defaultAnswer(line)
        if (reply === 'QUIT') socket.end('250 closing connection\r\n')
        else if (reply !== undefined && reply !== '') socket.write(reply)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.server = server
  state.port = (server.address() as AddressInfo).port
  fakes.push(state)
  return state
}

function defaultAnswer(line: string): string | undefined {
  if (line.startsWith('PROTOCOLINFO')) {
    return '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=HASHEDPASSWORD\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n'
  }
  if (line.startsWith('AUTHENTICATE')) return '250 OK\r\n'
  if (line.startsWith('ADD_ONION NEW:')) return `250-ServiceID=${SERVICE_ID}\r\n250-PrivateKey=${KEY}\r\n250 OK\r\n`
  if (line.startsWith('ADD_ONION')) return `250-ServiceID=${SERVICE_ID}\r\n250 OK\r\n`
  if (line.startsWith('DEL_ONION') || line.startsWith('SETEVENTS')) return '250 OK\r\n'
  if (line === 'QUIT') return 'QUIT'
  return '510 Unrecognized command\r\n'
}

describe('the Tor control client', () => {
  it('parses multi-line replies, data blocks and events in between', async () => {
    const fake = await fakeControl((line) =>
      line === 'GETINFO config-text'
        ? '650 CIRC 1 LAUNCHED\r\n250+config-text=\r\nSocksPort 9050\r\n..dotted line\r\n.\r\n250 OK\r\n'
        : undefined,
    )
    const tor = await TorControl.connect({ port: fake.port })
    const events: string[][] = []
    tor.onEvent = (lines) => events.push(lines)
    const reply = await tor.command('GETINFO config-text')
    expect(reply).toEqual({ status: 250, lines: ['config-text=\nSocksPort 9050\n.dotted line', 'OK'] })
    expect(events).toEqual([['CIRC 1 LAUNCHED']])
    await tor.close()
    expect(fake.lines.at(-1)).toBe('QUIT')
  })

  it('authenticates with a quoted password', async () => {
    const fake = await fakeControl()
    const tor = await TorControl.connect({ port: fake.port })
    await tor.authenticate({ password: 'pa"ss\\word' })
    expect(fake.lines).toEqual(['PROTOCOLINFO 1', 'AUTHENTICATE "pa\\"ss\\\\word"'])
    await tor.close()
  })

  it('authenticates without credentials when Tor allows it, and with the cookie bytes when it asks', async () => {
    const open = await fakeControl((line) =>
      line.startsWith('PROTOCOLINFO') ? '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250 OK\r\n' : undefined,
    )
    const a = await TorControl.connect({ port: open.port })
    await a.authenticate({})
    expect(open.lines).toEqual(['PROTOCOLINFO 1', 'AUTHENTICATE'])
    await a.close()

    const cookie = await fakeControl((line) =>
      line.startsWith('PROTOCOLINFO') ? '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE COOKIEFILE="/nonexistent/cookie"\r\n250 OK\r\n' : undefined,
    )
    const b = await TorControl.connect({ port: cookie.port })
    await b.authenticate({ cookie: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) })
    expect(cookie.lines).toEqual(['PROTOCOLINFO 1', 'AUTHENTICATE deadbeef'])
    await b.close()
  })

  it('says why authentication failed', async () => {
    const fake = await fakeControl((line) => (line.startsWith('AUTHENTICATE') ? '515 Authentication failed: Password did not match\r\n' : undefined))
    const tor = await TorControl.connect({ port: fake.port })
    const error = await tor.authenticate({ password: 'wrong' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TorControlError)
    expect((error as TorControlError).code).toBe('TOR_AUTH')
    expect((error as TorControlError).status).toBe(515)
    expect((error as Error).message).toMatch(/Password did not match/)
    tor.destroy()

    const none = await fakeControl()
    const t2 = await TorControl.connect({ port: none.port })
    const e2 = await t2.authenticate({}).catch((e: unknown) => e)
    expect((e2 as TorControlError).code).toBe('TOR_AUTH')
    expect((e2 as Error).message).toMatch(/HASHEDPASSWORD.*password/)
    t2.destroy()
  })
})

describe('publishing through a (fake) control port', () => {
  it('adds the service for a loopback listener, hands back the key, removes it on close', async () => {
    const fake = await fakeControl()
    const keys: string[] = []
    const server = createMultiServer([[onion({ control: { port: fake.port, password: 'pw' }, onKey: (k) => keys.push(k.privateKey) })]])
    const listener = await server.listen(() => {})
    const add = fake.lines.find((l) => l.startsWith('ADD_ONION'))!
    // Tor forwards virtual port 8008 to our listener on 127.0.0.1 only.
    expect(add).toMatch(/^ADD_ONION NEW:ED25519-V3 Port=8008,127\.0\.0\.1:\d+$/)
    expect(server.stringify('public')).toBe(`onion:${SERVICE_ID}.onion:8008`)
    expect(server.stringify('local')).toBe('')
    expect(keys).toEqual([KEY])
    await listener.close()
    expect(fake.lines.slice(-2)).toEqual([`DEL_ONION ${SERVICE_ID}`, 'QUIT'])
  })

  it('passes a given key and scopes', async () => {
    const fake = await fakeControl()
    const transport = onion({ control: { port: fake.port, password: 'pw' }, privateKey: KEY, virtualPort: 80, scope: ['public', 'local'] })
    const listener = await transport.listen!(() => {}, {})
    expect(fake.lines.find((l) => l.startsWith('ADD_ONION'))).toMatch(new RegExp(`^ADD_ONION ${KEY.replace(/[+/]/g, '\\$&')} Port=80,127\\.0\\.0\\.1:\\d+$`))
    expect(transport.published).toMatchObject({ serviceId: SERVICE_ID, privateKey: KEY, generated: false })
    expect(listener.addresses('local')).toEqual([{ name: 'onion', data: [`${SERVICE_ID}.onion`, '80'] }])
    expect(listener.addresses('device')).toEqual([])
    await listener.close()
  })

  it('reports a collision (the key is published elsewhere) and cleans up', async () => {
    const fake = await fakeControl((line) => (line.startsWith('ADD_ONION') ? '550 Onion address collision\r\n' : undefined))
    const baseline = activeResources()
    const error = await onion({ control: { port: fake.port, password: 'pw' }, privateKey: KEY })
      .listen!(() => {}, {})
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TorControlError)
    expect((error as TorControlError).code).toBe('TOR_COLLISION')
    expect((error as TorControlError).status).toBe(550)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })

  it('reports an unreachable control port', async () => {
    const fake = await fakeControl()
    const port = fake.port
    await new Promise((resolve) => fake.server.close(resolve))
    fakes.splice(fakes.indexOf(fake), 1)
    const baseline = activeResources()
    const error = await onion({ control: { port } }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect((error as TorControlError).code).toBe('TOR_CONTROL_UNREACHABLE')
    expect((error as TorControlError).address).toBe(`127.0.0.1:${port}`)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })

  it('aborting while Tor has not published yet rejects with AbortError and leaves nothing open', async () => {
    // SETEVENTS accepted, but no HS_DESC event ever comes.
    const fake = await fakeControl()
    const baseline = activeResources()
    const controller = new AbortController()
    const listening = onion({ control: { port: fake.port, password: 'pw' }, waitForPublish: true }).listen!(() => {}, { signal: controller.signal })
    await waitFor(() => fake.lines.some((l) => l.startsWith('ADD_ONION')))
    controller.abort()
    await expect(listening).rejects.toBeInstanceOf(AbortError)
    await waitFor(() => fake.sockets.size === 0)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })

  it('fails at once when Tor drops the control connection before publishing', async () => {
    const fake = await fakeControl((line, socket) => {
      if (line.startsWith('ADD_ONION')) setTimeout(() => socket.destroy(), 20)
      return undefined
    })
    const started = Date.now()
    const error = await onion({ control: { port: fake.port, password: 'pw' }, waitForPublish: true })
      .listen!(() => {}, {})
      .catch((e: unknown) => e)
    expect((error as TorControlError).code).toBe('TOR_CONTROL_CLOSED')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('waits for the descriptor uploads when asked to', async () => {
    let socket: Socket | undefined
    const fake = await fakeControl((line, s) => {
      if (line.startsWith('ADD_ONION')) socket = s
      return undefined
    })
    const listening = onion({ control: { port: fake.port, password: 'pw' }, waitForPublish: true })
      .listen!(() => {}, {})
    await waitFor(() => socket !== undefined)
    const event = (what: string) => socket!.write(`650 HS_DESC ${what} ${SERVICE_ID} UNKNOWN $AAAA~relay\r\n`)
    event('UPLOAD')
    event('UPLOAD')
    event('UPLOADED')
    // (That one of two uploads is not enough is checked without a socket in uploads.test.ts.)
    event('FAILED')
    const listener = await listening
    expect(fake.lines).toContain('SETEVENTS HS_DESC')
    await listener.close()
  })

  it('reports a dropped control connection through onError', async () => {
    const fake = await fakeControl()
    const errors: MsError[] = []
    const server = createMultiServer([[onion({ control: { port: fake.port, password: 'pw' } })]])
    const listener = await server.listen(() => {}, { onError: (e) => errors.push(e) })
    for (const s of fake.sockets) s.destroy()
    await waitFor(() => errors.length === 1)
    expect(errors[0]).toBeInstanceOf(TorControlError)
    expect((errors[0] as TorControlError).code).toBe('TOR_CONTROL_CLOSED')
    expect(errors[0]!.address).toBe(`onion:${SERVICE_ID}.onion:8008`)
    await listener.close()
  })
})
