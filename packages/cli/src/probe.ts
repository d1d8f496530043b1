import {
  Deadline,
  createMultiServer,
  isMsError,
  parseMultiAddress,
  stringifyAddress,
  type Connection,
  type MsError,
  type Transform,
} from '@ms/core'
import { feedId } from './keys.js'
import { suitesFor, type Plugins } from './plugins.js'

/** One step of probing one alternative. */
export interface ProbeStep {
  /** `connect` for the transport, else the transform's name (`shs`, `noauth`). */
  stage: string
  /** The plugin doing it, e.g. `net` or `shs`. */
  plugin: string
  ok: boolean
  /** Milliseconds the step took (until it failed, for failures). */
  ms: number
}

/** Why an alternative failed, in a form scripts can branch on. */
export interface ProbeFailure {
  /** `parse`, `connect`, or the transform that failed (`shs`, ...). */
  stage: string
  /** The transform's own finer step, e.g. shs `msg2`. */
  detail?: string
  /**
   * One word: `unsupported` (no plugin for it), `refused`, `timeout`,
   * `unreachable`, `dns`, `no-socket`, `proxy-unreachable`, `proxy-error`,
   * `wrong-appkey`, `wrong-server-key`, `rejected` (noise: the server
   * hung up after msg1), `not-local`, `unauthorized`, `handshake`,
   * `reset`, `error`.
   */
  reason: string
  /** The error's class name and code, when there is one. */
  error?: string
  code?: string
  message: string
}

export interface ProbeResult {
  address: string
  suite: string | null
  ok: boolean
  steps: ProbeStep[]
  /** Total milliseconds. */
  ms: number
  /** The peer's identity when a transform authenticated it, e.g. `@...ed25519`. */
  peer?: string
  /** The full remote address after every transform. */
  remoteAddress?: string
  failure?: ProbeFailure
}

export interface ProbeOptions {
  /** Per-alternative timeout in ms, by transport name; `default` for the rest. */
  timeout: (transport: string) => number
  signal?: AbortSignal
  /** Called when a step starts, for progress display. */
  onStep?: (alternative: string, stage: string) => void
}

/** Tries each `;` alternative of `address` in turn and reports each step. Throws AddressError for invalid syntax. */
export async function probe(address: string, plugins: Plugins, options: ProbeOptions): Promise<ProbeResult[]> {
  const alternatives = parseMultiAddress(address)
  const results: ProbeResult[] = []
  for (const alternative of alternatives) {
    const text = stringifyAddress(alternative)
    results.push(await probeOne(text, alternative, plugins, options))
    if (options.signal?.aborted) break
  }
  return results
}

async function probeOne(text: string, alternative: ReturnType<typeof parseMultiAddress>[number], plugins: Plugins, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now()
  const steps: ProbeStep[] = []
  const suites = suitesFor([alternative], plugins)
  const plan = suites.length ? createMultiServer(suites).plan(text)[0] : undefined
  if (!plan) {
    const names = alternative.map((s) => s.name).join('~')
    const missing = alternative.filter((s, i) => !(i === 0 ? plugins.transports : plugins.transforms)[s.name as never]).map((s) => s.name)
    const message = missing.length
      ? `no installed plugin for ${missing.map((m) => `"${m}"`).join(', ')}`
      : `the ${names} plugins do not accept this address (malformed data; see \`ms parse\`)`
    return { address: text, suite: null, ok: false, steps, ms: 0, failure: { stage: 'parse', reason: 'unsupported', message } }
  }
  const suite = suites.find((s) => s.map((p) => p.name).join('~') === plan.suite)!
  const [transport, ...transforms] = suite
  const linked = new Deadline({ signal: options.signal, timeout: options.timeout(transport.name), address: text, what: 'probe' })
  let connection: Connection | undefined
  let stage = 'connect'
  let stepStart = performance.now()
  try {
    options.onStep?.(text, 'connect')
    // The deadline's race rejects even if a plugin ignores the signal; a late connection is closed.
    connection = await linked.race(transport.dial(plan.transportOptions, { signal: linked.signal }), (late) => void late.close())
    steps.push({ stage: 'connect', plugin: transport.name, ok: true, ms: round(performance.now() - stepStart) })
    for (let k = 0; k < transforms.length; k++) {
      const transform = transforms[k] as Transform
      stage = transform.name
      stepStart = performance.now()
      options.onStep?.(text, transform.name)
      connection = await linked.race(transform.upgradeOutbound(connection, plan.transformOptions[k], { signal: linked.signal }), (late) => void late.close())
      steps.push({ stage: transform.name, plugin: transform.name, ok: true, ms: round(performance.now() - stepStart) })
    }
    const publicKey = connection.info.shs?.publicKey ?? connection.info.noise?.publicKey
    const result: ProbeResult = {
      address: text,
      suite: plan.suite,
      ok: true,
      steps,
      ms: round(performance.now() - started),
      remoteAddress: connection.remoteAddress,
    }
    if (publicKey) result.peer = feedId(publicKey)
    return result
  } catch (error) {
    steps.push({ stage, plugin: stage === 'connect' ? transport.name : stage, ok: false, ms: round(performance.now() - stepStart) })
    return { address: text, suite: plan.suite, ok: false, steps, ms: round(performance.now() - started), failure: classify(error, stage, transport.name) }
  } finally {
    linked.dispose()
    await connection?.close()
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10


const DIAL_REASONS: Record<string, string> = {
  ECONNREFUSED: 'refused',
  ENOENT: 'no-socket',
  ENOTSOCK: 'no-socket',
  EACCES: 'permission',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ECONNRESET: 'reset',
  ETIMEDOUT: 'timeout',
  ENOPROXY: 'proxy-unreachable',
}

/** Names the exact stage and reason of a failure. */
export function classify(error: unknown, stage: string, transport: string): ProbeFailure {
  const e = error as Partial<MsError> & { code?: unknown; stage?: unknown }
  const message = error instanceof Error ? error.message : String(error)
  const code = typeof e?.code === 'string' ? e.code : undefined
  const base: ProbeFailure = { stage, reason: 'error', message }
  if (error instanceof Error) base.error = error.name
  if (code) base.code = code
  // A DOMException TimeoutError (AbortSignal.timeout) counts too.
  if (isMsError(error, 'TimeoutError') || (error instanceof Error && error.name === 'TimeoutError')) return { ...base, reason: 'timeout' }
  if (stage === 'connect') {
    if (code && DIAL_REASONS[code]) return { ...base, reason: DIAL_REASONS[code] }
    // The onion transport reports SOCKS replies as DialError codes `SOCKS_*` / `ONION_*`.
    if (transport === 'onion' && code && /^(SOCKS|ONION)_/.test(code)) return { ...base, reason: 'proxy-error' }
    if (error instanceof Error && /Socks/.test(error.name)) return { ...base, reason: 'proxy-error' }
    return base
  }
  if (isMsError(error, 'HandshakeError')) {
    const detail = typeof e.stage === 'string' ? e.stage : undefined
    const out: ProbeFailure = { ...base, reason: 'handshake' }
    if (detail) out.detail = detail
    if (stage === 'shs') {
      // secret-handshake never says why it hangs up, on purpose; where it
      // hangs up tells: after msg1 the server could not verify our app key,
      // after msg3 it could not open our auth box (we used the wrong key
      // for it) or it refused us.
      if (detail === 'msg2') out.reason = 'wrong-appkey'
      else if (detail === 'msg4') out.reason = 'wrong-server-key'
      // A key that is not even a valid Ed25519 point fails before we send msg3.
      else if (detail === 'msg3' && /server public key/i.test(message)) out.reason = 'wrong-server-key'
      else if (detail === 'authorize') out.reason = 'unauthorized'
    }
    if (stage === 'noise') {
      // Noise IK's server answers only a client that knows its key (and
      // network key) and that it authorizes; it hangs up on anyone else
      // without saying which, on purpose. A reply that does not verify is
      // a server holding another key, or not speaking noise.
      if (detail === 'msg1' && /server public key/i.test(message)) out.reason = 'wrong-server-key'
      else if (detail === 'msg2' && /hung up/.test(message)) out.reason = 'rejected'
      else if (detail === 'msg2' && /does not decrypt/.test(message)) out.reason = 'wrong-server-key'
    }
    if (stage === 'noauth' && detail === 'local-check') out.reason = 'not-local'
    return out
  }
  if (code && DIAL_REASONS[code]) return { ...base, reason: DIAL_REASONS[code] }
  return base
}

/** One line per alternative, for people. */
export function formatProbe(r: ProbeResult): string {
  const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`
  const steps = r.steps.filter((s) => s.ok).map((s) => `${s.stage === 'connect' ? `${s.plugin} connect` : s.stage} ${ms(s.ms)}`)
  if (r.ok) return `ok    ${r.address}\n      ${steps.join(', ')}${r.peer ? `; peer ${r.peer}` : ''}`
  const f = r.failure!
  const where = f.stage === 'parse' ? 'not tried' : `failed at ${f.stage}${f.detail ? ` (${f.detail})` : ''} after ${ms(r.steps.at(-1)?.ms ?? 0)}`
  const before = steps.length ? `      ${steps.join(', ')}\n` : ''
  return `FAIL  ${r.address}\n${before}      ${where}: ${f.reason}${f.code && f.code !== f.reason ? ` [${f.code}]` : ''}\n      ${f.message.split('\n').join('\n      ')}`
}

