// The cases of npm multiserver 3.8.2's test/multi.js and
// test/async-server-close.js, against the drop-in entry points.
import Compose from '@ms/compat/compose'
import Ms from '@ms/compat/multiserver'
import Net from '@ms/compat/plugins/net'
import Shs from '@ms/compat/plugins/shs'
import Ws from '@ms/compat/plugins/ws'
import pull from 'pull-stream'
import { describe, expect, it } from 'vitest'
import { callback, freePort, seedKeypair, sha256 } from './original-helpers.js'

describe('original test/multi.js on @ms/compat', () => {
  it('builds its address before listening, then connects by net and by ws, skipping an unknown protocol', async () => {
    const keys = seedKeypair(sha256('TESTSEED'))
    const shs = Shs({ keys, appKey: sha256('TEST'), auth: (_id, cb) => cb(null, true) })
    // Fixed ports, as the original's 4848/4849: the address is known before listening.
    const net = Net({ port: await freePort(), scope: 'device' })
    const ws = Ws({ port: await freePort(), scope: 'device' })
    const combined = Compose([net, shs])
    const combinedWs = Compose([ws, shs])
    const multi = Ms([combined, combinedWs])
    const multiWs = Ms([combinedWs])
    // "fake" is an unknown protocol, to make sure it gets skipped. Written at "module load".
    const serverAddr = 'fake:peer.ignore~nul:what;' + multi.stringify('device')
    expect(serverAddr).toMatch(/^fake:peer\.ignore~nul:what;net:localhost:\d+~shs:[^;]+;ws:\/\/localhost:\d+~shs:/)

    let clientAddr: string | undefined
    const listening = callback()
    const close = multi.server(
      (stream) => {
        clientAddr = stream.address
        pull(stream, stream)
      },
      null,
      listening.cb,
    )
    try {
      await listening.promise
      // listen: nothing changed by listening on fixed ports
      expect('fake:peer.ignore~nul:what;' + multi.stringify('device')).toBe(serverAddr)

      // connect to either server (net)
      expect(multi.stringify('device')).toBeTruthy()
      const viaNet = callback()
      multi.client(serverAddr, viaNet.cb)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      let stream: any = await viaNet.promise
      let reply = await new Promise<string>((resolve) => pull(pull.values([Buffer.from('Hello')]), stream, pull.collect((_e: unknown, ary: Buffer[]) => resolve(Buffer.concat(ary).toString('utf8')))))
      expect(clientAddr).toMatch(/^net/)
      expect(stream.address).toMatch(/^net/)
      expect(reply).toBe('Hello')

      // connect to either server (ws)
      const viaWs = callback()
      multiWs.client(serverAddr, viaWs.cb)
      stream = await viaWs.promise
      reply = await new Promise<string>((resolve) => pull(pull.values([Buffer.from('Hello')]), stream, pull.collect((_e: unknown, ary: Buffer[]) => resolve(Buffer.concat(ary).toString('utf8')))))
      expect(clientAddr).toMatch(/^ws/)
      expect(stream.address).toMatch(/^ws/)
      expect(reply).toBe('Hello')
    } finally {
      await new Promise((resolve) => close(resolve as () => void))
    }
  })
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Counter = { passes: number; asyncCalls: number; events: string[] }

function syncServer(t: Counter) {
  return {
    server() {
      return function close() {
        t.passes++
        t.events.push('sync close')
      }
    },
  }
}

function asyncServer(t: Counter) {
  return {
    server() {
      return function close(cb: (err: Error | null) => void) {
        // The original waits 100 ms; any later turn shows that close(cb) waited.
        setImmediate(() => {
          t.asyncCalls++
          t.events.push('async close')
          cb(null)
        })
      }
    },
  }
}

describe('original test/async-server-close.js on @ms/compat', () => {
  it('all calls are sync', () => {
    const t: Counter = { passes: 0, asyncCalls: 0, events: [] }
    const close = Ms([syncServer(t), syncServer(t)]).server(() => {})
    close()
    expect(t.passes).toBe(2)
  })

  it('all calls are async (twice, as the original has it twice)', async () => {
    for (let round = 0; round < 2; round++) {
      const t: Counter = { passes: 0, asyncCalls: 0, events: [] }
      const close = Ms([asyncServer(t), asyncServer(t)]).server(() => {})
      const err = await new Promise((resolve) => close(resolve))
      expect(err).toBeFalsy()
      expect(t.asyncCalls).toBe(2)
    }
  })

  it('async caller, mixed callees', async () => {
    const t: Counter = { passes: 0, asyncCalls: 0, events: [] }
    const close = Ms([syncServer(t), asyncServer(t)]).server(() => {})
    const err = await new Promise((resolve) => close(resolve))
    expect(t.passes).toBe(1)
    expect(err).toBeFalsy()
    expect(t.asyncCalls).toBe(1)
    expect(t.events).toEqual(['sync close', 'async close'])
  })
})
