// Debian's nginx (installed by scripts/system-deps.sh) as the TLS-terminating
// reverse proxy of the README's "Running at scale", for nginx.test.ts (Node
// clients) and browser-nginx.test.ts (headless Chromium): the README's
// `server` block, read from the README, once per upstream.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, stopChild, waitForPort } from '../../net/test/processes.js'

const nginxBin = ['nginx', '/usr/sbin/nginx'].find((bin) => !spawnSync(bin, ['-v']).error)

export interface Nginx {
  /** The port nginx listens on (wss) in front of each upstream, in the order given. */
  fronts: number[]
  close(): Promise<void>
}

/**
 * Starts nginx on 127.0.0.1 with the README's block in front of each
 * `upstream` (a plain ws server on 127.0.0.1), TLS with `cert`. Resolves once
 * every front port accepts. `proxyBind`: the source address nginx connects
 * to the upstreams from (test-only `proxy_bind`, so that the upstream can tell
 * nginx from a client that is also on 127.0.0.1).
 */
export async function startNginx(upstreams: number[], cert: { cert: string; key: string }, { proxyBind }: { proxyBind?: string } = {}): Promise<Nginx> {
  if (nginxBin === undefined) throw new Error('nginx is not installed: run scripts/system-deps.sh (Debian: apt-get install nginx)')
  const fronts = await Promise.all(upstreams.map(() => freePort()))
  const dir = mkdtempSync(join(tmpdir(), 'ms-nginx-'))
  writeFileSync(join(dir, 'cert.pem'), cert.cert)
  writeFileSync(join(dir, 'key.pem'), cert.key)
  const template = nginxBlock()
  const servers = upstreams.map((upstream, i) =>
    template
      .replace('listen 443 ssl;', `listen 127.0.0.1:${fronts[i]} ssl;`)
      .replace('/etc/ssl/pub.example.org.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/pub.example.org.key', join(dir, 'key.pem'))
      .replace('http://127.0.0.1:8989', `http://127.0.0.1:${upstream}`)
      .replace('location / {\n', proxyBind === undefined ? 'location / {\n' : `location / {\n    proxy_bind ${proxyBind};\n`),
  )
  // Every placeholder was found and replaced: the README's block is the one that runs.
  servers.forEach((s, i) => {
    for (const part of [`listen 127.0.0.1:${fronts[i]} ssl;`, join(dir, 'cert.pem'), join(dir, 'key.pem'), `http://127.0.0.1:${upstreams[i]};`, ...(proxyBind === undefined ? [] : [`proxy_bind ${proxyBind};`])])
      if (!s.includes(part)) throw new Error(`README's nginx block changed: no place for ${part} in\n${s}`)
  })
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
  let log = ''
  const child = spawn(nginxBin, ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (log += t))
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (log += t))
  const close = async () => {
    await stopChild(child)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of fronts) await waitForPort(port, { child, name: 'nginx', log: () => log })
  } catch (error) {
    await close()
    throw error
  }
  return { fronts, close }
}

/** The nginx `server` block of the README's "Running at scale", read from the README. */
function nginxBlock(): string {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const block = /<!-- nginx\.conf[^\n]*-->\n```nginx\n([\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no nginx.conf block under "Running at scale"')
  return block
}
