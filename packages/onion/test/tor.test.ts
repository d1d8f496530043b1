// Everything here runs against a real, private and offline Tor network
// (test/tor/private-net.sh: three directory authorities, two relays, an
// onion-service host with a control port, a client with a SocksPort), started
// once for the whole file. Needs Debian's `tor` package.
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AbortError, TimeoutError, createMultiServer, type Connection } from '@ms/core'
import { activeResources, firstDifference, patternBytes, readAll, transportSuite, waitForNoLeaks } from '@ms/compliance'
import { generateKeyPair, type KeyPair } from '@ms/identity'
import { noise } from '@ms/noise'
import { shs } from '@ms/shs'
import { SocksReplyError, TorControlError, onion, type PublishedOnion } from '../src/index.js'
import { eof } from './eof.js'
import { bytes, readExactly, text, unusedOnion, write } from './helpers.js'
import { startTorNetwork, type TorNetwork } from './tor/network.js'

const MiB = 1024 * 1024
// Generous: on a loaded machine Tor's circuits take tens of seconds (idle: about a second).
const TOR_TIMEOUT = 90_000
let net: TorNetwork | undefined
let target: Server | undefined

function tor(): TorNetwork {
  if (!net) throw new Error('the Tor network did not start (see beforeAll)')
  return net
}

const socks = () => `127.0.0.1:${tor().socksPort}`
const control = () => ({ port: tor().controlPort, cookie: tor().controlCookie })

beforeAll(async () => {
  net = await startTorNetwork()
  // The network's own onion service forwards port 80 here.
  target = createServer((s) => {
    s.on('error', () => {})
    s.pipe(s)
  })
  await new Promise<void>((resolve, reject) => {
    target!.once('error', reject)
    target!.listen(tor().targetPort, '127.0.0.1', () => resolve())
  })
}, 180_000)

afterAll(async () => {
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()))
  await net?.down()
}, 60_000)

describe('dialling through Tor', () => {
  it("reaches the network's onion service and talks to it", async () => {
    const client = createMultiServer([[onion({ socks: socks() })]])
    const address = `onion:${tor().onion}:80`
    const c = await client.connect(address)
    try {
      expect(c.remoteAddress).toBe(address)
      expect(c.direction).toBe('outbound')
      await write(c, bytes('ping through tor'))
      expect(text(await readExactly(c, 16))).toBe('ping through tor')
    } finally {
      await c.close()
    }
  }, TOR_TIMEOUT)

  it('dials with per-connection SOCKS credentials (circuit isolation)', async () => {
    const transport = onion({ socks: socks(), isolate: true })
    const parsed = transport.parse({ name: 'onion', data: [tor().onion, '80'] })!
    const [a, b] = await Promise.all([transport.dial(parsed, {}), transport.dial(parsed, {})])
    try {
      await Promise.all([write(a, bytes('a')), write(b, bytes('b'))])
      expect(text(await readExactly(a, 1))).toBe('a')
      expect(text(await readExactly(b, 1))).toBe('b')
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }, TOR_TIMEOUT)

  it("translates Tor's refusal of an onion nobody publishes (0xF0)", async () => {
    const client = createMultiServer([[onion({ socks: socks() })]])
    const error = await client.connect(`onion:${unusedOnion()}:80`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SocksReplyError)
    expect((error as SocksReplyError).reply).toBe(0xf0)
    expect((error as SocksReplyError).code).toBe('ONION_DESCRIPTOR_NOT_FOUND')
  }, TOR_TIMEOUT)

  it('aborts a dial while Tor is still looking for the service, leaving nothing open', async () => {
    const baseline = activeResources()
    const client = createMultiServer([[onion({ socks: socks() })]])
    const controller = new AbortController()
    const attempt = client.connect(`onion:${unusedOnion()}:80`, { signal: controller.signal })
    // Tor needs a few hundred ms to ask the directories; abort well before.
    setTimeout(() => controller.abort(), 10)
    await expect(attempt).rejects.toBeInstanceOf(AbortError)
    expect(await waitForNoLeaks(baseline)).toEqual({})
  }, TOR_TIMEOUT)

  it('times out with TimeoutError after connectTimeout', async () => {
    const transport = onion({ socks: socks(), connectTimeout: 5 })
    const dial = transport.dial({ host: unusedOnion(), port: 80 }, {})
    await expect(dial).rejects.toBeInstanceOf(TimeoutError)
  })
})

describe('publishing an onion service', () => {
  it('publishes from a MultiServer; another MultiServer connects and moves 1 MiB each way', async () => {
    const keys: PublishedOnion[] = []
    const server = createMultiServer([[onion({ socks: socks(), control: control(), waitForPublish: true, onKey: (k) => keys.push(k) })]])
    const fromServer = patternBytes(MiB, 21)
    const fromClient = patternBytes(MiB, 22)
    let serverGot: Promise<Uint8Array> | undefined
    const accepted: Connection[] = []
    const listener = await server.listen((s) => {
      accepted.push(s)
      serverGot = readExactly(s, MiB)
      void write(s, fromServer).catch(() => {})
    })
    try {
      const address = server.stringify('public')
      expect(address).toMatch(/^onion:[a-z2-7]{56}\.onion:8008$/)
      expect(server.stringify('device')).toBe('')
      expect(keys).toHaveLength(1)
      expect(keys[0]!.address).toBe(address)
      expect(keys[0]!.generated).toBe(true)
      expect(keys[0]!.privateKey).toMatch(/^ED25519-V3:/)

      const client = createMultiServer([[onion({ socks: socks() })]])
      const c = await client.connect(address)
      try {
        const [, clientGot] = await Promise.all([write(c, fromClient), readExactly(c, MiB)])
        expect(firstDifference(clientGot, fromServer)).toBeNull()
        expect(firstDifference(await serverGot!, fromClient)).toBeNull()
        // Tor hides who connected; the inbound side says so.
        expect(accepted[0]!.remoteAddress).toBe('onion:unknown')
        expect(accepted[0]!.direction).toBe('inbound')
      } finally {
        await c.close()
      }
    } finally {
      await listener.close()
    }
  }, TOR_TIMEOUT)

  // shs and noise over onion, the same tests: both authenticate the client although Tor hides where
  // it is, and both carry a half-close in band (shs's goodbye, noise's FINAL), which Tor itself cannot.
  const appKey = randomBytes(32)
  const protocols = [
    { name: 'shs', transform: (keys: KeyPair) => shs({ keys, appKey }), peerKey: (c: Connection) => c.info.shs?.publicKey, seed: 31 },
    { name: 'noise', transform: (keys: KeyPair) => noise({ keys }), peerKey: (c: Connection) => c.info.noise?.publicKey, seed: 33 },
  ]

  for (const { name, transform, peerKey, seed } of protocols) {
    it(`carries ${name} on top: onion~${name} from one MultiServer to another, 1 MiB each way`, async () => {
      const clientKeys = generateKeyPair()
      const server = createMultiServer([[onion({ control: control(), waitForPublish: true }), transform(generateKeyPair())]])
      const fromServer = patternBytes(MiB, seed)
      const fromClient = patternBytes(MiB, seed + 1)
      let serverGot: Promise<Uint8Array> | undefined
      let accepted: Connection | undefined
      const listener = await server.listen((s) => {
        accepted = s
        serverGot = readExactly(s, MiB)
        void write(s, fromServer).catch(() => {})
      })
      try {
        const address = server.stringify('public')
        expect(address).toMatch(new RegExp(`^onion:[a-z2-7]{56}\\.onion:8008~${name}:[A-Za-z0-9+/]{43}=$`))
        const client = createMultiServer([[onion({ socks: socks() }), transform(clientKeys)]])
        const c = await client.connect(address)
        try {
          expect(c.remoteAddress).toBe(address)
          const [, clientGot] = await Promise.all([write(c, fromClient), readExactly(c, MiB)])
          expect(firstDifference(clientGot, fromServer)).toBeNull()
          expect(firstDifference(await serverGot!, fromClient)).toBeNull()
          // The handshake authenticated the client even though Tor hides where it is.
          expect(peerKey(accepted!)).toEqual(clientKeys.publicKey)
          expect(accepted!.remoteAddress.startsWith(`onion:unknown~${name}:`)).toBe(true)
          // The end travels in band, so the connection half-closes although Tor does not.
          expect(c.halfClose).toBeUndefined()
        } finally {
          await c.close()
        }
      } finally {
        await listener.close()
      }
    }, TOR_TIMEOUT)

    it(`half-closes through onion~${name}: the in-band end arrives, the reply still arrives`, async () => {
      const server = createMultiServer([[onion({ control: control(), waitForPublish: true }), transform(generateKeyPair())]])
      // The server answers only after the client's end: Tor alone would have
      // closed the stream both ways at the client's FIN.
      const listener = await server.listen((s) => {
        void readAll(s.readable).then((question) => write(s, bytes(`re: ${text(question)}`)).then(() => s.writable.close())).catch(() => {})
      })
      try {
        const client = createMultiServer([[onion({ socks: socks() }), transform(generateKeyPair())]])
        const c = await client.connect(server.stringify('public'))
        try {
          const reply = readAll(c.readable)
          await write(c, bytes('question'))
          await c.writable.close()
          expect(text(await reply)).toBe('re: question')
          await c.closed
        } finally {
          await c.close()
        }
      } finally {
        await listener.close()
      }
    }, TOR_TIMEOUT)
  }

  it('keeps the address across restarts with the key it handed back, and finds the cookie by itself', async () => {
    let first: PublishedOnion | undefined
    const a = onion({ control: control(), waitForPublish: true, onKey: (k) => (first = k) })
    const listenerA = await a.listen!(() => {}, {})
    expect(a.published?.serviceId).toBe(first!.serviceId)
    await listenerA.close()
    expect(a.published).toBeUndefined()

    // Same key again: Tor would answer "onion address collision" had the
    // first listener not removed its service (DEL_ONION) on close. No
    // cookie given: PROTOCOLINFO names the cookie file.
    const server = createMultiServer([
      [onion({ control: { port: tor().controlPort }, privateKey: first!.privateKey, virtualPort: 9999, waitForPublish: true })],
    ])
    const listener = await server.listen((s) => {
      void readExactly(s, 5).then((got) => write(s, got)).catch(() => {})
    })
    try {
      expect(server.stringify('public')).toBe(`onion:${first!.serviceId}.onion:9999`)
      const client = createMultiServer([[onion({ socks: socks() })]])
      const c = await client.connect(server.stringify('public'))
      await write(c, bytes('again'))
      expect(text(await readExactly(c, 5))).toBe('again')
      await c.close()
    } finally {
      await listener.close()
    }
  }, TOR_TIMEOUT)

  it('open connections outlive the closed listener (Tor keeps their circuits)', async () => {
    const transport = onion({ control: control(), waitForPublish: true })
    const accepted: Connection[] = []
    const listener = await transport.listen!((s) => {
      accepted.push(s)
      void s.readable.pipeTo(s.writable).catch(() => {})
    }, {})
    const address = transport.published!.address
    const client = onion({ socks: socks() })
    const c = await client.dial(client.parse({ name: 'onion', data: address.split(':').slice(1) })!, {})
    try {
      await write(c, bytes('before'))
      expect(text(await readExactly(c, 6))).toBe('before')
      await listener.close()
      await write(c, bytes('after'))
      expect(text(await readExactly(c, 5))).toBe('after')
    } finally {
      await c.close()
      await Promise.all(accepted.map((s) => s.close()))
    }
  }, TOR_TIMEOUT)

  it('closing the writable ends the whole stream: Tor does not carry half-closes', async () => {
    const transport = onion({ control: control(), waitForPublish: true })
    let resolveServer!: (c: Connection) => void
    const accepted = new Promise<Connection>((resolve) => (resolveServer = resolve))
    const listener = await transport.listen!(resolveServer, {})
    const client = onion({ socks: socks() })
    const c = await client.dial(client.parse({ name: 'onion', data: transport.published!.address.split(':').slice(1) })!, {})
    try {
      await write(c, bytes('question'))
      const s = await accepted
      expect(text(await readExactly(s, 8))).toBe('question')
      const clientEnded = readAll(c.readable)
      await c.writable.close()
      // The server sees the end of the stream, as with TCP...
      expect(await readAll(s.readable)).toHaveLength(0)
      // ...but the client's reading side ends too, without a reply: a FIN
      // makes Tor close the stream in both directions.
      expect(await clientEnded).toHaveLength(0)
      await s.close()
    } finally {
      await c.close()
      await listener.close()
    }
  }, TOR_TIMEOUT)

  it('rejects a wrong cookie with TorControlError TOR_AUTH and cleans up', async () => {
    const baseline = activeResources()
    const transport = onion({ control: { port: tor().controlPort, cookie: new Uint8Array(32) } })
    const error = await transport.listen!(() => {}, {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TorControlError)
    expect((error as TorControlError).code).toBe('TOR_AUTH')
    expect(await waitForNoLeaks(baseline)).toEqual({})
  })
})

// The shared transport suite, with a new onion service per test. Its tests
// half-close, which Tor cannot carry (see "closing the writable..." above and
// the README), so it runs over `onion~eof`, a test-only framing that ends
// streams in band: everything else (bytes intact, many writes, parallel
// streams, aborts, timeouts, listener close, leaks) is the onion transport's.
transportSuite({
  name: 'onion~eof (real Tor)',
  server: () => [onion({ socks: socks(), control: control(), waitForPublish: true }), eof()],
  client: () => [onion({ socks: socks() }), eof()],
  scope: 'public',
  largeBytes: 1 * MiB,
  parallel: 8,
  timeout: TOR_TIMEOUT,
  // Each awaited event (a chunk, an end, a settled abort) may take a circuit's round trips.
  eventTimeout: 30_000,
  // Tor's client takes in tens of MiB of a stream before it pushes back
  // (measured: 35-70 MiB), far more than a kernel socket.
  backpressureLimit: 128 * MiB,
})

// noise's FINAL gives half-close in band: the suite runs over onion~noise with no helper transform.
const noiseServerKeys = generateKeyPair()
const noiseClientKeys = generateKeyPair()
transportSuite({
  name: 'onion~noise (real Tor)',
  server: () => [onion({ socks: socks(), control: control(), waitForPublish: true }), noise({ keys: noiseServerKeys, timeout: TOR_TIMEOUT })],
  client: () => [onion({ socks: socks() }), noise({ keys: noiseClientKeys, timeout: TOR_TIMEOUT })],
  scope: 'public',
  largeBytes: 1 * MiB,
  parallel: 8,
  timeout: TOR_TIMEOUT,
  channel: true,
  backpressureLimit: 128 * MiB,
})
