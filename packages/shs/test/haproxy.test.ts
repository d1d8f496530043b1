import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMultiServer, isMsError, type Connection, type Transport } from '@ms/core'
import { dialSocket, fromNodeSocket } from '@ms/core/node'
import { net, type NetAddress } from '@ms/net'
import * as noble from '@ms/shs/noble'
import { readAll } from '@ms/compliance'
import { freePort, jsonLines, stopChild, waitForPort } from '../../net/test/processes.js'

// Real HAProxy (Debian's, installed by scripts/system-deps.sh) in TCP mode in
// front of two ms server processes (net~shs, PROXY protocol required from
// 127.0.0.1; test/fixtures/proxied-server.mjs, run from the built dist/).
// The configuration below is the one the README's "Running at scale" shows.

// Debian installs it in /usr/sbin, which an ordinary user's PATH may lack.
const haproxyBin = ['haproxy', '/usr/sbin/haproxy'].find((bin) => !spawnSync(bin, ['-v']).error)
const fixture = fileURLToPath(new URL('./fixtures/proxied-server.mjs', import.meta.url))
const dists = ['core', 'net', 'shs'].map((p) => fileURLToPath(new URL(`../../${p}/dist/index.js`, import.meta.url)))

const children: ChildProcess[] = []

const appKey = randomBytes(32).toString('base64')
const serverSeed = randomBytes(32)
const serverKey = noble.shsCrypto.signKeypairFromSeed(new Uint8Array(serverSeed)).publicKey
const clientKeys = noble.shsCrypto.signKeypairFromSeed(new Uint8Array(randomBytes(32)))

/**
 * The client: net~shs, with a net transport that remembers the local port
 * of each socket it dials, so the test knows the client's real address.
 */
const localPorts: number[] = []
const base = net()
const recordingNet: Transport<NetAddress> = {
  ...base,
  async dial({ host, port }, { signal } = {}): Promise<Connection> {
    const address = `net:${host}:${port}`
    const socket = await dialSocket({ connect: { host, port, allowHalfOpen: true }, address, signal })
    localPorts.push(socket.localPort!)
    return fromNodeSocket(socket, { remoteAddress: address, direction: 'outbound' })
  },
}
const client = createMultiServer([[recordingNet, noble.shs({ keys: clientKeys, appKey })]])
const shsPart = `shs:${Buffer.from(serverKey).toString('base64')}`
/** What the server's connection says about our client: its net address, then its key. */
const seenAs = (port: number) => `net:127.0.0.1:${port}~shs:${Buffer.from(clientKeys.publicKey).toString('base64')}`

/** One request through HAProxy: what the backend answered, and our source port. */
async function request(port: number): Promise<{ backend: string; seen: string; localPort: number }> {
  const connection = await client.connect(`net:127.0.0.1:${port}~${shsPart}`, { timeout: 10_000 })
  const localPort = localPorts.at(-1)!
  const text = new TextDecoder().decode(await readAll(connection.readable))
  await connection.close()
  const [backend, seen] = text.trim().split(' ') as [string, string]
  return { backend, seen, localPort }
}

describe('net~shs behind HAProxy (PROXY protocol)', () => {
  let dir: string
  let haproxy: ChildProcess
  let haproxyLog = ''
  const servers: { name: string; port: number; out: ReturnType<typeof jsonLines> }[] = []
  const front = { v2: 0, v1: 0, none: 0 }

  beforeAll(async () => {
    if (haproxyBin === undefined) {
      throw new Error('haproxy is not installed: run scripts/system-deps.sh (Debian: apt-get install haproxy)')
    }
    for (const dist of dists) if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`pnpm build\` first (the servers run the built packages)`)
    for (const name of ['alpha', 'beta']) {
      const child = spawn(process.execPath, [fixture, JSON.stringify({ name, seed: serverSeed.toString('base64'), appKey })], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.push(child)
      let stderr = ''
      child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t))
      const out = jsonLines(child)
      const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`server ${name} exited (${code}): ${stderr}`))))
      const ready = await Promise.race([out.waitFor((l) => 'listening' in l, `${name} listening`), exited])
      const address = String(ready.listening)
      expect(address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:\\d+~${shsPart.replace(/[+/]/g, '\\$&')}$`))
      servers.push({ name, port: Number(address.split('~')[0]!.split(':')[2]), out })
    }
    front.v2 = await freePort()
    front.v1 = await freePort()
    front.none = await freePort()
    dir = mkdtempSync(join(tmpdir(), 'ms-haproxy-'))
    const config = haproxyConfig(front, servers)
    writeFileSync(join(dir, 'haproxy.cfg'), config)
    haproxy = spawn(haproxyBin, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(haproxy)
    haproxy.stdout!.setEncoding('utf8').on('data', (t: string) => (haproxyLog += t))
    haproxy.stderr!.setEncoding('utf8').on('data', (t: string) => (haproxyLog += t))
    // Ready once every frontend accepts (each probe is a connection that
    // says nothing, which the backends report; they are ignored below).
    for (const port of Object.values(front)) await waitForPort(port, { child: haproxy, name: 'haproxy', log: () => haproxyLog })
  }, 60_000)

  afterAll(async () => {
    await Promise.all(children.map((c) => stopChild(c)))
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  for (const version of ['v2', 'v1'] as const) {
    it(`send-proxy${version === 'v2' ? '-v2' : ''}: each backend sees the client's own address and port; both get traffic`, async () => {
      const answers = []
      for (let i = 0; i < 6; i++) answers.push(await request(front[version]))
      for (const { seen, localPort } of answers) expect(seen).toBe(seenAs(localPort))
      expect(new Set(answers.map((a) => a.backend))).toEqual(new Set(['alpha', 'beta']))
      // And the servers logged the same addresses on their side.
      for (const { backend, localPort } of answers) {
        const server = servers.find((s) => s.name === backend)!
        await server.out.waitFor((l) => l.connection === seenAs(localPort), `connection from ${localPort}`)
      }
    }, 60_000)
  }

  it('no header (a backend without send-proxy): the connection is refused with ProxyProtocolError, the client gets an error', async () => {
    const before = servers.map((s) => s.out.seen.length)
    const failure = await request(front.none).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(isMsError(failure)).toBe(true)
    // HAProxy's own connection (from 127.0.0.1, a port other than ours) was refused as `missing`.
    const ourPort = localPorts.at(-1)
    const refusal = await Promise.any(
      servers.map((s, i) =>
        s.out.waitFor(
          (l) => s.out.seen.indexOf(l) >= before[i]! && l.error === 'ProxyProtocolError' && l.reason === 'missing' && /did not start/.test(String(l.message)),
          'a missing-header refusal',
        ),
      ),
    )
    expect(String(refusal.address)).toMatch(/^net:127\.0\.0\.1:\d+$/)
    expect(refusal.address).not.toBe(`net:127.0.0.1:${ourPort}`)
    // Nothing got through on that path.
    for (const [i, s] of servers.entries()) {
      expect(s.out.seen.slice(before[i]).filter((l) => 'connection' in l && String(l.connection).startsWith(`net:127.0.0.1:${ourPort}~`))).toEqual([])
    }
    // The servers still serve proxied clients.
    const again = await request(front.v2)
    expect(again.seen).toBe(seenAs(again.localPort))
  }, 60_000)
})

/**
 * The HAProxy configuration of the README's "Running at scale", read from the
 * README itself (so the documented one is the tested one), on the test's
 * ports: its frontend and backend three times, with `send-proxy-v2`,
 * `send-proxy` and no header.
 */
function haproxyConfig(front: { v2: number; v1: number; none: number }, servers: { name: string; port: number }[]): string {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8')
  const block = /<!-- haproxy\.cfg[^\n]*-->\n```haproxy\n([\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no haproxy.cfg block under "Running at scale"')
  const at = block.indexOf('frontend ssb')
  const [common, sections] = [block.slice(0, at), block.slice(at)]
  const variant = (name: string, option: string, port: number) => {
    const replacements: [string | RegExp, string][] = [
      ['frontend ssb\n', `frontend ssb_${name}\n`],
      ['default_backend ms\n', `default_backend ms_${name}\n`],
      ['backend ms\n', `backend ms_${name}\n`],
      ['bind 0.0.0.0:8008', `bind 127.0.0.1:${port}`],
      ['10.0.0.11:8008', `127.0.0.1:${servers[0]!.port}`],
      ['10.0.0.12:8008', `127.0.0.1:${servers[1]!.port}`],
      [/ send-proxy-v2 /g, ` ${option} `.replace(/ {2}/, ' ')],
    ]
    let text = sections
    for (const [from, to] of replacements) {
      if (text.match(from) === null) throw new Error(`README's haproxy.cfg changed: ${String(from)} not found`)
      text = text.replace(from, to)
    }
    return text
  }
  return [common, variant('v2', 'send-proxy-v2', front.v2), variant('v1', 'send-proxy', front.v1), variant('none', '', front.none)].join('\n')
}
