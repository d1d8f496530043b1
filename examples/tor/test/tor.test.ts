// What runs in CI: the example's failure paths, which need no Tor. Publishing
// and dialling a real onion service needs the Tor network, so that part is
// run by hand only (see README.md); no test here pretends to cover it.
import { createServer } from 'node:net'
import { DialError, ListenError } from '@ms/core'
import { expect, it } from 'vitest'
import { newKeys, sendOverTor, startOnionPeer } from '../src/peer.js'

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

it('fails to start with a ListenError naming the control port when Tor is not there', async () => {
  const port = await closedPort()
  const error = await startOnionPeer({ keys: newKeys(), control: { port }, publishTimeout: 5000 }).then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ListenError)
  expect(String((error as Error).message)).toContain(String(port))
})

it('fails to dial with ENOPROXY when no SOCKS proxy answers', async () => {
  const socks = `127.0.0.1:${await closedPort()}`
  const address = 'onion:2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:8008~shs:1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='
  const error = await sendOverTor(address, 'x', { keys: newKeys(), socks, timeout: 5000 }).then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(DialError)
  expect((error as DialError).code).toBe('ENOPROXY')
})
