import {
  canonicalScope,
  createMultiServer,
  type Connection,
  type MsError,
  type MultiServer,
  type MultiServerListener,
  type Scope,
  type Suite,
} from '@ms/core'
import { activeResources } from './handles.js'
import { ComplianceError, within } from './bounded.js'

/** What every check needs to know about the plugin under test. */
export interface CommonSetup {
  /** Shown in test names, e.g. `net (IPv4)`. */
  name: string
  /** The scope whose advertised address the client dials. Default `device`. */
  scope?: Scope
  /** Bytes for the large round trip. Default 16 MiB. */
  largeBytes?: number
  /** Connections opened at once in the parallel test. Default 100. */
  parallel?: number
  /** Per-test timeout of the test runner in ms. Default 60 s; checks fail on their own bounds long before. */
  timeout?: number
  /**
   * How long (ms) the suite waits for any one event (a connection, a
   * chunk, an end, an error, a settled abort) before failing with a message
   * naming it. Default 5000; raise it for slow networks (Tor).
   */
  eventTimeout?: number
  /**
   * Most bytes a writer may get accepted while the peer reads nothing.
   * Default 32 MiB (kernel socket buffers on loopback can hold several MiB).
   */
  backpressureLimit?: number
  /**
   * `true` when the dialled connections must offer `takeChannel` (the
   * `ByteChannel` fast path, see @ms/core), `false` when they must not.
   * Default: not required; a channel that is offered is checked all the same.
   */
  channel?: boolean
  /**
   * `true` for a transport that can carry only an end, no reset (unix
   * sockets, Tor streams): there an abort reaches the peer as an end, as
   * the contract allows. Default `false`: an abort must error the peer's readable.
   */
  endOnly?: boolean
}

export interface TransportSuiteSetup extends CommonSetup {
  /** A fresh server suite for each test (transport first, then transforms). */
  server: () => Suite
  /** A fresh client suite for each test. */
  client: () => Suite
}

export interface ResolvedSetup {
  scope: Scope
  large: number
  parallel: number
  timeout: number
  bound: number
  backpressureLimit: number
}

export const MiB = 1024 * 1024

export function resolve(setup: CommonSetup): ResolvedSetup {
  canonicalScope(setup.scope ?? 'device')
  return {
    scope: setup.scope ?? 'device',
    large: setup.largeBytes ?? 16 * MiB,
    parallel: setup.parallel ?? 100,
    timeout: setup.timeout ?? 60_000,
    bound: setup.eventTimeout ?? 5000,
    backpressureLimit: setup.backpressureLimit ?? 32 * MiB,
  }
}

/**
 * One check's world: a server and a client MultiServer, and everything
 * opened, so that a failing check still cleans up (with bounds of its own:
 * a broken `close()` must not hang the cleanup either).
 */
export class Harness {
  readonly server: MultiServer
  readonly client: MultiServer
  readonly baseline = activeResources()
  listener: MultiServerListener | undefined
  readonly opened: Connection[] = []
  readonly accepted: Connection[] = []
  readonly errors: MsError[] = []

  constructor(
    readonly setup: TransportSuiteSetup,
    readonly r: ResolvedSetup,
  ) {
    this.server = createMultiServer([setup.server()])
    this.client = createMultiServer([setup.client()])
  }

  async serve(onConnection: (c: Connection) => void): Promise<string> {
    this.listener = await within(
      this.server.listen(
        (c) => {
          this.accepted.push(c)
          onConnection(c)
        },
        { onError: (e) => this.errors.push(e) },
      ),
      this.r.bound * 2,
      'listen() did not resolve',
    )
    const address = this.server.stringify(this.r.scope)
    if (address === '') throw new ComplianceError(`the server advertises no address in scope ${this.r.scope}`)
    return address
  }

  async dial(address: string, options: { signal?: AbortSignal; timeout?: number } = {}): Promise<Connection> {
    const connection = await within(this.client.connect(address, options), this.r.bound * 2, 'connect() did not settle')
    this.opened.push(connection)
    return connection
  }

  /** A dialled connection plus the server's end, which nothing reads until the check does. */
  async dialHeld(): Promise<{ c: Connection; accepted: Promise<Connection> }> {
    let resolveServer!: (c: Connection) => void
    const accepted = new Promise<Connection>((resolve) => (resolveServer = resolve))
    const c = await this.dial(await this.serve(resolveServer))
    return { c, accepted: within(accepted, this.r.bound, 'the server never handed over the accepted connection') }
  }

  async closeListener(): Promise<void> {
    const listener = this.listener
    this.listener = undefined
    await within(listener?.close() ?? Promise.resolve(), this.r.bound, 'listener.close() did not resolve')
  }

  async cleanup(): Promise<void> {
    const all = [...this.opened.splice(0), ...this.accepted.splice(0)]
    const quietly = (p: Promise<unknown>) => within(p, this.r.bound, 'cleanup').catch(() => {})
    await Promise.all(all.map((c) => quietly(Promise.resolve().then(() => c.close()))))
    const listener = this.listener
    this.listener = undefined
    if (listener) await quietly(listener.close())
  }
}
