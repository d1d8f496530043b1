/**
 * Admission of inbound handshakes: how many may be in progress at once, and
 * whom to shed when one more arrives.
 *
 * Refusing the newcomer when full (what the listener did first) lets anyone
 * lock every client out: a thousand connections that send nothing fill the
 * slots, and the attacker, re-opening as soon as a timeout frees one, wins
 * every slot again. Here the newcomer is always admitted and an idle
 * handshake is shed instead:
 *
 * - from the source (peer host; IPv6 by /64) holding the most pending
 *   handshakes, when it holds more than the source of the idlest one, so one
 *   address flooding cannot push out anybody else's handshakes;
 * - otherwise the handshake idle the longest: no progress reported through
 *   `UpgradeOptions.onProgress` since it was admitted or last made progress.
 *   Silent connections never progress, so a live client (which sends its
 *   first message at once) is shed only once every silent one has been.
 * - A source over `maxPerSource` sheds its own idlest instead.
 *
 * Peers that do send valid first messages (a CPU flood) progress like live
 * clients: among them shedding goes by the age of the last progress, a fair
 * share rather than a guarantee, and the server's CPU is the limit.
 *
 * Shedding waits for one turn of the event loop (see `scheduleSweep`), so
 * the number in progress may briefly exceed `max`, by at most `max` or
 * 1024, whichever is larger.
 */

export interface AdmissionOptions {
  /** Handshakes in progress at once. */
  max: number
  /** Handshakes in progress from one source at once. */
  maxPerSource: number
  /** The source of a connection (its peer host) from its `remoteAddress`. */
  sourceOf: (remoteAddress: string) => string
}

export interface AdmissionTicket {
  readonly source: string
  /** Set once shed: the upgrade must not complete. */
  shed: boolean
  /** Called (once) when this ticket is shed, with why, to abort the upgrade and close the connection. */
  readonly evict: (why: string) => void
}

export interface Admission {
  /** Admits a newcomer, shedding others first if needed. `null` only when `max` is 0. */
  admit(remoteAddress: string, evict: (why: string) => void): AdmissionTicket | null
  /** The ticket's peer made progress: it becomes the least idle. */
  progress(ticket: AdmissionTicket): void
  /** The upgrade ended (either way): frees the slot. Idempotent. */
  release(ticket: AdmissionTicket): void
  readonly size: number
}

export function createAdmission(options: AdmissionOptions): Admission {
  const { max, maxPerSource, sourceOf } = options
  // Past this many at once a newcomer sheds the idlest at once, without
  // waiting for the sweep: memory stays bounded whatever one turn accepts.
  const hard = max + Math.max(max, 1024)
  // Insertion-ordered sets: the first entry is the idlest (re-inserted on progress).
  const all = new Set<AdmissionTicket>()
  const bySource = new Map<string, Set<AdmissionTicket>>()
  const overfull = new Set<string>()
  let sweepScheduled = false

  const remove = (ticket: AdmissionTicket) => {
    if (!all.delete(ticket)) return false
    const mine = bySource.get(ticket.source)!
    mine.delete(ticket)
    if (mine.size === 0) bySource.delete(ticket.source)
    return true
  }
  const shed = (ticket: AdmissionTicket, why: string) => {
    remove(ticket)
    ticket.shed = true
    ticket.evict(why)
  }
  const victim = (): AdmissionTicket => {
    const idlest = all.values().next().value as AdmissionTicket
    let heaviest = bySource.get(idlest.source)!
    // A scan over the sources, only when over the limit; cheap next to a handshake.
    for (const set of bySource.values()) if (set.size > heaviest.size) heaviest = set
    return heaviest.values().next().value as AdmissionTicket
  }
  const sweep = () => {
    sweepScheduled = false
    for (const source of overfull) {
      const mine = bySource.get(source)
      while (mine && mine.size > maxPerSource) {
        shed(mine.values().next().value as AdmissionTicket, `${source} had more than ${maxPerSource} handshakes in progress (maxPendingPerSource) and this was its idlest`)
      }
    }
    overfull.clear()
    while (all.size > max) shed(victim(), `more than ${max} handshakes were in progress (maxPendingUpgrades) and this was the idlest`)
  }
  // A newcomer gets one turn of the event loop to show progress before the
  // sweep: a connection is accepted in one turn and its first bytes are
  // read in the next at the earliest, and one turn may accept hundreds of
  // connections (a flood re-opening as fast as it is shed). Shedding at
  // admission would shed a live client before its first message was read.
  const scheduleSweep = () => {
    if (sweepScheduled) return
    sweepScheduled = true
    afterNextPoll(sweep)
  }

  return {
    admit(remoteAddress, evict) {
      if (max <= 0) return null
      const source = safeSource(sourceOf, remoteAddress)
      if (all.size >= hard) shed(victim(), `${hard} handshakes were in progress (twice maxPendingUpgrades, or it plus 1024) and this was the idlest`)
      const ticket: AdmissionTicket = { source, shed: false, evict }
      all.add(ticket)
      let mine = bySource.get(source)
      if (!mine) bySource.set(source, (mine = new Set()))
      mine.add(ticket)
      // A per-source cap at or above the total is no cap of its own (the default).
      if (mine.size > maxPerSource && maxPerSource < max) overfull.add(source)
      if (all.size > max || overfull.size > 0) scheduleSweep()
      return ticket
    },
    progress(ticket) {
      if (!all.has(ticket)) return
      all.delete(ticket)
      all.add(ticket)
      const mine = bySource.get(ticket.source)!
      mine.delete(ticket)
      mine.add(ticket)
    },
    release(ticket) {
      remove(ticket)
    },
    get size() {
      return all.size
    },
  }
}

const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate

/**
 * Runs `fn` after the next I/O poll: in Node a check-phase callback queued
 * from the check phase runs in the next turn, after that turn's poll.
 * Elsewhere two macrotasks approximate it.
 */
function afterNextPoll(fn: () => void): void {
  if (immediate) immediate(() => immediate(fn))
  else setTimeout(() => setTimeout(fn, 0), 0)
}

function safeSource(sourceOf: (remoteAddress: string) => string, remoteAddress: string): string {
  try {
    return String(sourceOf(remoteAddress))
  } catch {
    return remoteAddress
  }
}

/**
 * The default source of a connection: the peer host in its transport
 * address (`net:1.2.3.4:5678` and `ws://1.2.3.4:5678` give `1.2.3.4`),
 * IPv6 hosts cut to their /64 (one subscriber's allocation), anything
 * else (unix sockets, unknown transports) as written minus a trailing port.
 */
export function defaultSourceOf(remoteAddress: string): string {
  let host: string
  const url = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:]*)/i.exec(remoteAddress)
  if (url) host = url[1]!
  else {
    // `name:host:port` as transports write it (colons of IPv6 hosts raw, as
    // the original multiserver writes them): drop the name and the port.
    const transportPart = remoteAddress.split('~')[0]!
    const colon = transportPart.indexOf(':')
    host = colon === -1 ? transportPart : transportPart.slice(colon + 1)
    host = host.replace(/:\d+$/, '')
  }
  host = host.replace(/^\[|\]$/g, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  if (mapped) return mapped[1]!
  if (/^[0-9a-f:]+(%.*)?$/i.test(host) && host.includes(':')) return ipv6Prefix(host.replace(/%.*$/, ''))
  return host
}

/** The first four groups of an IPv6 address, `::` expanded: its /64. */
function ipv6Prefix(host: string): string {
  const [head = '', tail] = host.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':') + '::/64'
}
