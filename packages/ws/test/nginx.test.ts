import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMultiServer, type Connection, type MultiServerListener } from '@ms/core'
import { shs, shsCrypto } from '@ms/shs'
import { readAll } from '@ms/compliance'
import { ws } from '@ms/ws'
import { selfSignedCertificate } from './cert.js'

// ws~shs behind Debian's nginx (installed by scripts/system-deps.sh) as the
// TLS-terminating reverse proxy of the README's "Running at scale": the
// client dials wss:// to nginx, nginx speaks plain ws to ms on 127.0.0.1 and
// says who the client is in X-Forwarded-For, which ms honours only because
// nginx's address is in `trustedProxies`.

const nginxBin = ['nginx', '/usr/sbin/nginx'].find((bin) => !spawnSync(bin, ['-v']).error)

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

const appKey = randomBytes(32)
const serverKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
const clientKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
const key = (k: Uint8Array) => Buffer.from(k).toString('base64')

describe('ws~shs behind nginx (wss terminated at nginx, X-Forwarded-For)', () => {
  let dir: string
  let nginx: ChildProcess | undefined
  let log = ''
  const cert = selfSignedCertificate()
  const listeners: MultiServerListener[] = []
  const seen = new Map<string, Connection[]>()
  let front = { trusted: 0, untrusted: 0 }

  async function backend(name: string, trustedProxies: string[]): Promise<number> {
    const ms = createMultiServer([[ws({ host: '127.0.0.1', trustedProxies }), shs({ keys: serverKeys, appKey })]])
    const list: Connection[] = []
    seen.set(name, list)
    const listener = await ms.listen((c) => {
      list.push(c)
      const writer = c.writable.getWriter()
      void writer
        .write(new TextEncoder().encode(c.remoteAddress))
        .then(() => writer.close())
        .catch(() => c.close())
    })
    listeners.push(listener)
    return Number(/:(\d+)~/.exec(ms.stringify())![1])
  }

  beforeAll(async () => {
    if (nginxBin === undefined) throw new Error('nginx is not installed: run scripts/system-deps.sh (Debian: apt-get install nginx)')
    const trustedBackend = await backend('trusted', ['127.0.0.1'])
    const untrustedBackend = await backend('untrusted', [])
    front = { trusted: await freePort(), untrusted: await freePort() }
    dir = mkdtempSync(join(tmpdir(), 'ms-nginx-'))
    writeFileSync(join(dir, 'cert.pem'), cert.cert)
    writeFileSync(join(dir, 'key.pem'), cert.key)
    const template = nginxBlock()
    const servers = [
      [front.trusted, trustedBackend],
      [front.untrusted, untrustedBackend],
    ].map(([listen, upstream]) =>
      template
        .replace('listen 443 ssl;', `listen 127.0.0.1:${listen} ssl;`)
        .replace('/etc/ssl/pub.example.org.pem', join(dir, 'cert.pem'))
        .replace('/etc/ssl/pub.example.org.key', join(dir, 'key.pem'))
        .replace('http://127.0.0.1:8989', `http://127.0.0.1:${upstream}`),
    )
    for (const s of servers) expect(s).toContain(dir)
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`).join('\n')
    const config = [
      'daemon off;',
      'master_process off;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      temp,
      '  map $http_upgrade $connection_upgrade { default upgrade; "" close; }',
      ...servers,
      '}',
      '',
    ].join('\n')
    writeFileSync(join(dir, 'nginx.conf'), config)
    nginx = spawn(nginxBin, ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
    nginx.stdout!.setEncoding('utf8').on('data', (t: string) => (log += t))
    nginx.stderr!.setEncoding('utf8').on('data', (t: string) => (log += t))
    const deadline = Date.now() + 20_000
    for (const port of Object.values(front)) {
      for (;;) {
        if (nginx.exitCode !== null) throw new Error(`nginx exited (${nginx.exitCode}): ${log}`)
        const ok = await new Promise<boolean>((resolve) => {
          const s = createConnection({ host: '127.0.0.1', port })
          s.once('connect', () => {
            s.destroy()
            resolve(true)
          })
          s.once('error', () => resolve(false))
        })
        if (ok) break
        if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${log}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }, 60_000)

  afterAll(async () => {
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      const child = nginx
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        child.kill('SIGTERM')
      })
    }
    await Promise.all(listeners.map((l) => l.close()))
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const client = createMultiServer([[ws({ tls: { ca: cert.cert } }), shs({ keys: clientKeys, appKey })]])
  async function ask(port: number): Promise<string> {
    const connection = await client.connect(`wss://127.0.0.1:${port}~shs:${key(serverKeys.publicKey)}`, { timeout: 20_000 })
    expect(connection.info.shs?.publicKey && key(connection.info.shs.publicKey)).toBe(key(serverKeys.publicKey))
    const text = new TextDecoder().decode(await readAll(connection.readable))
    await connection.close()
    return text
  }

  it('the client dials wss to nginx; ms (plain ws behind it) sees the client from X-Forwarded-For, marked forwarded', async () => {
    const answer = await ask(front.trusted)
    // X-Forwarded-For carries the client's host only: no port.
    expect(answer).toBe(`ws://127.0.0.1~shs:${key(clientKeys.publicKey)}`)
    const [connection] = seen.get('trusted')!
    expect(connection!.info.ws).toMatchObject({ secure: false, forwarded: true })
  }, 60_000)

  it('the same header from a proxy that is not trusted is ignored: the socket peer (nginx) is kept', async () => {
    const answer = await ask(front.untrusted)
    expect(answer).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+~shs:${key(clientKeys.publicKey).replace(/[+/]/g, '\\$&')}$`))
    const [connection] = seen.get('untrusted')!
    expect(connection!.info.ws?.forwarded).toBeUndefined()
  }, 60_000)
})

/** The nginx `server` block of the README's "Running at scale", read from the README. */
function nginxBlock(): string {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const block = /<!-- nginx\.conf[^\n]*-->\n```nginx\n([\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no nginx.conf block under "Running at scale"')
  return block
}
