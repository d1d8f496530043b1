/**
 * What a client is told when the server closes without answering (issue 19):
 * a server shedding handshakes under a flood, one with a different app key
 * and a non-shs server all hang up the same way, so the message names all
 * three instead of guessing "a different app key". And a MultiServer at its
 * cap sheds the silent connection, not the live newcomer.
 */
import * as nodeNet from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { HandshakeError, LimitError, createMultiServer, toBase64, type MsError } from '@ms/core'
import { net } from '@ms/net'
import { backends } from './backends.js'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f()
})

describe.each(backends)('a server that closes before answering ($name)', ({ mod }) => {
  const crypto = mod.shsCrypto
  const appKey = crypto.randomBytes(32)
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const client = createMultiServer([[net(), mod.shs({ keys: clientKeys, appKey })]])

  it('says it may have been busy, a different app key, or not shs', async () => {
    // Reads msg1, then hangs up: all the client can see.
    const server = nodeNet.createServer((socket) => {
      socket.once('data', () => socket.destroy())
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const port = (server.address() as nodeNet.AddressInfo).port
    const error = await client.connect(`net:127.0.0.1:${port}~shs:${toBase64(serverKeys.publicKey)}`, { timeout: 10_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HandshakeError)
    expect((error as HandshakeError).stage).toBe('msg2')
    expect((error as Error).message).toMatch(/closed the connection before answering msg1: it was busy \(shedding handshakes under load\), uses a different app key/)
  })

  it('a MultiServer at its cap sheds a silent connection for a live newcomer (it used to refuse the newcomer)', async () => {
    const shed: MsError[] = []
    const server = createMultiServer([[net({ host: '127.0.0.1' }), mod.shs({ keys: serverKeys, appKey })]])
    const listener = await server.listen(() => {}, { maxPendingUpgrades: 1, onError: (e) => shed.push(e) })
    cleanups.push(() => listener.close())
    const address = server.stringify()
    const port = Number(/:(\d+)~/.exec(address)![1])
    // A silent connection holds the only slot.
    const silent = nodeNet.createConnection({ host: '127.0.0.1', port })
    silent.on('error', () => {})
    // Flowing, so the server's FIN is seen.
    silent.resume()
    cleanups.push(() => silent.destroy())
    await new Promise((resolve) => silent.once('connect', resolve))
    await expect.poll(() => listener.pending).toBe(1)
    // The newcomer is admitted, shows progress (msg1) and is served.
    const connection = await client.connect(address, { timeout: 10_000 })
    await connection.close()
    // The server shed the silent connection for it.
    await expect.poll(() => shed.some((e) => e instanceof LimitError)).toBe(true)
    await expect.poll(() => silent.destroyed, { timeout: 5000 }).toBe(true)
    expect(shed.find((e) => e instanceof LimitError)!.message).toMatch(/more than 1 handshakes were in progress \(maxPendingUpgrades\)/)
  })
})
