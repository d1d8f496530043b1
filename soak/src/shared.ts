import sodium from 'sodium-native'

export interface ServerConfig {
  serverSeed: string
  appKey: string
  handshakeTimeout: number
  maxPendingUpgrades: number
  maxConnections: number
  /** Largest transfer the server accepts (and sends back). */
  maxSize: number
  transferDeadline: number
  sampleInterval: number
}

export interface ServerSample {
  t: number
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  handles: Record<string, number>
  fds: number
  open: number
  peakOpen: number
  listenerConnections: number
  eld: { p50: number; p99: number; max: number; mean: number }
  windowLagMax: number
  /** Largest event-loop stall seen so far (50 ms interval probe), ms. */
  maxLag: number
  /** CPU time (user + system) the server used so far. */
  cpuMs: number
  /** Server-side duration of inbound handshakes (success or failure). */
  handshakeMs: { max: number; mean: number; n: number; overTimeout: number }
  counters: Record<string, number>
  errors: Record<string, number>
  untypedSamples: string[]
}

/** What one client process was asked to do. */
export interface ClientConfig {
  name: string
  roles: { role: Role; concurrency: number }[]
  transport: 'net' | 'ws'
  /** `net:...~shs:...` or `ws://...~shs:...`. */
  address: string
  appKey: string
  /** Unix ms: start no new work after this. */
  until: number
  /** Unix ms: start work only from here (the flood waits for its window). */
  from: number
  /** Good transfers: bytes each way, drawn from [minSize, maxSize]. */
  minSize: number
  maxSize: number
  /** What the server accepts; stalling peers ask for this much. */
  serverMaxSize: number
  handshakeTimeout: number
  /** Stalled readers: how long to hold on (default 3-8 s at random). */
  holdMs?: number
  /** Upper bound on operations, so a run is bounded in count as well as time. */
  maxOps: number
}

export type Role = 'good' | 'abort' | 'reset' | 'stopread' | 'slowloris' | 'random' | 'badkey' | 'flood'

/** What a client process reports when it ends. */
export interface ClientReport {
  name: string
  transport: 'net' | 'ws'
  counts: Record<string, number>
  /** Good clients only: failures after the handshake (must be none). */
  failures: string[]
  /** Operations that did not finish within the client's watchdog (something hung). */
  stuck: string[]
  /** Milliseconds each kind of misbehaving peer held its connection before the server (or we) closed it. */
  held: Record<string, { max: number; mean: number; n: number }>
  floodRate: number
  /** Flood only: cheap msg1s answered with msg2 per second. */
  floodAnsweredRate: number
  windowSeconds: number
  /** Good clients: completed transfer durations. */
  latency?: { p50: number; p99: number; max: number }
}

export function keyPairFromSeed(seedBase64: string): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const seed = Buffer.from(seedBase64, 'base64')
  const publicKey = new Uint8Array(32)
  const secretKey = new Uint8Array(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  return { publicKey, secretKey }
}

export function randomBase64(n: number): string {
  const b = new Uint8Array(n)
  sodium.randombytes_buf(b)
  return Buffer.from(b).toString('base64')
}

/** host, port and server key out of `net:host:port~shs:key` or `ws://host:port~shs:key`. */
export function splitAddress(address: string): { host: string; port: number; key: Uint8Array } {
  const m = /^(?:net:|ws:\/\/)([0-9.]+):([0-9]+)\/?~shs:([A-Za-z0-9+/=]+)$/.exec(address)
  if (!m) throw new Error(`soak: cannot take apart ${address}`)
  return { host: m[1]!, port: Number(m[2]), key: Buffer.from(m[3]!, 'base64') }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
export const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1))
