import { parseMultiAddress, stringifyAddress, stringifyMultiAddress, type Address, type Segment } from './address.js'
import { AbortError, ConnectError, DialError, HandshakeError, LimitError, MsError, NoTransportError, abortReason, isMsError } from './errors.js'
import { createAdmission, defaultSourceOf } from './admission.js'
import { canonicalScope } from './scope.js'
import { linkSignal } from './signal.js'
import type { CanonicalScope, Connection, Scope, Suite, Transform, Transport, TransportListener } from './types.js'

export interface ConnectOptions {
  signal?: AbortSignal
  /** Milliseconds for the whole connect, every alternative included. Default: none. */
  timeout?: number
  /**
   * Milliseconds to wait before also trying the next alternative while the
   * previous one is still pending (Happy Eyeballs). Default 250.
   */
  stagger?: number
  /**
   * Alternatives dialled at once. Once this many are pending, the next one
   * starts only when one of them fails, however long they hang (with no
   * `timeout`, an address listing many dead hosts would otherwise open a
   * socket every `stagger` ms without end). Default 4.
   */
  maxConcurrentDials?: number
}

export interface MultiServerListenOptions {
  /** Aborting it closes the listener. */
  signal?: AbortSignal
  /**
   * Called for failures that concern one inbound connection (a handshake
   * that failed, a transport error on an accepted socket). The listener and
   * every other connection carry on.
   */
  onError?: (error: MsError) => void
  /**
   * Maximum number of inbound connections still being upgraded by their
   * transforms (handshakes in progress). A newcomer is always admitted;
   * when full, the listener sheds a pending handshake instead: the idlest
   * one (longest without progress) of the source holding the most, so a
   * flood of silent connections cannot lock live clients out. Each shed
   * handshake is reported to `onError` as a `LimitError`. Default 1024.
   */
  maxPendingUpgrades?: number
  /**
   * Maximum handshakes in progress from one source (peer host; an IPv6
   * peer's /64); at the cap a newcomer from that source sheds that
   * source's idlest handshake. Default: `maxPendingUpgrades` (no cap of its
   * own: peers behind one NAT, or every local client, share a source).
   */
  maxPendingPerSource?: number
  /**
   * The source a connection counts against, from its transport
   * `remoteAddress`. Default `defaultSourceOf`: the peer host
   * (`net:1.2.3.4:5678` and `ws://1.2.3.4:5678` give `1.2.3.4`), IPv6 by /64.
   */
  sourceOf?: (remoteAddress: string) => string
}

export interface CloseOptions {
  /**
   * `false` (default): close every open inbound connection at once.
   * `true`: stop accepting, then wait for open connections to end by
   * themselves; aborting `signal` closes the rest.
   */
  graceful?: boolean
  signal?: AbortSignal
}

export interface MultiServerListener {
  /** Open inbound connections (after their transforms completed). */
  readonly connections: ReadonlySet<Connection>
  /** Inbound connections in their handshake now (see `maxPendingUpgrades`). */
  readonly pending: number
  /** Idempotent; resolves when every suite and connection is closed. */
  close(options?: CloseOptions): Promise<void>
}

/** One way the MultiServer could dial an alternative. */
export interface DialPlan {
  /** The alternative, as written. */
  address: string
  /** The suite that understands it, e.g. `net~shs`. */
  suite: string
  transportOptions: unknown
  transformOptions: unknown[]
}

export interface MultiServer {
  /** `;`-joined suite names, e.g. `net~shs;ws~shs`. */
  readonly name: string
  readonly suites: readonly Suite[]
  /** Starts every suite that can listen. Rejects (closing the rest) if any fails. */
  listen(onConnection: (connection: Connection) => void, options?: MultiServerListenOptions): Promise<MultiServerListener>
  /** The `;`-joined addresses advertised in `scope` (default `device`), or `''`. */
  stringify(scope?: Scope): string
  /** Connects to the first alternative that works. */
  connect(address: string, options?: ConnectOptions): Promise<Connection>
  /** Which suites understand which alternatives. Throws `AddressError` on bad input. */
  plan(address: string): DialPlan[]
}

/** The name of a suite, e.g. `net~shs`. */
export function suiteName(suite: Suite): string {
  return suite.map((plugin) => plugin.name).join('~')
}

const DEFAULT_STAGGER = 250
const DEFAULT_MAX_CONCURRENT_DIALS = 4
const DEFAULT_MAX_PENDING_UPGRADES = 1024

/**
 * Composes suites (a transport and its transforms) into one server and
 * client. See the package README for the semantics.
 */
export function createMultiServer(suites: readonly Suite[]): MultiServer {
  if (!Array.isArray(suites) || suites.length === 0) throw new TypeError('createMultiServer needs at least one suite')
  for (const suite of suites) {
    if (!Array.isArray(suite) || suite.length === 0) throw new TypeError('a suite is [transport, ...transforms]')
  }
  const names = suites.map(suiteName)
  let active: { suites: (TransportListener | undefined)[] } | undefined

  function plan(address: string): DialPlan[] {
    const alternatives = parseMultiAddress(address)
    const plans: DialPlan[] = []
    for (const alternative of alternatives) {
      const found = matchSuite(suites, alternative)
      if (found) plans.push({ address: stringifyAddress(alternative), ...found })
    }
    return plans
  }

  function matchSuite(all: readonly Suite[], alternative: Address) {
    for (let s = 0; s < all.length; s++) {
      const suite = all[s]!
      if (suite.length !== alternative.length) continue
      const [transport, ...transforms] = suite
      const transportOptions = safeParse(transport, alternative[0]!)
      if (transportOptions === null) continue
      const transformOptions: unknown[] = []
      let ok = true
      for (let k = 0; k < transforms.length && ok; k++) {
        const options = safeParse(transforms[k]!, alternative[k + 1]!)
        if (options === null) ok = false
        else transformOptions.push(options)
      }
      if (ok) return { suite: names[s]!, suiteIndex: s, transportOptions, transformOptions }
    }
    return null
  }

  async function dialOne(p: DialPlan & { suiteIndex?: number }, signal: AbortSignal | undefined): Promise<Connection> {
    const suite = suites[p.suiteIndex ?? names.indexOf(p.suite)]!
    const [transport, ...transforms] = suite
    let connection: Connection
    try {
      connection = await transport.dial(p.transportOptions, { signal })
    } catch (error) {
      throw signal?.aborted ? abortReason(signal, p.address) : asMsError(error, p.address, 'dial')
    }
    try {
      for (let k = 0; k < transforms.length; k++) {
        if (signal?.aborted) throw abortReason(signal, p.address)
        connection = await (transforms[k] as Transform).upgradeOutbound(connection, p.transformOptions[k], { signal })
      }
      if (signal?.aborted) throw abortReason(signal, p.address)
      return connection
    } catch (error) {
      void connection.close(error)
      throw signal?.aborted ? abortReason(signal, p.address) : asMsError(error, p.address, 'handshake')
    }
  }

  async function connect(address: string, options: ConnectOptions = {}): Promise<Connection> {
    const plans = plan(address) as (DialPlan & { suiteIndex?: number })[]
    if (plans.length === 0) throw new NoTransportError(address, names)
    // One alternative and nothing to abort it: no race, no signal to link.
    if (plans.length === 1 && !options.signal && options.timeout === undefined) return dialOne(plans[0]!, undefined)
    const maxDials = options.maxConcurrentDials ?? DEFAULT_MAX_CONCURRENT_DIALS
    if (!(Number.isInteger(maxDials) && maxDials >= 1)) throw new TypeError(`connect: maxConcurrentDials must be a positive integer, got ${String(maxDials)}`)
    const linked = linkSignal({ signal: options.signal, timeout: options.timeout, address, what: 'connect' })
    try {
      return await happyEyeballs(plans, linked.signal, options.stagger ?? DEFAULT_STAGGER, maxDials, address)
    } finally {
      linked.dispose()
    }
  }

  function happyEyeballs(plans: DialPlan[], signal: AbortSignal, stagger: number, maxDials: number, address: string): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const attempts: AbortController[] = []
      const errors: { address: string; error: unknown }[] = new Array(plans.length)
      let failed = 0
      let started = 0
      let settled = false
      let winner: AbortController | undefined
      let timer: ReturnType<typeof setTimeout> | undefined

      const finish = (fn: () => void, reason: unknown = new MsError('another alternative connected first')) => {
        if (settled) return
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        for (const attempt of attempts) {
          if (attempt !== winner) attempt.abort(reason)
        }
        fn()
      }
      // The only listener on the caller's signal: it aborts every attempt
      // through the attempt's own controller, so a long list of
      // alternatives never piles listeners onto one signal.
      const onAbort = () => finish(() => reject(abortReason(signal, address)), signal.reason)
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })

      const startNext = () => {
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
        if (settled || started >= plans.length) return
        // At the cap: the next starts when one of these fails.
        if (started - failed >= maxDials) return
        const index = started++
        const p = plans[index]!
        const controller = new AbortController()
        attempts.push(controller)
        dialOne(p, controller.signal).then(
          (connection) => {
            if (settled) return void connection.close()
            winner = controller
            finish(() => resolve(connection))
          },
          (error: unknown) => {
            errors[index] = { address: p.address, error }
            failed++
            if (settled) return
            if (failed === plans.length) {
              finish(() => reject(plans.length === 1 ? error : new ConnectError(address, errors)))
            } else if (started === failed || started - failed === maxDials - 1) {
              // Nothing pending, or a place under the cap freed: no reason to wait for the stagger.
              startNext()
            }
          },
        )
        if (started < plans.length && started - failed < maxDials) {
          timer = setTimeout(startNext, stagger)
          ;(timer as { unref?: () => void }).unref?.()
        }
      }
      startNext()
    })
  }

  async function listen(
    onConnection: (connection: Connection) => void,
    options: MultiServerListenOptions = {},
  ): Promise<MultiServerListener> {
    if (active) throw new MsError('this MultiServer is already listening; close its listener first')
    const onError = options.onError ?? (() => {})
    const maxPending = options.maxPendingUpgrades ?? DEFAULT_MAX_PENDING_UPGRADES
    const maxPerSource = options.maxPendingPerSource ?? maxPending
    for (const [name, value] of [['maxPendingUpgrades', maxPending], ['maxPendingPerSource', maxPerSource]] as const) {
      if (!(Number.isInteger(value) && value >= 0)) throw new TypeError(`listen: ${name} must be a non-negative integer, got ${String(value)}`)
    }
    const admission = createAdmission({ max: maxPending, maxPerSource: Math.max(1, maxPerSource), sourceOf: options.sourceOf ?? defaultSourceOf })
    const lifetime = new AbortController()
    const connections = new Set<Connection>()
    const raw = new Set<Connection>()
    const upgrading = new Set<AbortController>()
    const state: { suites: (TransportListener | undefined)[] } = { suites: [] }
    active = state

    const accept = (suite: Suite) => async (connection: Connection) => {
      const [, ...transforms] = suite
      if (lifetime.signal.aborted) return void connection.close()
      let current = connection
      if (transforms.length > 0) {
        // One controller per upgrade rather than the listener's own signal:
        // thousands of handshakes each adding an abort listener to one
        // signal would trip Node's MaxListenersExceededWarning.
        const upgrade = new AbortController()
        let shedError: LimitError | undefined
        const ticket = admission.admit(connection.remoteAddress, (why) => {
          shedError = new LimitError(`shed a handshake in progress: ${why}`, { address: connection.remoteAddress })
          upgrade.abort(shedError)
          void connection.close(shedError)
        })
        if (!ticket) {
          void connection.close()
          onError(new LimitError('no handshake may be in progress (maxPendingUpgrades is 0); closed one', { address: connection.remoteAddress }))
          return
        }
        holdUntilClosed(raw, connection)
        upgrading.add(upgrade)
        const onProgress = () => admission.progress(ticket)
        try {
          for (let k = 0; k < transforms.length; k++) {
            if (k > 0) onProgress()
            current = await (transforms[k] as Transform).upgradeInbound(current, { signal: upgrade.signal, onProgress })
          }
        } catch (error) {
          void connection.close(error)
          if (!lifetime.signal.aborted) onError(shedError ?? asMsError(error, current.remoteAddress, 'handshake'))
          return
        } finally {
          upgrading.delete(upgrade)
          admission.release(ticket)
        }
        if (shedError) {
          // Shed while the last step was finishing: it must not count as served.
          void current.close(shedError)
          if (!lifetime.signal.aborted) onError(shedError)
          return
        }
      } else {
        holdUntilClosed(raw, connection)
      }
      if (lifetime.signal.aborted) return void current.close()
      holdUntilClosed(connections, current)
      try {
        onConnection(current)
      } catch (error) {
        // A throwing handler must not take the listener down; report it.
        onError(asMsError(error, current.remoteAddress, 'onConnection'))
      }
    }

    try {
      await Promise.all(
        suites.map(async (suite, index) => {
          const transport = suite[0] as Transport
          if (!transport.listen) return
          const listener = await transport.listen(accept(suite), { signal: lifetime.signal, onError })
          if (lifetime.signal.aborted) await listener.close()
          else state.suites[index] = listener
        }),
      )
    } catch (error) {
      lifetime.abort()
      await Promise.allSettled(state.suites.map((l) => l?.close()))
      active = undefined
      throw asMsError(error, undefined, 'listen')
    }

    let closing: Promise<void> | undefined
    const close = (closeOptions: CloseOptions = {}) => {
      closing ??= (async () => {
        options.signal?.removeEventListener('abort', onSignal)
        const listeners = state.suites
        await Promise.allSettled(listeners.map((l) => l?.close()))
        if (closeOptions.graceful) {
          const all = Promise.allSettled([...raw].map((c) => c.closed))
          const stop = closeOptions.signal
          if (stop && !stop.aborted) {
            await new Promise<void>((resolve) => {
              stop.addEventListener('abort', () => resolve(), { once: true })
              void all.then(() => resolve())
            })
          } else if (!stop) await all
        }
        lifetime.abort()
        for (const upgrade of upgrading) upgrade.abort(new AbortError('the listener closed'))
        await Promise.allSettled([...raw, ...connections].map((c) => c.close()))
        if (active === state) active = undefined
      })()
      return closing
    }
    const onSignal = () => void close()
    if (options.signal?.aborted) await close()
    else options.signal?.addEventListener('abort', onSignal, { once: true })
    return {
      connections,
      close,
      get pending() {
        return admission.size
      },
    }
  }

  function stringify(scope: Scope = 'device'): string {
    const canonical = canonicalScope(scope)
    const addresses: Address[] = []
    suites.forEach((suite, index) => {
      const [transport, ...transforms] = suite
      // Listening: what the listener bound. Otherwise (not yet, or no more):
      // what the transport's options already fix, so an address can be built
      // at start-up; a port the OS will choose is unknown until bound.
      const listener = active?.suites[index]
      const segments = listener ? listener.addresses(canonical) : configuredAddresses(transport as Transport, canonical)
      if (segments.length === 0) return
      const tail: Segment[] = transforms.map((t) => (t as Transform).advertise(canonical))
      for (const segment of segments) addresses.push([segment, ...tail])
    })
    return addresses.length ? stringifyMultiAddress(addresses) : ''
  }

  return { name: names.join(';'), suites, listen, stringify, connect, plan }
}

/**
 * Keeps `connection` in `set` until it closes. At module level on purpose:
 * a closure written inside `accept` would share that function's context
 * and keep the finished upgrade's AbortController, admission ticket and
 * callbacks alive for as long as the connection lives (about 1 KB on each
 * of thousands of idle connections).
 */
function holdUntilClosed(set: Set<Connection>, connection: Connection): void {
  set.add(connection)
  void connection.closed.then(() => set.delete(connection))
}

function configuredAddresses(transport: Transport, scope: CanonicalScope): Segment[] {
  if (typeof transport.configuredAddresses !== 'function') return []
  try {
    return transport.configuredAddresses(scope) ?? []
  } catch {
    // Advertising must not throw; a transport that cannot say advertises nothing yet.
    return []
  }
}

function safeParse(plugin: { parse(segment: Segment): unknown }, segment: Segment): unknown {
  try {
    const result = plugin.parse(segment)
    return result === undefined ? null : result
  } catch {
    // A plugin's parse must not throw; one that does simply does not match.
    return null
  }
}

/** Wraps anything thrown into an MsError that carries the address. */
function asMsError(error: unknown, address: string | undefined, stage: string): MsError {
  if (isMsError(error)) {
    if (error.address === undefined && address !== undefined) (error as { address: string | undefined }).address = address
    return error
  }
  if (isMsError(error, 'AddressError')) return error
  const message = error instanceof Error ? error.message : String(error)
  if (stage === 'handshake') return new HandshakeError(message, { address, cause: error })
  return new DialError(message, { address, cause: error, code: (error as { code?: string } | null)?.code })
}
