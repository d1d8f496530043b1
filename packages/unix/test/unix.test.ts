import { spawn } from 'node:child_process'
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AbortError,
  DialError,
  LimitError,
  ListenError,
  createMultiServer,
  parseAddress,
  stringifySegment,
  type Connection,
  type MsError,
  type TransportListener,
} from '@ms/core'
import { readAll, waitUntil, writeAll } from '@ms/compliance'
import { unix } from '../src/index.js'

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ms-unix-test-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function start(options: Parameters<typeof unix>[0], onConnection: (c: Connection) => void = () => {}, onError?: (e: MsError) => void) {
  const listener = await unix(options).listen!(onConnection, { onError })
  cleanup.push(() => listener.close())
  return listener
}

function pathOf(listener: TransportListener): string {
  return listener.addresses('device')[0]!.data.join(':')
}

const parse = (text: string) => unix().parse(parseAddress(text)[0]!)

/** Connects, sends `text`, half-closes and returns what the server echoed. */
async function roundTrip(path: string, text: string): Promise<string> {
  const c = await unix().dial({ path }, {})
  const [, reply] = await Promise.all([writeAll(c.writable, new TextEncoder().encode(text)), readAll(c.readable)])
  await c.close()
  return new TextDecoder().decode(reply)
}

function echo(tag: string) {
  return (c: Connection) => {
    void (async () => {
      const data = await readAll(c.readable)
      await writeAll(c.writable, new TextEncoder().encode(`${tag}:${new TextDecoder().decode(data)}`))
    })().catch(() => {})
  }
}

describe('unix: addresses', () => {
  it('parses unix:<path>, colons included', () => {
    expect(parse('unix:/tmp/ms/socket')).toEqual({ path: '/tmp/ms/socket' })
    expect(parse('unix:/tmp/a:b/socket')).toEqual({ path: '/tmp/a:b/socket' })
    expect(parse('unix:relative/socket')).toEqual({ path: 'relative/socket' })
    expect(parse('unix:/a!~b')).toEqual({ path: '/a~b' })
  })

  it.each(['unix:', 'unix', 'net:/tmp/socket:1', 'unixx:/tmp/socket'])('rejects %s', (text) => {
    expect(parse(text)).toBeNull()
  })

  it('writes colons raw and escapes the rest; parse(stringify(o)) gives o back', () => {
    const transport = unix()
    expect(stringifySegment(transport.stringify!({ path: '/tmp/a:b/socket' }))).toBe('unix:/tmp/a:b/socket')
    expect(stringifySegment(transport.stringify!({ path: '/tmp/a~b;c' }))).toBe('unix:/tmp/a!~b!;c')
    for (const path of ['/tmp/x', '/a:b:c', '/a~b;c!d', 'rel']) {
      expect(transport.parse(parseAddress(stringifySegment(transport.stringify!({ path })))[0]!)).toEqual({ path })
    }
  })

  it('refuses a path the address grammar cannot carry', () => {
    expect(() => unix({ path: '/tmp/has space/socket' })).toThrow()
    expect(() => unix({ path: '' })).toThrow(TypeError)
  })

  it('only advertises in the device scope', async () => {
    const listener = await start({})
    expect(listener.addresses('device')).toHaveLength(1)
    expect(listener.addresses('local')).toEqual([])
    expect(listener.addresses('public')).toEqual([])
    const ms = createMultiServer([[unix()]])
    const running = await ms.listen(() => {})
    cleanup.push(() => running.close())
    expect(ms.stringify('device')).toMatch(/^unix:\//)
    expect(ms.stringify('local')).toBe('')
    expect(ms.stringify('public')).toBe('')
  })
})

describe('unix: listening', () => {
  it('default path: a private directory under os.tmpdir(), socket 0600, both removed on close', async () => {
    const listener = await unix().listen!(echo('a'), {})
    const path = pathOf(listener)
    expect(path.startsWith(tmpdir())).toBe(true)
    expect(lstatSync(path).isSocket()).toBe(true)
    expect(lstatSync(path).mode & 0o777).toBe(0o600)
    const dir = join(path, '..')
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(await roundTrip(path, 'hi')).toBe('a:hi')
    await listener.close()
    await listener.close()
    expect(existsSync(path)).toBe(false)
    expect(existsSync(dir)).toBe(false)
  })

  it('the socket is 0600 from the moment it appears, even with umask 0, and nothing else is left behind', async () => {
    const dir = tempDir()
    const path = join(dir, 'socket')
    let previous: number | undefined
    try {
      previous = process.umask(0)
    } catch {
      // Worker threads cannot change the umask; the check below still holds.
    }
    const modes = new Set<number>()
    let watching = true
    const watch = () => {
      try {
        modes.add(lstatSync(path).mode & 0o777)
      } catch {
        // not there yet
      }
      if (watching) setImmediate(watch)
    }
    watch()
    try {
      const listener = await start({ path })
      expect(pathOf(listener)).toBe(path)
    } finally {
      watching = false
      if (previous !== undefined) process.umask(previous)
    }
    modes.add(lstatSync(path).mode & 0o777)
    expect([...modes]).toEqual([0o600])
    // The staging directory is gone.
    expect(readdirSync(dir)).toEqual(['socket'])
  })

  it('removes the socket file on close, and only if it is still ours', async () => {
    const dir = tempDir()
    const path = join(dir, 'socket')
    const listener = await unix({ path }).listen!(() => {}, {})
    await listener.close()
    expect(existsSync(path)).toBe(false)
    expect(listener.addresses('device')).toEqual([])

    const second = await unix({ path }).listen!(() => {}, {})
    // Someone replaces the file (say, after deciding ours was stale).
    unlinkSync(path)
    writeFileSync(path, 'not yours')
    await second.close()
    expect(readFileSync(path, 'utf8')).toBe('not yours')
  })

  it('replaces a stale socket file left by a dead process', async () => {
    const dir = tempDir()
    const path = join(dir, 'socket')
    // A process that binds the socket and dies without cleaning up.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
    await new Promise((resolve) => child.once('exit', resolve))
    expect(lstatSync(path).isSocket()).toBe(true)
    const refused = await unix().dial({ path }, {}).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(DialError)
    expect((refused as DialError).code).toBe('ECONNREFUSED')

    const listener = await start({ path }, echo('fresh'))
    expect(pathOf(listener)).toBe(path)
    expect(lstatSync(path).mode & 0o777).toBe(0o600)
    expect(await roundTrip(path, 'x')).toBe('fresh:x')
  })

  it('a live socket is an EADDRINUSE ListenError and is left alone', async () => {
    const dir = tempDir()
    const path = join(dir, 'socket')
    await start({ path }, echo('first'))
    const error = await unix({ path }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('EADDRINUSE')
    expect((error as ListenError).address).toBe(`unix:${path}`)
    expect(await roundTrip(path, 'still')).toBe('first:still')
    expect(readdirSync(dir)).toEqual(['socket'])
  })

  it('a file that is not a socket is in the way: EADDRINUSE, file untouched', async () => {
    const dir = tempDir()
    const path = join(dir, 'socket')
    writeFileSync(path, 'precious')
    const error = await unix({ path }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('EADDRINUSE')
    expect(readFileSync(path, 'utf8')).toBe('precious')
  })

  it('a directory that does not exist is a ListenError', async () => {
    const dir = tempDir()
    const path = join(dir, 'missing', 'socket')
    const error = await unix({ path }).listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ListenError)
    expect((error as ListenError).code).toBe('ENOENT')
    expect((error as ListenError).address).toBe(`unix:${path}`)
  })

  it('several instances in one process listen, serve and close independently', async () => {
    const dir = tempDir()
    const a = await unix({ path: join(dir, 'a') }).listen!(echo('a'), {})
    const b = await unix().listen!(echo('b'), {})
    const c = await unix().listen!(echo('c'), {})
    cleanup.push(() => a.close(), () => b.close(), () => c.close())
    expect(new Set([pathOf(a), pathOf(b), pathOf(c)]).size).toBe(3)
    expect(await roundTrip(pathOf(a), '1')).toBe('a:1')
    expect(await roundTrip(pathOf(b), '2')).toBe('b:2')
    await a.close()
    expect(await roundTrip(pathOf(c), '3')).toBe('c:3')
    expect(await roundTrip(pathOf(b), '4')).toBe('b:4')
    // The same transport object can listen twice, too.
    const shared = unix()
    const d = await shared.listen!(echo('d'), {})
    const e = await shared.listen!(echo('e'), {})
    cleanup.push(() => d.close(), () => e.close())
    expect(pathOf(d)).not.toBe(pathOf(e))
    expect(await roundTrip(pathOf(e), '5')).toBe('e:5')
  })

  it('close() resolves promptly with connections open', async () => {
    const accepted: Connection[] = []
    const listener = await unix().listen!((c) => accepted.push(c), {})
    const path = pathOf(listener)
    const socket = createConnection({ path })
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    await waitUntil(() => accepted.length === 1, 'the server to accept the connection')
    const t0 = Date.now()
    await listener.close()
    expect(Date.now() - t0).toBeLessThan(500)
    expect(existsSync(path)).toBe(false)
    socket.destroy()
    await Promise.all(accepted.map((c) => c.close()))
  })

  it('aborting the listen signal closes the listener; an aborted one rejects', async () => {
    const controller = new AbortController()
    const listener = await unix().listen!(() => {}, { signal: controller.signal })
    const path = pathOf(listener)
    controller.abort()
    // The abort closed the listener at once; close() is that same closing, settled once the file is gone.
    expect(listener.addresses('device')).toEqual([])
    await listener.close()
    expect(existsSync(path)).toBe(false)
    await expect(unix().listen!(() => {}, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })

  it('an abort while the listen is under way rejects with AbortError and leaves no socket file', async () => {
    const dir = tempDir()
    for (const step of [0, 1, 2, 3]) {
      const path = join(dir, `s${step}`)
      const controller = new AbortController()
      const listening = unix({ path }).listen!(() => {}, { signal: controller.signal })
      // Abort after `step` turns of the event loop: before, during or just after the bind.
      for (let i = 0; i < step; i++) await new Promise((resolve) => setImmediate(resolve))
      controller.abort()
      const outcome: TransportListener | unknown = await listening.catch((error: unknown) => error)
      if (outcome instanceof Error) {
        expect(outcome).toBeInstanceOf(AbortError)
        expect(existsSync(path)).toBe(false)
      } else {
        // The listen finished before the abort: the abort closes it.
        await (outcome as TransportListener).close()
        expect(existsSync(path)).toBe(false)
      }
    }
    // Nothing is left behind: no staging directories, no socket files.
    expect(readdirSync(dir)).toEqual([])
  })

  it('maxConnections closes excess connections and reports a LimitError', async () => {
    const accepted: Connection[] = []
    const errors: MsError[] = []
    const listener = await start({ maxConnections: 1 }, (c) => accepted.push(c), (e) => errors.push(e))
    const path = pathOf(listener)
    const first = await unix().dial({ path }, {})
    await waitUntil(() => accepted.length === 1, 'the server to accept the first connection')
    const second = await unix().dial({ path }, {})
    cleanup.push(() => first.close(), () => second.close())
    await readAll(second.readable).catch(() => new Uint8Array())
    expect(accepted).toHaveLength(1)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(LimitError)
    await Promise.all(accepted.map((c) => c.close()))
  })
})

describe('unix: dial', () => {
  it('reports unix:<path> as the remote address on both ends', async () => {
    let inbound!: Connection
    const listener = await start({}, (c) => (inbound = c))
    const path = pathOf(listener)
    const c = await unix().dial({ path }, {})
    cleanup.push(() => c.close())
    await waitUntil(() => inbound !== undefined, 'the server to accept the connection')
    expect(c.remoteAddress).toBe(`unix:${path}`)
    expect(c.direction).toBe('outbound')
    expect(inbound.remoteAddress).toBe(`unix:${path}`)
    expect(inbound.direction).toBe('inbound')
    await inbound.close()
  })

  it('a missing socket file is a DialError ENOENT carrying the address', async () => {
    const path = join(tempDir(), 'nothing-here')
    const error = await unix().dial({ path }, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
    expect((error as DialError).code).toBe('ENOENT')
    expect((error as DialError).address).toBe(`unix:${path}`)
  })

  it('an aborted signal rejects with AbortError', async () => {
    const listener = await start({})
    await expect(unix().dial({ path: pathOf(listener) }, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
  })
})
