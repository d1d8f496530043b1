import { afterEach, describe, expect, it } from 'vitest'
import { createAdmission } from '../src/admission.js'
import { LimitError, createMultiServer, defaultSourceOf, memory, type Connection, type MsError, type Segment, type Transform } from '../src/index.js'

/**
 * A transform whose inbound upgrades hang until aborted (a peer that sends
 * nothing); `live[i]()` reports progress for the i-th upgrade, `finish[i]()`
 * completes it.
 */
function stall() {
  const upgrades: { address: string; progress: () => void; finish: () => void; aborted: unknown }[] = []
  const transform: Transform = {
    name: 'stall',
    parse: (s: Segment) => (s.name === 'stall' ? {} : null),
    advertise: () => ({ name: 'stall', data: [] }),
    upgradeOutbound: async (c) => c,
    upgradeInbound: (connection, { signal, onProgress }) =>
      new Promise<Connection>((resolve, reject) => {
        const entry = { address: connection.remoteAddress, progress: () => onProgress?.(), finish: () => resolve(connection), aborted: undefined as unknown }
        upgrades.push(entry)
        signal?.addEventListener(
          'abort',
          () => {
            entry.aborted = signal.reason
            reject(signal.reason)
          },
          { once: true },
        )
      }),
  }
  return { transform, upgrades }
}

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((f) => f()))
})

async function setup(options: { maxPendingUpgrades?: number; maxPendingPerSource?: number; sourceOf?: (a: string) => string }) {
  const { transform, upgrades } = stall()
  const errors: MsError[] = []
  const served: Connection[] = []
  const ms = createMultiServer([[memory(), transform]])
  const listener = await ms.listen((c) => served.push(c), { ...options, onError: (e) => errors.push(e) })
  closers.push(() => listener.close())
  const raw = createMultiServer([[memory()]])
  const address = ms.stringify().split('~')[0]!
  const clients: Connection[] = []
  closers.push(() => Promise.all(clients.map((c) => c.close())))
  // One at a time, so the server sees them in this order.
  const open = async (n: number) => {
    for (let i = 0; i < n; i++) {
      clients.push(await raw.connect(address))
      await new Promise((r) => setTimeout(r, 0))
    }
  }
  return { upgrades, errors, served, open, clients }
}

describe('admission of inbound handshakes', () => {
  it('admits every newcomer and sheds the oldest idle handshake when full (the original refused none, ms used to refuse the newcomer)', async () => {
    const { upgrades, errors, open } = await setup({ maxPendingUpgrades: 2 })
    await open(4)
    expect(upgrades).toHaveLength(4)
    await expect.poll(() => errors.length).toBe(2)
    expect(errors.every((e) => e instanceof LimitError)).toBe(true)
    expect(errors[0]!.message).toMatch(/shed a handshake in progress: more than 2 handshakes were in progress \(maxPendingUpgrades\)/)
    // The two oldest were shed; the newest two are still in their handshake.
    expect(upgrades.map((u) => u.aborted !== undefined)).toEqual([true, true, false, false])
    expect(upgrades[0]!.aborted).toBeInstanceOf(LimitError)
    expect(errors.map((e) => e.address)).toEqual([upgrades[0]!.address, upgrades[1]!.address])
  })

  it('sheds handshakes that made no progress before one whose peer is live', async () => {
    const { upgrades, errors, served, open } = await setup({ maxPendingUpgrades: 3 })
    await open(3)
    // The oldest peer is live: it reported progress, so it is no longer the idlest.
    upgrades[0]!.progress()
    await open(2)
    await expect.poll(() => errors.length).toBe(2)
    expect(upgrades.map((u) => u.aborted !== undefined)).toEqual([false, true, true, false, false])
    upgrades[0]!.finish()
    await expect.poll(() => served.length).toBe(1)
    expect(served[0]!.remoteAddress).toBe(upgrades[0]!.address)
  })

  it('sheds from the source holding the most handshakes, not from a quieter one', async () => {
    // Odd clients come from "flood", even ones from their own hosts.
    const sourceOf = (a: string) => (Number(/(\d+)$/.exec(a)![1]) % 2 === 1 ? 'flood' : a)
    const { upgrades, errors, open } = await setup({ maxPendingUpgrades: 4, sourceOf })
    await open(4)
    const quiet = upgrades.filter((u) => sourceOf(u.address) !== 'flood')
    const flood = upgrades.filter((u) => sourceOf(u.address) === 'flood')
    expect(quiet.length + flood.length).toBe(4)
    // More from everywhere: whoever arrives, the flood pays while it holds the most.
    await open(6)
    await expect.poll(() => errors.length).toBe(6)
    // Sources left holding at most an equal share: the quiet peers of the first round survive where the flood's did not.
    const survivors = upgrades.filter((u) => u.aborted === undefined)
    expect(survivors).toHaveLength(4)
    const bySource = new Map<string, number>()
    for (const u of survivors) bySource.set(sourceOf(u.address), (bySource.get(sourceOf(u.address)) ?? 0) + 1)
    expect(Math.max(...bySource.values())).toBeLessThanOrEqual(2)
  })

  it('caps one source with maxPendingPerSource, shedding only its own', async () => {
    const sourceOf = (a: string) => (Number(/(\d+)$/.exec(a)![1]) % 2 === 1 ? 'flood' : a)
    const { upgrades, errors, open } = await setup({ maxPendingUpgrades: 100, maxPendingPerSource: 2, sourceOf })
    await open(10)
    await expect.poll(() => errors.length).toBe(3)
    for (const u of upgrades) {
      if (sourceOf(u.address) !== 'flood') expect(u.aborted).toBeUndefined()
    }
    expect(errors.every((e) => /flood had more than 2 handshakes in progress \(maxPendingPerSource\)/.test(e.message))).toBe(true)
  })

  it('gives a burst of newcomers one turn of the event loop to show progress before shedding', async () => {
    const shed: string[] = []
    const admission = createAdmission({ max: 2, maxPerSource: 2, sourceOf: (a) => a })
    const tickets = Array.from({ length: 10 }, (_, i) => admission.admit(`net:10.0.0.${i}:1`, () => shed.push(`10.0.0.${i}`))!)
    // Nothing is shed within the turn that accepted them...
    expect(shed).toEqual([])
    expect(admission.size).toBe(10)
    // ...so the first, whose bytes arrive in the next turn, is not shed for the nine behind it.
    admission.progress(tickets[0]!)
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    expect(admission.size).toBe(2)
    expect(shed).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8'])
    expect(tickets[0]!.shed).toBe(false)
    expect(tickets[9]!.shed).toBe(false)
  })

  it('bounds a burst even within one turn', () => {
    let shed = 0
    const admission = createAdmission({ max: 4, maxPerSource: 4, sourceOf: () => 'one' })
    for (let i = 0; i < 5000; i++) admission.admit('x', () => shed++)
    expect(admission.size).toBe(4 + 1024)
    expect(shed).toBe(5000 - 4 - 1024)
  })

  it('validates its limits', async () => {
    const ms = createMultiServer([[memory(), stall().transform]])
    await expect(ms.listen(() => {}, { maxPendingUpgrades: -1 })).rejects.toBeInstanceOf(TypeError)
    await expect(ms.listen(() => {}, { maxPendingPerSource: 1.5 })).rejects.toBeInstanceOf(TypeError)
  })

  it('counts connections by host (IPv6 by /64)', () => {
    expect(defaultSourceOf('net:127.0.0.1:5000')).toBe('127.0.0.1')
    expect(defaultSourceOf('ws://127.0.0.1:5000')).toBe('127.0.0.1')
    expect(defaultSourceOf('wss://[2001:db8:1:2:3:4:5:6]:443')).toBe('2001:db8:1:2::/64')
    expect(defaultSourceOf('net:2001:db8:1:2:aaaa::1:5000')).toBe('2001:db8:1:2::/64')
    expect(defaultSourceOf('net:2001:db8::1:5000')).toBe('2001:db8:0:0::/64')
    expect(defaultSourceOf('net:::ffff:10.0.0.1:5000')).toBe('10.0.0.1')
    expect(defaultSourceOf('net:::1:5000')).toBe('0:0:0:0::/64')
    expect(defaultSourceOf('unix:/tmp/x/socket')).toBe('/tmp/x/socket')
  })
})
