import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server as NetServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromBase64, toBase64 } from '@ms/core'
import { shsCrypto } from '@ms/shs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, killAll, run, serve } from './helpers.js'

let dir: string
let keysFile: string
let serverId: string

beforeAll(async () => {
  ensureBuilt()
  dir = await mkdtemp(join(tmpdir(), 'ms-cli-test-'))
  keysFile = join(dir, 'secret')
  const made = await run(['keygen', '--out', keysFile])
  expect(made.code).toBe(0)
  serverId = made.stdout.trim()
})

afterEach(async () => {
  await killAll()
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A port nothing listens on: bind one, then free it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

const SSB_APP_KEY = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='
const otherAppKey = toBase64(new Uint8Array(32).fill(7))

describe('ms (general)', () => {
  it('prints help with exit 0 for --help, on every command', async () => {
    const top = await run(['--help'])
    expect(top.code).toBe(0)
    for (const command of ['parse', 'keygen', 'serve', 'connect', 'probe']) expect(top.stdout).toContain(command)
    for (const command of ['parse', 'keygen', 'serve', 'connect', 'probe']) {
      const sub = await run([command, '--help'])
      expect(sub.code, command).toBe(0)
      expect(sub.stdout).toMatch(/^Usage: ms /)
    }
  })

  it('exits 2 for unknown commands, unknown flags, missing arguments and no arguments', async () => {
    expect((await run(['frobnicate'])).code).toBe(2)
    const flag = await run(['probe', '--frob', 'net:a:1'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/unknown option/)
    expect((await run(['connect'])).code).toBe(2)
    expect((await run([])).code).toBe(2)
  })

  it('is an executable with a node shebang, as npx and npm bin links run it', async () => {
    const { spawnSync } = await import('node:child_process')
    const { bin } = await import('./helpers.js')
    const direct = spawnSync(bin, ['--version'], { encoding: 'utf8' })
    expect(direct.status).toBe(0)
    expect(direct.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> }
    expect(pkg.bin.ms).toBe('./dist/cli.js')
  })

  it('prints the package version', async () => {
    const version = await run(['--version'])
    expect(version.code).toBe(0)
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(version.stdout.trim()).toBe(pkg.version)
  })
})

describe('ms keygen', () => {
  it('writes an ssb-keys secret file with mode 0600 whose keys belong together', async () => {
    const info = await stat(keysFile)
    expect(info.mode & 0o777).toBe(0o600)
    const keys = JSON.parse(await readFile(keysFile, 'utf8')) as Record<string, string>
    expect(keys.curve).toBe('ed25519')
    expect(keys.public).toMatch(/^[A-Za-z0-9+/]{43}=\.ed25519$/)
    expect(keys.private).toMatch(/^[A-Za-z0-9+/]{86}==\.ed25519$/)
    expect(keys.id).toBe(`@${keys.public}`)
    expect(serverId).toBe(keys.id)
    // Check with libsodium, a different Ed25519 implementation than the CLI's.
    const secret = fromBase64(keys.private!.replace('.ed25519', ''))!
    const derived = shsCrypto.signKeypairFromSeed(secret.subarray(0, 32))
    expect(`${toBase64(derived.publicKey)}.ed25519`).toBe(keys.public)
    expect(toBase64(derived.secretKey)).toBe(toBase64(secret))
  })

  it('never overwrites an existing file', async () => {
    const before = await readFile(keysFile, 'utf8')
    const again = await run(['keygen', '--out', keysFile])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already exists/)
    expect(await readFile(keysFile, 'utf8')).toBe(before)
  })

  it('prints a fresh key pair to stdout without --out', async () => {
    const a = JSON.parse((await run(['keygen'])).stdout) as Record<string, string>
    const b = JSON.parse((await run(['keygen'])).stdout) as Record<string, string>
    expect(a.curve).toBe('ed25519')
    expect(a.public).not.toBe(b.public)
  })
})

describe('ms parse', () => {
  const key = SSB_APP_KEY // any 32 bytes of base64 is a syntactically valid shs key

  it('explains each part and names the suite that can dial it', async () => {
    const result = await run(['parse', `net:example.com:8008~shs:${key}`])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/transport net \(@ms\/net/)
    expect(result.stdout).toMatch(/host=example\.com port=8008/)
    expect(result.stdout).toMatch(/transform shs \(@ms\/shs/)
    expect(result.stdout).toContain(`@${key}.ed25519`)
    expect(result.stdout).toMatch(/dialable with suite net~shs/)
  })

  it('reports every alternative, with what is wrong with the ones no plugin takes', async () => {
    const result = await run(['parse', '--json', `ws://localhost:80~shs:${key};foo:bar;net:host:99999;shs:${key}`])
    expect(result.code).toBe(0)
    const json = JSON.parse(result.stdout) as { valid: boolean; alternatives: { suite: string | null; segments: { status: string }[] }[] }
    expect(json.valid).toBe(true)
    expect(json.alternatives.map((a) => a.suite)).toEqual(['ws~shs', null, null, null])
    expect(json.alternatives.map((a) => a.segments[0]!.status)).toEqual(['ok', 'unknown', 'rejected', 'misplaced'])
  })

  it('exits 1 when no alternative can be dialled', async () => {
    const result = await run(['parse', 'foo:bar~baz'])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/no known transport is called "foo"/)
  })

  it('exits 2 with a pointer at the offending character for invalid syntax', async () => {
    const result = await run(['parse', 'net:host:8008~'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/invalid address/)
    expect(result.stderr).toContain('  net:host:8008~\n                ^')
  })
})

describe('ms serve and ms connect', () => {
  it('echoes over net~shs, ws~shs and unix~noauth, and the client learns the server identity', async () => {
    const sock = join(dir, 'echo.sock')
    const server = await serve(['--net', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--unix', sock, '--shs', '--noauth', '--keys', keysFile])
    const alternatives = server.address.split(';')
    expect(alternatives.map((a) => a.split('~').map((s) => s.split(':')[0]).join('~'))).toEqual(['net~shs', 'ws~shs', 'unix~noauth'])
    expect(server.stderr()).toContain(`identity: ${serverId}`)
    for (const alternative of alternatives) {
      const message = `hello over ${alternative}\n`
      const client = await run(['connect', '-v', alternative], { input: message })
      expect(client.stdout, alternative).toBe(message)
      expect(client.code, client.stderr).toBe(0)
      if (alternative.includes('~shs:')) expect(client.stderr).toContain(serverId)
    }
    expect(await server.stop()).toBe(0)
  })

  it('relays a large stream intact both ways', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--shs'])
    const big = 'abcdefghijklmnopqrstuvwxyz0123456789\n'.repeat(30_000) // ~1.1 MB
    const client = await run(['connect', server.address], { input: big, timeout: 30_000 })
    expect(client.code).toBe(0)
    expect(client.stdout.length).toBe(big.length)
    expect(client.stdout === big).toBe(true)
    await server.stop()
  })

  it('--exec pipes each connection through a command', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--shs', '--exec', 'tr a-z A-Z; echo "peer=$MS_PEER_ID"'])
    const client = await run(['connect', '--keys', keysFile, server.address], { input: 'shout\n' })
    expect(client.code).toBe(0)
    expect(client.stdout).toBe(`SHOUT\npeer=${serverId}\n`)
    await server.stop()
  })

  it('exits 3 when the peer closes while our input is still open', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--noauth', '--exec', 'echo bye'])
    const client = await run(['connect', server.address], { keepStdinOpen: true })
    expect(client.stdout).toBe('bye\n')
    expect(client.code).toBe(3)
    await server.stop()
  })

  it('--stdio relays stdin/stdout with one connection, then exits 0', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--shs', '--stdio'])
    server.child.stdin.end('from the server\n')
    const client = await run(['connect', server.address], { input: 'from the client\n' })
    expect(client.code).toBe(0)
    expect(client.stdout).toBe('from the server\n')
    expect(await server.exited).toBe(0)
    expect(server.stdout()).toBe('from the client\n')
  })

  it('reads listeners from --config', async () => {
    const config = join(dir, 'config.json')
    await writeFile(config, JSON.stringify({ keys: keysFile, appKey: otherAppKey, listen: [{ transport: 'net', host: '127.0.0.1', port: 0, transforms: ['shs'] }] }))
    const server = await serve(['--config', config])
    expect(server.address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
    const ok = await run(['connect', '--appkey', otherAppKey, server.address], { input: 'x' })
    expect(ok.stdout).toBe('x')
    expect(ok.code).toBe(0)
    // The default (SSB) app key is the wrong network for this server.
    const wrong = await run(['connect', server.address], { input: 'x' })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/app key/)
    await server.stop()
  })

  it('--allow admits only the listed clients', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--shs', '--allow', serverId])
    const allowed = await run(['connect', '--keys', keysFile, server.address], { input: 'hi' })
    expect(allowed.code).toBe(0)
    const stranger = await run(['connect', server.address], { input: 'hi' })
    expect(stranger.code).toBe(1)
    await server.stop()
  })

  it('fails clearly: nothing to listen on, bad flags, unreadable keys, port in use', async () => {
    const none = await run(['serve', '--shs'])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/nothing to listen on/)
    const bad = await run(['serve', '--net', 'localhost'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--net expects HOST:PORT/)
    const keys = await run(['serve', '--net', '127.0.0.1:0', '--shs', '--keys', join(dir, 'missing')])
    expect(keys.code).toBe(2)
    expect(keys.stderr).toMatch(/cannot read key file/)
    const server = await serve(['--net', '127.0.0.1:0', '--noauth'])
    const port = server.address.split(':')[2]!.split('~')[0]!
    const busy = await run(['serve', '--net', `127.0.0.1:${port}`, '--noauth'])
    expect(busy.code).toBe(1)
    expect(busy.stderr).toMatch(/cannot listen.*EADDRINUSE|EADDRINUSE/)
    await server.stop()
  })

  it('connect exits 1 when nothing listens, 2 for an invalid address', async () => {
    const refused = await run(['connect', `net:127.0.0.1:${await closedPort()}`])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/ECONNREFUSED/)
    const invalid = await run(['connect', 'net:127.0.0.1:1~'])
    expect(invalid.code).toBe(2)
    const unknown = await run(['connect', 'foo:bar'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/ms parse/)
  })
})

describe('ms probe', () => {
  interface Probe {
    ok: boolean
    results: { address: string; ok: boolean; ms: number; peer?: string; steps: { stage: string; ok: boolean; ms: number }[]; failure?: { stage: string; reason: string; detail?: string; code?: string } }[]
  }
  const probeJson = async (args: string[]) => {
    const result = await run(['probe', '--json', ...args], { timeout: 20_000 })
    return { code: result.code, json: JSON.parse(result.stdout) as Probe, stderr: result.stderr }
  }

  it('reports connect and handshake times and the peer identity for each alternative', async () => {
    const sock = join(dir, 'probe.sock')
    const server = await serve(['--net', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--unix', sock, '--shs', '--noauth', '--keys', keysFile])
    const { code, json } = await probeJson([server.address])
    expect(code).toBe(0)
    expect(json.ok).toBe(true)
    expect(json.results.map((r) => r.ok)).toEqual([true, true, true])
    expect(json.results.map((r) => r.steps.map((s) => s.stage))).toEqual([
      ['connect', 'shs'],
      ['connect', 'shs'],
      ['connect', 'noauth'],
    ])
    expect(json.results[0]!.peer).toBe(serverId)
    expect(json.results[1]!.peer).toBe(serverId)
    // Each step is timed, and the steps fit in the alternative's total (each rounded to 0.1 ms).
    for (const r of json.results) {
      for (const s of r.steps) expect(Number.isFinite(s.ms)).toBe(true)
      expect(r.steps.reduce((sum, s) => sum + s.ms, 0)).toBeLessThanOrEqual(r.ms + 0.1 * r.steps.length)
    }
    // Plain lines when piped: one "ok" line per alternative, no progress escapes.
    const plain = await run(['probe', server.address])
    expect(plain.code).toBe(0)
    expect(plain.stdout.match(/^ok {4}/gm)).toHaveLength(3)
    expect(plain.stderr).not.toContain('\x1b')
    await server.stop()
  })

  it('names the stage and reason of each failure', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--shs', '--keys', keysFile])
    const port = server.address.split(':')[2]!.split('~')[0]!
    const otherKey = (JSON.parse((await run(['keygen'])).stdout) as { public: string }).public.replace('.ed25519', '')

    const wrongAppKey = await probeJson(['--appkey', otherAppKey, server.address])
    expect(wrongAppKey.code).toBe(1)
    expect(wrongAppKey.json.results[0]!.failure).toMatchObject({ stage: 'shs', reason: 'wrong-appkey' })

    const wrongKey = await probeJson([`net:127.0.0.1:${port}~shs:${otherKey}`])
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.json.results[0]!.failure).toMatchObject({ stage: 'shs', reason: 'wrong-server-key' })
    expect(wrongKey.json.results[0]!.steps[0]).toMatchObject({ stage: 'connect', ok: true })

    const refused = await probeJson([`net:127.0.0.1:${await closedPort()}~shs:${otherKey}`])
    expect(refused.json.results[0]!.failure).toMatchObject({ stage: 'connect', reason: 'refused' })

    const noSocket = await probeJson([`unix:${join(dir, 'nothing-here')}~noauth`])
    expect(noSocket.json.results[0]!.failure).toMatchObject({ stage: 'connect', reason: 'no-socket' })

    const unsupported = await probeJson(['foo:bar'])
    expect(unsupported.json.results[0]!.failure).toMatchObject({ stage: 'parse', reason: 'unsupported' })
    await server.stop()
  })

  it('serves noise with the same identity as shs; probe names the noise stage that failed', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--noise', '--keys', keysFile])
    expect(server.address).toMatch(/^net:127\.0\.0\.1:\d+~noise:[A-Za-z0-9+/]{43}=$/)
    expect(`@${server.address.split('~noise:')[1]}.ed25519`).toBe(serverId)
    const echoed = await run(['connect', '-v', server.address], { input: 'over noise' })
    expect(echoed.code).toBe(0)
    expect(echoed.stdout).toBe('over noise')
    expect(echoed.stderr).toContain(serverId)

    const ok = await probeJson([server.address])
    expect(ok.code).toBe(0)
    expect(ok.json.results[0]!.steps.map((s) => s.stage)).toEqual(['connect', 'noise'])
    expect(ok.json.results[0]!.peer).toBe(serverId)

    // Another server key: the server cannot decrypt msg1 and hangs up without a word.
    const port = server.address.split(':')[2]!.split('~')[0]!
    const otherKey = (JSON.parse((await run(['keygen'])).stdout) as { public: string }).public.replace('.ed25519', '')
    const wrongKey = await probeJson([`net:127.0.0.1:${port}~noise:${otherKey}`])
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.json.results[0]!.failure).toMatchObject({ stage: 'noise', detail: 'msg2', reason: 'rejected' })
    expect(wrongKey.json.results[0]!.steps[0]).toMatchObject({ stage: 'connect', ok: true })
    const plain = await run(['probe', `net:127.0.0.1:${port}~noise:${otherKey}`])
    expect(plain.stdout).toMatch(/failed at noise \(msg2\) after .*: rejected/)
    await server.stop()

    // Something that is not a noise server answers msg1 with garbage: the handshake fails at msg2.
    const shsServer = await serve(['--net', '127.0.0.1:0', '--shs', '--keys', keysFile])
    const shsPort = shsServer.address.split(':')[2]!.split('~')[0]!
    const notNoise = await probeJson(['--timeout', '3000', `net:127.0.0.1:${shsPort}~noise:${serverId.slice(1, -8)}`])
    expect(notNoise.code).toBe(1)
    expect(notNoise.json.results[0]!.failure).toMatchObject({ stage: 'noise' })
    await shsServer.stop()
  })

  it('serves shs and noise side by side from one config, one identity; --shs with --noise is a usage error', async () => {
    const config = join(dir, 'both.json')
    await writeFile(
      config,
      JSON.stringify({
        keys: keysFile,
        listen: [
          { transport: 'net', host: '127.0.0.1', port: 0, transforms: ['shs'] },
          { transport: 'net', host: '127.0.0.1', port: 0, transforms: ['noise'] },
        ],
      }),
    )
    const server = await serve(['--config', config])
    const alternatives = server.address.split(';')
    expect(alternatives.map((a) => a.split('~')[1]!.split(':')[0])).toEqual(['shs', 'noise'])
    expect(new Set(alternatives.map((a) => a.split('~')[1]!.split(':')[1])).size).toBe(1)
    const { code, json } = await probeJson([server.address])
    expect(code).toBe(0)
    expect(json.results.map((r) => r.peer)).toEqual([serverId, serverId])
    await server.stop()
    const both = await run(['serve', '--net', '127.0.0.1:0', '--shs', '--noise'])
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/--config/)
  })

  it('reports a timeout at the handshake when the server accepts but never answers', async () => {
    const sockets = new Set<Socket>()
    const silent: NetServer = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    try {
      const { code, json } = await probeJson(['--timeout', '400', `net:127.0.0.1:${port}~shs:${SSB_APP_KEY}`])
      expect(code).toBe(1)
      expect(json.results[0]!.failure).toMatchObject({ stage: 'shs', reason: 'timeout' })
      expect(json.results[0]!.ms).toBeGreaterThanOrEqual(380)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('shows a progress line on a terminal while it waits', async () => {
    // `script` (util-linux) gives the CLI a pseudo-terminal, as a user's shell would.
    const { bin } = await import('./helpers.js')
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => void sockets.add(socket.on('error', () => {})))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const address = `net:127.0.0.1:${(silent.address() as { port: number }).port}~shs:${SSB_APP_KEY}`
      const { spawn } = await import('node:child_process')
      const child = spawn('script', ['-qec', `${process.execPath} ${bin} probe --timeout 800 '${address}'`, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let tty = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (tty += d))
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
      expect(code).toBe(1)
      expect(tty).toContain(`\r\x1b[K… ${address}: shs handshake (`)
      expect(tty).toMatch(/FAIL {2}net:127\.0\.0\.1/)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('reports proxy-unreachable and proxy-error (with the SOCKS reply) for onion addresses', async () => {
    const onionAddress = `onion:2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:8008~shs:${SSB_APP_KEY}`
    const unreachable = await probeJson(['--socks', `127.0.0.1:${await closedPort()}`, onionAddress])
    expect(unreachable.json.results[0]!.failure).toMatchObject({ stage: 'connect', reason: 'proxy-unreachable' })

    // A SOCKS5 proxy that answers like Tor does for an onion service whose descriptor it cannot find.
    const sockets = new Set<Socket>()
    const socks = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => {})
      let stage = 0
      socket.on('data', () => {
        if (stage++ === 0) socket.write(Buffer.from([5, 0])) // no authentication
        else socket.end(Buffer.from([5, 0xf0, 0, 1, 0, 0, 0, 0, 0, 0])) // 0xF0: onion descriptor not found
      })
    })
    await new Promise<void>((resolve) => socks.listen(0, '127.0.0.1', resolve))
    try {
      const port = (socks.address() as { port: number }).port
      const refused = await probeJson(['--socks', `127.0.0.1:${port}`, onionAddress])
      expect(refused.code).toBe(1)
      expect(refused.json.results[0]!.failure).toMatchObject({ stage: 'connect', reason: 'proxy-error', code: 'ONION_DESCRIPTOR_NOT_FOUND' })
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => socks.close(resolve))
    }
  })

  it('tries every alternative even when one succeeds, and exits 0 if any works', async () => {
    const server = await serve(['--net', '127.0.0.1:0', '--shs', '--keys', keysFile])
    const { code, json } = await probeJson([`net:127.0.0.1:${await closedPort()}~shs:${serverId.slice(1, -8)};${server.address}`])
    expect(code).toBe(0)
    expect(json.results.map((r) => r.ok)).toEqual([false, true])
    await server.stop()
  })
})
