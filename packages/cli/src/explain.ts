import { AddressError, createMultiServer, parseMultiAddress, stringifyAddress, stringifySegment, toBase64, type Segment } from '@ms/core'
import { KNOWN, suitesFor, type PluginName, type Plugins } from './plugins.js'

export interface SegmentExplanation {
  /** The segment as written (escapes applied). */
  text: string
  name: string
  data: string[]
  /** `transport` for the first segment of an alternative, `transform` for the rest. */
  role: 'transport' | 'transform'
  /** The package that owns this segment name, if the CLI knows one. */
  plugin?: string
  /** `ok`: the plugin parsed it; `rejected`: the plugin exists but refuses this data; `missing`: known but not installed; `unknown`: nobody knows the name; `misplaced`: e.g. a transform where a transport belongs. */
  status: 'ok' | 'rejected' | 'missing' | 'unknown' | 'misplaced'
  /** What the plugin understood, as readable fields. */
  fields?: Record<string, string>
  /** Why it is not usable, when status is not `ok`. */
  problem?: string
}

export interface AlternativeExplanation {
  text: string
  segments: SegmentExplanation[]
  /** The suite (e.g. `net~shs`) that can dial it, or `null`. */
  suite: string | null
}

export interface AddressExplanation {
  address: string
  valid: boolean
  /** For invalid addresses: the parser's message and the offset it stopped at. */
  error?: { message: string; position?: number }
  alternatives: AlternativeExplanation[]
}

/** Explains an address part by part, and which installed plugins understand each part. */
export function explainAddress(address: string, plugins: Plugins): AddressExplanation {
  let parsed: Segment[][]
  try {
    parsed = parseMultiAddress(address)
  } catch (error) {
    const e = error as AddressError
    return { address, valid: false, error: { message: e.message, ...(e.position !== undefined ? { position: e.position } : {}) }, alternatives: [] }
  }
  const alternatives = parsed.map((alternative) => {
    const segments = alternative.map((segment, index) => explainSegment(segment, index === 0 ? 'transport' : 'transform', plugins))
    let suite: string | null = null
    if (segments.every((s) => s.status === 'ok')) {
      // The authoritative answer: ask a MultiServer made of these plugins.
      const suites = suitesFor([alternative], plugins)
      if (suites.length > 0) suite = createMultiServer(suites).plan(stringifyAddress(alternative))[0]?.suite ?? null
    }
    return { text: stringifyAddress(alternative), segments, suite }
  })
  return { address, valid: true, alternatives }
}

function explainSegment(segment: Segment, role: 'transport' | 'transform', plugins: Plugins): SegmentExplanation {
  const base = { text: stringifySegment(segment), name: segment.name, data: segment.data, role }
  const known = KNOWN[segment.name as PluginName]
  if (!known) {
    const names = Object.entries(KNOWN)
      .filter(([, k]) => k.kind === role)
      .map(([n]) => n)
    return { ...base, status: 'unknown', problem: `no known ${role} is called "${segment.name}" (known ${role}s: ${names.join(', ')})` }
  }
  const plugin = known.package
  if (known.kind !== role) {
    return {
      ...base,
      plugin,
      status: 'misplaced',
      problem: role === 'transport' ? `${segment.name} is a transform; an address starts with a transport (net, ws, unix, onion)` : `${segment.name} is a transport; only transforms may follow "~"`,
    }
  }
  const instance = role === 'transport' ? plugins.transports[segment.name as PluginName] : plugins.transforms[segment.name as PluginName]
  if (!instance) {
    return { ...base, plugin, status: 'missing', problem: `${plugin} is not installed or failed to load${plugins.missing[segment.name as PluginName] ? `: ${plugins.missing[segment.name as PluginName]}` : ''}` }
  }
  let options: unknown = null
  try {
    options = instance.parse(segment)
  } catch {
    options = null
  }
  if (options === null || options === undefined) {
    return { ...base, plugin, status: 'rejected', problem: `${plugin} does not accept this ${segment.name} segment: ${hint(segment)}` }
  }
  return { ...base, plugin, status: 'ok', fields: describeOptions(segment.name, options) }
}

function hint(segment: Segment): string {
  switch (segment.name) {
    case 'net':
      return 'expected net:HOST:PORT with a port from 1 to 65535'
    case 'ws':
      return 'expected ws:HOST:PORT (or wss:, with an optional path)'
    case 'unix':
      return 'expected unix:PATH'
    case 'onion':
      return 'expected onion:NAME.onion:PORT (a v3 onion name)'
    case 'shs':
      return 'expected shs:KEY with the server public key as base64 of 32 bytes'
    case 'noauth':
      return 'noauth takes no data'
    default:
      return 'malformed data'
  }
}

/** Turns a plugin's dial options into readable strings (bytes as base64, keys as SSB ids). */
function describeOptions(name: string, options: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (options === null || typeof options !== 'object') return out
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    if (value === undefined) continue
    if (value instanceof Uint8Array) {
      out[key] = name === 'shs' && key === 'publicKey' ? `@${toBase64(value)}.ed25519` : toBase64(value)
    } else if (typeof value === 'object') {
      out[key] = JSON.stringify(value)
    } else {
      out[key] = String(value)
    }
  }
  return out
}

/** Human-readable rendering of an explanation. */
export function formatExplanation(e: AddressExplanation): string {
  const lines: string[] = []
  if (!e.valid) {
    lines.push(`invalid address: ${e.error!.message}`)
    if (e.error!.position !== undefined && e.address.length < 200 && !/[\r\n]/.test(e.address)) {
      lines.push(`  ${e.address}`, `  ${' '.repeat(e.error!.position)}^`)
    }
    return lines.join('\n')
  }
  const many = e.alternatives.length > 1
  if (many) lines.push(`${e.alternatives.length} alternatives, separated by ";" (a client tries them in order):`)
  e.alternatives.forEach((alt, i) => {
    lines.push(many ? `\n[${i + 1}] ${alt.text}` : alt.text)
    for (const s of alt.segments) {
      const label = s.role === 'transport' ? 'transport' : 'transform'
      if (s.status === 'ok') {
        const fields = Object.entries(s.fields ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')
        lines.push(`  ${s.text.length > 60 ? s.text.slice(0, 57) + '...' : s.text}`)
        lines.push(`      ${label} ${s.name} (${s.plugin}: ${KNOWN[s.name as PluginName].what})${fields ? `\n      ${fields}` : ''}`)
      } else {
        lines.push(`  ${s.text}`)
        lines.push(`      ${label} ${s.name}: ${s.problem}`)
      }
    }
    lines.push(alt.suite ? `  => dialable with suite ${alt.suite}` : `  => no installed suite can dial this alternative`)
  })
  return lines.join('\n')
}
