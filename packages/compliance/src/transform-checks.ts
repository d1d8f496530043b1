import {
  AbortError,
  canonicalScope,
  isMsError,
  parseAddress,
  type Connection,
  type Suite,
  type Transform,
  type Transport,
  type TransportListener,
} from '@ms/core'
import { memory } from '@ms/core'
import { ComplianceError, describeError, outcome, stillPending, within } from './bounded.js'
import { activeResources, waitForNoLeaks } from './handles.js'
import { resolve, type CommonSetup } from './harness.js'
import { transportChecks, type ComplianceCheck } from './checks.js'

export interface TransformSuiteSetup extends CommonSetup {
  /** Fresh server-side transforms for each test. */
  server: () => Transform[]
  /** Fresh client-side transforms for each test. */
  client: () => Transform[]
  /** The transport underneath. Default: the in-memory transport. */
  transport?: () => { server: Transport; client: Transport }
}

/** A transform stack driven by hand, so that checks can see the inner connections. */
class Stack {
  readonly transports: { server: Transport; client: Transport }
  readonly serverTransforms: Transform[]
  readonly clientTransforms: Transform[]
  readonly baseline = activeResources()
  listener: TransportListener | undefined
  readonly inners: Connection[] = []
  readonly upgraded: Connection[] = []
  #waiting: ((c: Connection) => void)[] = []
  #arrived: Connection[] = []

  constructor(
    readonly setup: TransformSuiteSetup,
    readonly bound: number,
  ) {
    this.transports = (setup.transport ?? (() => ({ server: memory(), client: memory() })))()
    this.serverTransforms = setup.server()
    this.clientTransforms = setup.client()
  }

  get scope() {
    return canonicalScope(this.setup.scope ?? 'device')
  }

  async listen(): Promise<void> {
    const { server } = this.transports
    if (!server.listen) throw new ComplianceError(`the transport ${server.name} cannot listen`)
    this.listener = await within(
      server.listen(
        (c) => {
          this.inners.push(c)
          const waiter = this.#waiting.shift()
          if (waiter) waiter(c)
          else this.#arrived.push(c)
        },
        {},
      ),
      this.bound,
      'the transport did not listen',
    )
  }

  /** The next inner connection the server accepted. */
  accepted(): Promise<Connection> {
    const ready = this.#arrived.shift()
    if (ready) return Promise.resolve(ready)
    return within(new Promise<Connection>((resolve) => this.#waiting.push(resolve)), this.bound, 'the transport never accepted the dialled connection')
  }

  async dialInner(): Promise<Connection> {
    const segment = this.listener!.addresses(this.scope)[0]
    if (!segment) throw new ComplianceError(`the transport advertises no address in scope ${this.scope}`)
    const { client } = this.transports
    const options = client.parse(segment)
    if (options === null) throw new ComplianceError(`the client transport does not parse ${segment.name}`)
    const inner = await within(client.dial(options, {}), this.bound, 'the transport did not dial')
    this.inners.push(inner)
    return inner
  }

  /** Dial options for client transform `i`, from what server transform `i` advertises. */
  dialOptions(i: number): unknown {
    const segment = this.serverTransforms[i]!.advertise(this.scope)
    const options = this.clientTransforms[i]!.parse(segment)
    if (options === null) throw new ComplianceError(`${this.clientTransforms[i]!.name}.parse() refused the segment the server advertises`)
    return options
  }

  /** Upgrades through every client transform; `layers` gets each [inner, upgraded]. */
  async upgradeClient(inner: Connection, signal?: AbortSignal, layers: [Connection, Connection][] = []): Promise<Connection> {
    let c = inner
    for (let i = 0; i < this.clientTransforms.length; i++) {
      const next = await this.clientTransforms[i]!.upgradeOutbound(c, this.dialOptions(i), { signal })
      this.upgraded.push(next)
      layers.push([c, next])
      c = next
    }
    return c
  }

  async upgradeServer(inner: Connection, signal?: AbortSignal, layers: [Connection, Connection][] = []): Promise<Connection> {
    let c = inner
    for (const transform of this.serverTransforms) {
      const next = await transform.upgradeInbound(c, { signal })
      this.upgraded.push(next)
      layers.push([c, next])
      c = next
    }
    return c
  }

  /** A client and server pair, upgraded on both ends. */
  async pair(): Promise<{ client: Connection; server: Connection; clientInner: Connection; serverInner: Connection; clientLayers: [Connection, Connection][]; serverLayers: [Connection, Connection][] }> {
    await this.listen()
    const clientInner = await this.dialInner()
    const serverInner = await this.accepted()
    const clientLayers: [Connection, Connection][] = []
    const serverLayers: [Connection, Connection][] = []
    const [client, server] = await within(
      Promise.all([this.upgradeClient(clientInner, undefined, clientLayers), this.upgradeServer(serverInner, undefined, serverLayers)]),
      this.bound,
      'the upgrades did not complete',
    )
    return { client, server, clientInner, serverInner, clientLayers, serverLayers }
  }

  async cleanup(): Promise<void> {
    const quietly = (p: () => Promise<unknown>) => within(Promise.resolve().then(p), this.bound, 'cleanup').catch(() => {})
    await Promise.all([...this.upgraded.splice(0), ...this.inners.splice(0)].map((c) => quietly(() => c.close())))
    const listener = this.listener
    this.listener = undefined
    if (listener) await quietly(() => listener.close())
  }
}

function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new ComplianceError(message)
}

/** The checks for a transform: the transport checks over the stack, and those that need the inner connection. */
export function transformChecks(setup: TransformSuiteSetup): ComplianceCheck[] {
  const { bound } = resolve(setup)
  const transports = setup.transport ?? (() => ({ server: memory(), client: memory() }))
  let pair: { server: Transport; client: Transport } | undefined
  const next = () => (pair ??= transports())
  const checks = transportChecks({
    ...setup,
    name: `${setup.name} (transform)`,
    server: () => [next().server, ...setup.server()] as Suite,
    client: () => {
      const { client } = next()
      pair = undefined
      return [client, ...setup.client()] as Suite
    },
  })

  const check = (name: string, body: (stack: Stack) => Promise<void>) =>
    checks.push({
      name,
      async run() {
        const stack = new Stack(setup, bound)
        try {
          await body(stack)
        } finally {
          await stack.cleanup()
        }
      },
    })

  check('appends its segment to remoteAddress on both ends', async (stack) => {
    const { clientLayers, serverLayers } = await stack.pair()
    for (const [side, layers, transforms] of [
      ['client', clientLayers, stack.clientTransforms],
      ['server', serverLayers, stack.serverTransforms],
    ] as const) {
      layers.forEach(([inner, upgraded], i) => {
        const name = transforms[i]!.name
        const prefix = `${inner.remoteAddress}~`
        expectThat(
          upgraded.remoteAddress.startsWith(prefix),
          `${side}: ${name} gave remoteAddress ${JSON.stringify(upgraded.remoteAddress)}; it must be the inner ${JSON.stringify(inner.remoteAddress)} with its segment appended (appendSegment)`,
        )
        let last: string | undefined
        try {
          const segments = parseAddress(upgraded.remoteAddress)
          last = segments[segments.length - 1]?.name
        } catch (error) {
          throw new ComplianceError(`${side}: ${name} gave a remoteAddress that does not parse: ${describeError(error)}`)
        }
        expectThat(last === name, `${side}: the last segment of ${JSON.stringify(upgraded.remoteAddress)} is ${JSON.stringify(last)}, not ${name}`)
        expectThat(upgraded.direction === inner.direction, `${side}: ${name} changed direction from ${inner.direction} to ${upgraded.direction}`)
      })
    }
  })

  check('close() reaches the inner connection and the peer', async (stack) => {
    const { client, server, clientInner } = await stack.pair()
    const reader = server.readable.getReader()
    await within(client.close(), bound, "the upgraded connection's close() did not resolve")
    await within(clientInner.closed, bound, "after the upgraded connection's close(), the inner connection's `closed` did not resolve: close() did not reach it")
    const read = await within(outcome(reader.read()), bound, "after the client's close(), the server's readable neither ended nor errored")
    expectThat(read.ok && read.value.done === true, `after the client's close(), the server's readable ${read.ok ? 'delivered data' : `errored (${describeError(read.error)})`}; it must end`)
    await within(client.closed, bound, "the upgraded connection's `closed` did not resolve after close()")
  })

  check('writable.abort() reaches the inner connection', async (stack) => {
    const { client, clientInner } = await stack.pair()
    await within(outcome(client.writable.abort(new Error('compliance: the application gave up'))), bound, 'writable.abort() did not settle')
    await within(clientInner.closed, bound, "after the upgraded writable's abort(), the inner connection's `closed` did not resolve: the abort did not reach it")
  })

  check('rejects with AbortError when the signal is already aborted (both directions)', async (stack) => {
    await stack.listen()
    const clientInner = await stack.dialInner()
    const serverInner = await stack.accepted()
    const controller = new AbortController()
    controller.abort(new AbortError('compliance: aborted before the upgrade'))
    const outbound = await within(outcome(stack.upgradeClient(clientInner, controller.signal)), bound, 'upgradeOutbound with an aborted signal did not settle (the signal is ignored)')
    expectThat(!outbound.ok && isMsError(outbound.error, 'AbortError'), `upgradeOutbound with an aborted signal ${outbound.ok ? 'resolved' : `rejected with ${describeError(outbound.error)}`}, not AbortError`)
    const inbound = await within(outcome(stack.upgradeServer(serverInner, controller.signal)), bound, 'upgradeInbound with an aborted signal did not settle (the signal is ignored)')
    expectThat(!inbound.ok && isMsError(inbound.error, 'AbortError'), `upgradeInbound with an aborted signal ${inbound.ok ? 'resolved' : `rejected with ${describeError(inbound.error)}`}, not AbortError`)
  })

  check('rejects with AbortError when aborted mid-upgrade, and leaves nothing open', async (stack) => {
    await stack.listen()
    const clientInner = await stack.dialInner()
    const serverInner = await stack.accepted()
    for (const [side, upgrade] of [
      ['upgradeOutbound', (signal: AbortSignal) => stack.upgradeClient(clientInner, signal)],
      ['upgradeInbound', (signal: AbortSignal) => stack.upgradeServer(serverInner, signal)],
    ] as const) {
      // The other end does not upgrade: a transform with a handshake waits for it.
      const controller = new AbortController()
      const upgrading = outcome(upgrade(controller.signal))
      if (!(await stillPending(upgrading, 20))) {
        // It completed without the peer (no handshake): there is no "mid" to abort in.
        const done = await upgrading
        expectThat(done.ok, `${side} failed without the peer: ${done.ok ? '' : describeError(done.error)}`)
        continue
      }
      controller.abort(new AbortError('compliance: aborted mid-upgrade'))
      const result = await within(upgrading, bound, `${side} aborted mid-upgrade did not settle (the signal is ignored)`)
      expectThat(!result.ok && isMsError(result.error, 'AbortError'), `${side} aborted mid-upgrade ${result.ok ? 'resolved' : `rejected with ${describeError(result.error)}`}, not AbortError`)
    }
    // As the contract says, the caller closes the inner connections.
    await stack.cleanup()
    const leaked = await waitForNoLeaks(stack.baseline, bound)
    expectThat(Object.keys(leaked).length === 0, `left open after aborted upgrades: ${JSON.stringify(leaked)}`)
  })

  return checks
}
