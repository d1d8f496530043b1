import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import {
  createMultiServer,
  isLoopback,
  isWildcardHost,
  scopeOfHost,
  type CanonicalScope,
  type Connection,
  type MultiServer,
  type Suite,
  type Transform,
  type Transport,
} from '@ms/core'
import { CliError, EXIT } from './errors.js'
import { feedId, generateKeys, readKeysFile, type SecretKeys } from './keys.js'
import { SSB_APP_KEY, loadModules } from './plugins.js'

/** One listener: a transport with its bind options and the transforms stacked on it. */
export interface ListenSpec {
  transport: 'net' | 'ws' | 'unix'
  host?: string
  port?: number
  path?: string
  transforms: ('shs' | 'noise' | 'noauth')[]
}

/**
 * The `--config FILE` format (JSON):
 *
 * ```json
 * { "keys": "./secret", "appKey": "<base64>", "allow": ["@...ed25519"],
 *   "listen": [ { "transport": "net", "host": "0.0.0.0", "port": 8008, "transforms": ["shs"] },
 *               { "transport": "unix", "path": "/tmp/ms.sock", "transforms": ["noauth"] } ] }
 * ```
 */
export interface ServeConfig {
  keys?: string
  appKey?: string
  allow?: string[]
  listen: ListenSpec[]
}

/** Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (every interface). */
export function parseHostPort(text: string, flag: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new CliError(`${flag} expects HOST:PORT, [IPV6]:PORT or :PORT (every interface), got ${JSON.stringify(text)}`, EXIT.USAGE)
  }
  const host = m[1] ?? m[2]
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw new CliError(`${flag}: ${m[1]} is not an IPv6 address`, EXIT.USAGE)
  return host ? { host, port } : { port }
}

/**
 * Builds listen specs from flags. Transforms apply to every transport;
 * when `--shs` (or `--noise`) and `--noauth` are given, unix sockets get
 * noauth and the network transports get shs (or noise), the usual SSB
 * layout: two suites cannot share one port, so one transport gets one
 * transform. shs and noise side by side need one port each: `--config`.
 */
export function specsFromFlags(flags: { net?: string[]; ws?: string[]; unix?: string[]; shs?: boolean; noise?: boolean; noauth?: boolean }): ListenSpec[] {
  if (flags.shs && flags.noise) {
    throw new CliError('--shs and --noise cannot share a port: serve them side by side with --config (one listener each)', EXIT.USAGE)
  }
  const secure: ListenSpec['transforms'] = flags.noise ? ['noise'] : flags.shs ? ['shs'] : []
  const pick = (kind: 'network' | 'local'): ListenSpec['transforms'] => {
    if (secure.length && flags.noauth) return kind === 'local' ? ['noauth'] : secure
    if (secure.length) return secure
    if (flags.noauth) return ['noauth']
    return []
  }
  const specs: ListenSpec[] = []
  for (const text of flags.net ?? []) specs.push({ transport: 'net', ...parseHostPort(text, '--net'), transforms: pick('network') })
  for (const text of flags.ws ?? []) specs.push({ transport: 'ws', ...parseHostPort(text, '--ws'), transforms: pick('network') })
  for (const path of flags.unix ?? []) {
    if (!path) throw new CliError('--unix expects a socket path', EXIT.USAGE)
    specs.push({ transport: 'unix', path, transforms: pick('local') })
  }
  return specs
}

export async function readConfig(path: string): Promise<ServeConfig> {
  let value: unknown
  try {
    value = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw new CliError(`cannot read config ${path}: ${(error as Error).message}`, EXIT.USAGE)
  }
  const config = value as Partial<ServeConfig>
  if (!config || typeof config !== 'object' || !Array.isArray(config.listen) || config.listen.length === 0) {
    throw new CliError(`${path}: expected { "listen": [ { "transport": "net", "port": 8008, "transforms": ["shs"] }, ... ] }`, EXIT.USAGE)
  }
  config.listen.forEach((spec, i) => {
    const where = `${path}: listen[${i}]`
    if (!spec || !['net', 'ws', 'unix'].includes(spec.transport)) throw new CliError(`${where}.transport must be "net", "ws" or "unix"`, EXIT.USAGE)
    if (spec.transport === 'unix' && typeof spec.path !== 'string') throw new CliError(`${where}.path is required for unix`, EXIT.USAGE)
    if (spec.port !== undefined && !(Number.isInteger(spec.port) && spec.port >= 0 && spec.port <= 65535)) throw new CliError(`${where}.port must be 0-65535`, EXIT.USAGE)
    spec.transforms ??= []
    if (!Array.isArray(spec.transforms) || spec.transforms.some((t) => t !== 'shs' && t !== 'noise' && t !== 'noauth') || spec.transforms.length > 1) {
      throw new CliError(`${where}.transforms must be [], ["shs"], ["noise"] or ["noauth"]`, EXIT.USAGE)
    }
  })
  return config as ServeConfig
}

function scopesOf(host: string | undefined): CanonicalScope[] {
  if (host === undefined || isWildcardHost(host)) return ['device', 'local', 'public']
  if (host === 'localhost' || isLoopback(host)) return ['device']
  return isIP(host) ? [scopeOfHost(host)] : ['public']
}

export interface ServerSetup {
  server: MultiServer
  keys?: SecretKeys
  /** True when the keys were made up for this run. */
  ephemeral: boolean
  warnings: string[]
}

/** Turns listen specs into a MultiServer. */
export async function buildServer(specs: ListenSpec[], options: { keys?: string; appKey?: string; allow?: string[] }): Promise<ServerSetup> {
  const m = await loadModules([...specs.map((s) => s.transport), ...specs.flatMap((s) => s.transforms)])
  const warnings: string[] = []
  const need = <T>(value: T | undefined, name: keyof typeof m.missing): T => {
    if (!value) throw new CliError(`@ms/${name} is not available: ${m.missing[name] ?? 'not installed'}`, EXIT.FAILURE)
    return value
  }
  const wantsShs = specs.some((s) => s.transforms.includes('shs'))
  const wantsNoise = specs.some((s) => s.transforms.includes('noise'))
  let keys: SecretKeys | undefined
  let ephemeral = false
  let shsTransform: Transform | undefined
  let noiseTransform: Transform | undefined
  if (wantsShs || wantsNoise) {
    // One identity for both: clients see the same key on net~shs and net~noise.
    if (options.keys) keys = await readKeysFile(options.keys)
    else {
      keys = generateKeys()
      ephemeral = true
    }
    const allow = options.allow?.map((id) => id.trim())
    const authorize = allow && allow.length ? { authorize: (key: Uint8Array) => allow.includes(feedId(key)) } : {}
    try {
      if (wantsShs) shsTransform = need(m.shs, 'shs').shs({ keys, appKey: options.appKey ?? SSB_APP_KEY, ...authorize }) as Transform
      if (wantsNoise) noiseTransform = need(m.noise, 'noise').noise({ keys, ...authorize }) as Transform
    } catch (error) {
      if (error instanceof CliError) throw error
      throw new CliError((error as Error).message, EXIT.USAGE)
    }
    if (options.appKey && !wantsShs) warnings.push('--appkey is the shs network key; it has no effect on noise')
  } else if (options.appKey || options.keys) {
    warnings.push('--keys/--appkey have no effect without --shs or --noise')
  }
  const noauthTransform = specs.some((s) => s.transforms.includes('noauth')) ? (need(m.noauth, 'noauth').noauth() as Transform) : undefined

  const suites: Suite[] = specs.map((spec) => {
    let transport: Transport
    if (spec.transport === 'net') {
      transport = need(m.net, 'net').net({ ...(spec.host !== undefined ? { host: spec.host } : {}), port: spec.port ?? 0, scope: scopesOf(spec.host) }) as Transport
    } else if (spec.transport === 'ws') {
      transport = need(m.ws, 'ws').ws({ ...(spec.host !== undefined ? { host: spec.host } : {}), port: spec.port ?? 0, scope: scopesOf(spec.host) }) as Transport
    } else {
      transport = need(m.unix, 'unix').unix({ path: spec.path! }) as Transport
    }
    const transforms = spec.transforms.map((t) => (t === 'shs' ? shsTransform! : t === 'noise' ? noiseTransform! : noauthTransform!))
    if (transforms.length === 0) warnings.push(`${spec.transport} has no transform: anyone who reaches it talks to you unauthenticated and unencrypted`)
    if (spec.transforms.includes('noauth') && spec.transport === 'ws') {
      warnings.push('ws~noauth refuses every client: noauth only trusts unix sockets and loopback net connections')
    } else if (spec.transforms.includes('noauth') && spec.transport === 'net' && !(spec.host && isLoopback(spec.host))) {
      warnings.push('net~noauth only accepts loopback clients; remote clients are refused')
    }
    return [transport, ...transforms] as Suite
  })
  return { server: createMultiServer(suites), ...(keys ? { keys } : {}), ephemeral, warnings }
}

/** What `ms serve` does with each connection. */
export type Handler =
  | { mode: 'echo' }
  | { mode: 'exec'; command: string }
  | { mode: 'stdio' }

/** The peer's authenticated key, from shs or noise. */
export function peerKey(connection: Connection): Uint8Array | undefined {
  return connection.info.shs?.publicKey ?? connection.info.noise?.publicKey
}

export function describePeer(connection: Connection): string {
  const key = peerKey(connection)
  return key ? `${connection.remoteAddress} (${feedId(key)})` : connection.remoteAddress
}

/** Pipes the connection through an echo. Resolves when both sides are done. */
export async function echo(connection: Connection): Promise<void> {
  try {
    await connection.readable.pipeTo(connection.writable)
  } catch {
    // The peer reset; nothing to echo any more.
  } finally {
    await connection.close()
  }
}

/** Runs `command` in a shell with the connection as its stdin and stdout (like `ncat --exec`). */
export function exec(connection: Connection, command: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, MS_REMOTE_ADDRESS: connection.remoteAddress }
    const key = peerKey(connection)
    if (key) env.MS_PEER_ID = feedId(key)
    const child = spawn(command, { shell: true, stdio: ['pipe', 'pipe', 'inherit'], env })
    // Over when the command has exited and its output has been sent; like
    // `ncat --exec`, a command that exits ends the connection.
    let finished = 0
    const done = () => {
      if (++finished === 2) void connection.close().then(() => resolve())
    }
    child.once('error', (error) => {
      log(`exec failed: ${error.message}`)
      void connection.close()
    })
    child.once('close', (code, signal) => {
      if (code !== 0) log(`command exited with ${signal ?? code}`)
      done()
    })
    // Connection -> child's stdin; end of input ends its stdin.
    void (async () => {
      try {
        const reader = connection.readable.getReader()
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          if (!child.stdin.write(r.value)) await new Promise((ok) => child.stdin.once('drain', ok))
        }
      } catch {
        // Reset by the peer: stop feeding the command.
      }
      child.stdin.end()
    })()
    child.stdin.on('error', () => {})
    // Child's stdout -> connection; its end half-closes our side.
    void (async () => {
      const writer = connection.writable.getWriter()
      try {
        for await (const chunk of child.stdout) await writer.write(chunk as Uint8Array)
        await writer.close()
      } catch {
        child.stdout.destroy()
      }
      done()
    })()
  })
}

