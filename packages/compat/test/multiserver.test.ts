import { AbortError, DialError, HandshakeError, MsError, memory } from '@ms/core'
import { MultiServer, splitAlternatives, type LegacyStream } from '@ms/compat'
import { shs } from '@ms/shs'
import pull from 'pull-stream'
import { afterEach, describe, expect, it } from 'vitest'
import { keyPair, randomAppKey, tick } from './helpers.js'

type Close = (cb?: (err?: Error | null) => void) => void
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  // Bounded, so a close that never calls back fails its test instead of hanging the hook.
  for (const c of cleanups.splice(0).reverse()) {
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([c(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))])
    clearTimeout(timer)
  }
})

function closeAsync(close: Close) {
  return new Promise<void>((resolve) => close(() => resolve()))
}

const appKey = randomAppKey()

function setup(options: { authorize?: (key: Uint8Array) => unknown; id?: string } = {}) {
  const keys = keyPair()
  const id = options.id ?? `compat-${Math.random().toString(36).slice(2)}`
  const ms = MultiServer([[memory({ id }), shs({ keys, appKey, authorize: options.authorize })]])
  return { ms, keys, id }
}

/** Starts a server whose streams echo; resolves once it listens. */
function startEcho(ms: ReturnType<typeof MultiServer>, seen: LegacyStream[] = [], errors: MsError[] = []) {
  return new Promise<Close>((resolve, reject) => {
    const close: Close = ms.server(
      (stream) => {
        seen.push(stream)
        pull(stream, stream)
      },
      (error) => errors.push(error),
      (err) => {
        if (err) return reject(err)
        cleanups.push(() => closeAsync(close))
        resolve(close)
      },
    )
  })
}

function connect(ms: ReturnType<typeof MultiServer>, address: string) {
  return new Promise<LegacyStream>((resolve, reject) => ms.client(address, (err, stream) => (err ? reject(err) : resolve(stream!))))
}

function echoOnce(stream: LegacyStream, text: string) {
  return new Promise<string>((resolve, reject) =>
    pull(
      pull.values([Buffer.from(text)]),
      stream,
      pull.collect((err: unknown, chunks: Buffer[]) => (err ? reject(err) : resolve(Buffer.concat(chunks).toString()))),
    ),
  )
}

describe('MultiServer (original call shape on ms)', () => {
  it('has name, stringify(scope) and parse like the original', async () => {
    const server = setup()
    expect(server.ms.name).toBe('mem~shs')
    // Nothing is advertised before the server runs.
    expect(server.ms.stringify()).toBe('')
    await startEcho(server.ms)
    const key = server.keys.publicKey.toString('base64')
    expect(server.ms.stringify()).toBe(`mem:${server.id}~shs:${key}`)
    expect(server.ms.stringify('device')).toBe(`mem:${server.id}~shs:${key}`)
    expect(server.ms.stringify('public')).toBe('')
    expect(server.ms.stringify('no-such-scope')).toBe('')
    const parsed = server.ms.parse(`net:x:1~shs:${key};mem:abc~shs:${key}`)
    expect(parsed[0]).toBeNull()
    expect(parsed[1]![0]).toEqual({ id: 'abc' })
    expect(Buffer.from((parsed[1]![1] as { publicKey: Uint8Array }).publicKey).equals(server.keys.publicKey)).toBe(true)
  })

  it('stream.address on both ends, remote and auth as the original shs sets them', async () => {
    const server = setup({ authorize: () => ({ allow: ['whoami'], deny: null }) })
    const seen: LegacyStream[] = []
    await startEcho(server.ms, seen)
    const client = setup()
    const stream = await connect(client.ms, server.ms.stringify())
    expect(await echoOnce(stream, 'ping')).toBe('ping')
    // Client side: the address we dialled, with the server's key.
    expect(stream.address).toBe(`mem:${server.id}~shs:${server.keys.publicKey.toString('base64')}`)
    expect(Buffer.isBuffer(stream.remote)).toBe(true)
    expect(Buffer.from(stream.remote!).equals(server.keys.publicKey)).toBe(true)
    expect(stream.auth).toBeUndefined()
    // Server side: the client's transport address, with the client's key; auth is what authorize returned.
    const inbound = seen[0]!
    expect(inbound.address).toMatch(/^mem:client-\d+~shs:/)
    expect(inbound.address.endsWith(`~shs:${client.keys.publicKey.toString('base64')}`)).toBe(true)
    expect(Buffer.from(inbound.remote!).equals(client.keys.publicKey)).toBe(true)
    expect(inbound.auth).toEqual({ allow: ['whoami'], deny: null })
  })

  it('skips alternatives it does not understand, and ones that do not even parse', async () => {
    const server = setup()
    await startEcho(server.ms)
    const client = setup()
    const address = `foo:bar;not an address!;ws://example.invalid:1~other:x;${server.ms.stringify()}`
    const stream = await connect(client.ms, address)
    expect(await echoOnce(stream, 'skip')).toBe('skip')
    // An array of alternatives is accepted as the original's split() does.
    const stream2 = await new Promise<LegacyStream>((resolve, reject) =>
      client.ms.client(['foo:bar', server.ms.stringify()], (err, s) => (err ? reject(err) : resolve(s!))),
    )
    expect(await echoOnce(stream2, 'array')).toBe('array')
  })

  it('fails with an error carrying the address when nothing is understood', async () => {
    const client = setup()
    const error = await connect(client.ms, 'foo:bar;baz:qux').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MsError)
    expect((error as MsError).address).toBe('foo:bar;baz:qux')
    expect(String((error as Error).message)).toContain('mem~shs')
    const bad = await connect(client.ms, '%%%').catch((e: unknown) => e)
    expect((bad as MsError).address).toBe('%%%')
  })

  it('err.address on handshake failure, on the client and on the server', async () => {
    const server = setup({ authorize: () => false })
    const errors: MsError[] = []
    await startEcho(server.ms, [], errors)
    const client = setup()
    const address = server.ms.stringify()
    const error = await connect(client.ms, address).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HandshakeError)
    expect((error as MsError).address).toBe(address)
    await tick(20)
    expect(errors.length).toBe(1)
    expect(errors[0]).toBeInstanceOf(HandshakeError)
    expect(errors[0]!.address).toMatch(/^mem:client-\d+~shs:/)

    // A wrong key: the address says which key we tried.
    const wrong = keyPair().publicKey.toString('base64')
    const error2 = await connect(client.ms, `mem:${server.id}~shs:${wrong}`).catch((e: unknown) => e)
    expect((error2 as MsError).address).toBe(`mem:${server.id}~shs:${wrong}`)
  })

  it('client() returns an abort that cancels a pending dial once, or ends an open stream', async () => {
    const server = setup()
    await startEcho(server.ms)
    const client = setup()
    const calls: unknown[] = []
    const abort = client.ms.client(server.ms.stringify(), (err, stream) => calls.push(err ?? stream))
    abort()
    await tick(20)
    expect(calls.length).toBe(1)
    expect(calls[0]).toBeInstanceOf(AbortError)

    const stream = await connect(client.ms, server.ms.stringify())
    const abort2 = client.ms.client(server.ms.stringify(), () => {})
    void abort2
    const ended = new Promise<unknown>((resolve) => pull(stream.source, pull.collect((err: unknown) => resolve(err))))
    await stream.connection.close()
    expect(await ended).toBeTruthy()
  })

  it('close(cb) waits for every server, also one closed before it started', async () => {
    const idA = `a-${Math.random().toString(36).slice(2)}`
    const idB = `b-${Math.random().toString(36).slice(2)}`
    const ms = MultiServer([[memory({ id: idA })], [memory({ id: idB })]])
    expect(ms.name).toBe('mem;mem')
    const close = await startEcho(ms)
    expect(ms.stringify()).toBe(`mem:${idA};mem:${idB}`)
    const client = MultiServer([[memory()]])
    const stream = await connect(client, `mem:${idB}`)
    expect(await echoOnce(stream, 'x')).toBe('x')
    let called = 0
    await new Promise<void>((resolve) =>
      close(() => {
        called++
        resolve()
      }),
    )
    expect(called).toBe(1)
    // Both listeners are gone by the time the callback runs.
    for (const id of [idA, idB]) {
      const error = await connect(client, `mem:${id}`).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DialError)
    }
    // A second close(cb) calls back too.
    await closeAsync(close)

    // Closed synchronously, before the listeners were up.
    const idC = `c-${Math.random().toString(36).slice(2)}`
    const ms2 = MultiServer([[memory({ id: idC })]])
    let started: unknown = 'never'
    const close2 = ms2.server(
      () => {},
      null,
      (err) => (started = err),
    )
    await closeAsync(close2)
    expect(started).toBe('never')
    const error = await connect(client, `mem:${idC}`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DialError)
  })

  it('reports a listener that cannot start to startedCb, and close(cb) still calls back', async () => {
    const id = `dup-${Math.random().toString(36).slice(2)}`
    const first = MultiServer([[memory({ id })]])
    await startEcho(first)
    const second = MultiServer([[memory({ id })]])
    const { err, close } = await new Promise<{ err: unknown; close: Close }>((resolve) => {
      const close: Close = second.server(
        () => {},
        null,
        (err) => resolve({ err, close }),
      )
    })
    expect((err as MsError).name).toBe('ListenError')
    await closeAsync(close)
  })

  it('by default close(cb) also closes open connections; graceful waits for them', async () => {
    const ms = MultiServer([[memory({ id: `g-${Math.random().toString(36).slice(2)}` })]])
    const close = await startEcho(ms)
    const stream = await connect(MultiServer([[memory()]]), ms.stringify())
    const ended = new Promise<unknown>((resolve) => pull(stream.source, pull.collect((err: unknown) => resolve(err ?? 'end'))))
    await closeAsync(close)
    expect(await ended).toBeTruthy()

    const graceful = MultiServer([[memory({ id: `h-${Math.random().toString(36).slice(2)}` })]], { graceful: true })
    const closeG = await startEcho(graceful)
    const s2 = await connect(MultiServer([[memory()]]), graceful.stringify())
    let closedCb = false
    closeG(() => (closedCb = true))
    await tick(20)
    expect(closedCb).toBe(false)
    // The echo still works while closing; ending our side lets the server finish.
    expect(await echoOnce(s2, 'bye')).toBe('bye')
    await tick(20)
    expect(closedCb).toBe(true)
  })
})

describe('splitAlternatives', () => {
  it('splits on unescaped ; only', () => {
    expect(splitAlternatives('a:b;c:d!;e;f')).toEqual(['a:b', 'c:d!;e', 'f'])
    expect(splitAlternatives('a:!!;b')).toEqual(['a:!!', 'b'])
  })
})
