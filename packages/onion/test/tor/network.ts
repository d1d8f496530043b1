import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'private-net.sh')
// Offsets from BASE_PORT that private-net.sh binds (see its header).
const OFFSETS = [0, 1, 2, 3, 4, 10, 11, 12, 50, 51, 80, 81]

export interface TorNetwork {
  dir: string
  /** The client's SocksPort (with ExtendedErrors). */
  socksPort: number
  /** `<name>.onion` whose port 80 forwards to 127.0.0.1:targetPort. */
  onion: string
  targetPort: number
  /** The onion host's control port (cookie authentication). */
  controlPort: number
  controlCookie: string
  /** Stops every tor process of the network and removes its directory. */
  down(): Promise<void>
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
    if (m) env[m[1]!] = m[2]!
  }
  return env
}

function fromEnv(env: Record<string, string>, dir: string, down: () => Promise<void>): TorNetwork {
  const need = (key: string) => {
    const value = env[key]
    if (!value) throw new Error(`private-net.sh printed no ${key}`)
    return value
  }
  return {
    dir,
    socksPort: Number(need('SOCKS_PORT')),
    onion: need('ONION'),
    targetPort: Number(need('TARGET_PORT')),
    controlPort: Number(need('CONTROL_PORT')),
    controlCookie: need('CONTROL_COOKIE'),
    down,
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/** A BASE_PORT whose ports are all free right now (a race remains; `up` is retried). */
async function freeBase(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + 100 * Math.floor(Math.random() * 400)
    const free = await Promise.all(OFFSETS.map((o) => portFree(base + o)))
    if (free.every(Boolean)) return base
  }
  throw new Error('found no free block of ports for the Tor test network')
}

function run(args: string[], env: NodeJS.ProcessEnv, timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-8).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * Starts the private Tor network of test/tor/private-net.sh in a fresh
 * temporary directory on free ports. Every tor process is tied to this
 * process (OWNER_PID), so it exits even if `down()` never runs.
 *
 * `MS_ONION_NET=<dir>` reuses a network already started by hand with
 * `private-net.sh up <dir>` (for quick iterations); `down()` then leaves it
 * running.
 */
export async function startTorNetwork(): Promise<TorNetwork> {
  const reuse = process.env.MS_ONION_NET
  if (reuse) return fromEnv(parseEnv(readFileSync(join(reuse, 'env'), 'utf8')), reuse, async () => {})

  const probe = spawnSync('tor', ['--version'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) {
    throw new Error('the onion tests need Debian\'s tor package: apt-get install -y --no-install-recommends tor')
  }
  const failures: string[] = []
  for (let attempt = 0; attempt < 2; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'ms-onion-'))
    const base = await freeBase()
    const env = { BASE_PORT: String(base), OWNER_PID: String(process.pid), UP_TIMEOUT: '150' }
    const down = async () => {
      await run(['down', join(dir, 'net')], env, 30_000)
      rmSync(dir, { recursive: true, force: true })
    }
    const started = Date.now()
    const result = await run(['up', join(dir, 'net')], env, 170_000)
    if (result.code === 0) return fromEnv(parseEnv(result.stdout), join(dir, 'net'), down)
    failures.push(
      `attempt ${attempt + 1} (BASE_PORT ${base}) exited ${result.code}:\n${result.stderr}\nclient log:\n${tail(join(dir, 'net/client/notice.log'))}\nonion host log:\n${tail(join(dir, 'net/hs/notice.log'))}`,
    )
    await down()
    // A port taken in the meantime makes tor fail at once; only that is worth a retry.
    if (Date.now() - started > 30_000) break
  }
  throw new Error(`the private Tor network did not come up:\n${failures.join('\n')}`)
}
