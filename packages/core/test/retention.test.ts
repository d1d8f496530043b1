import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { appendSegment, createMultiServer, memory, type Connection, type Segment, type Transform } from '../src/index.js'
import { waitUntil } from './wait.js'

// What a listener keeps for each open connection is paid thousands of times
// over by a busy server: once a handshake is done, nothing of it (its
// AbortController and signal, the admission ticket, callbacks) may stay
// alive with the connection.

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** A transform that remembers, weakly, the signal each inbound upgrade got. */
function watching(signals: WeakRef<AbortSignal>[]): Transform<{ key: string }> {
  return {
    name: 'watch',
    parse: (s: Segment) => (s.name === 'watch' && s.data.length === 1 ? { key: s.data[0]! } : null),
    advertise: () => ({ name: 'watch', data: ['server'] }),
    async upgradeOutbound(connection, opts) {
      return { ...connection, remoteAddress: appendSegment(connection.remoteAddress, { name: 'watch', data: [opts.key] }) }
    },
    async upgradeInbound(connection, { signal } = {}) {
      if (signal) signals.push(new WeakRef(signal))
      return { ...connection, remoteAddress: appendSegment(connection.remoteAddress, { name: 'watch', data: ['client'] }) }
    },
  }
}

async function collected(ref: WeakRef<object>): Promise<boolean> {
  const turn = () => new Promise((resolve) => setTimeout(resolve, 10))
  for (let i = 0; i < 10; i++) {
    // deref() keeps its target alive until the current job ends, so collect
    // only in a later turn of the event loop than the last look.
    await turn()
    gc()
    await turn()
    if (ref.deref() === undefined) return true
  }
  return false
}

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((f) => f()))
})

describe('an open connection after its upgrade', () => {
  it('does not keep the finished upgrade (its signal) alive on the listening side', async () => {
    const signals: WeakRef<AbortSignal>[] = []
    const server = createMultiServer([[memory({ id: 'retain1' }), watching(signals)]])
    const accepted: Connection[] = []
    const listener = await server.listen((c) => void accepted.push(c))
    closers.push(() => listener.close())
    const client = createMultiServer([[memory(), watching([])]])
    const outbound = await client.connect(server.stringify())
    closers.push(() => outbound.close())
    await waitUntil(() => accepted.length === 1, 'the connection to be accepted')
    expect(signals).toHaveLength(1)
    // Both ends stay open: the listener still tracks the connection.
    expect(await collected(signals[0]!)).toBe(true)
    expect(accepted[0]!.remoteAddress).toMatch(/~watch:client$/)
  })
})
