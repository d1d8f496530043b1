// `pnpm demo`: the first thing a newcomer runs. One MultiServer speaks three
// protocol stacks at once; a client connects over each, sends a message,
// and reports how long the round trip took and who answered.
import { createMultiServer, utf8, type Connection } from '@ms/core'
import { net } from '@ms/net'
import { noauth } from '@ms/noauth'
import { SSB_APP_KEY, shs, shsCrypto } from '@ms/shs'
import { unix } from '@ms/unix'
import { ws } from '@ms/ws'

const id = (publicKey: Uint8Array) => `@${Buffer.from(publicKey).toString('base64')}.ed25519`
const ms = (from: number) => `${(performance.now() - from).toFixed(1)} ms`

// Every peer has an Ed25519 identity. Real apps load it from a file (`ms keygen`).
const serverKeys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const clientKeys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
// The app key names the network: peers with different app keys cannot talk.
const appKey = SSB_APP_KEY

// A suite is a transport followed by transforms; the server offers three.
const server = createMultiServer([
  [net({ host: '127.0.0.1', port: 0 }), shs({ keys: serverKeys, appKey })],
  [ws({ host: '127.0.0.1', port: 0 }), shs({ keys: serverKeys, appKey })],
  [unix(), noauth()],
])

console.log('multiserver demo: one server, three protocol stacks, one client per stack\n')
console.log(`server identity  ${id(serverKeys.publicKey)}`)
console.log(`client identity  ${id(clientKeys.publicKey)}\n`)

// Echo everything back, so the client can time a round trip.
const listener = await server.listen((connection: Connection) => {
  void connection.readable.pipeTo(connection.writable).catch(() => connection.close())
})
const address = server.stringify('device')
console.log('the server advertises one address with three ";"-separated alternatives:')
for (const alternative of address.split(';')) console.log(`  ${alternative}`)
console.log()

// The client knows the same suites (with its own keys) and picks by address.
const client = createMultiServer([
  [net(), shs({ keys: clientKeys, appKey })],
  [ws(), shs({ keys: clientKeys, appKey })],
  [unix(), noauth()],
])

let failures = 0
for (const alternative of address.split(';')) {
  const suite = alternative
    .split('~')
    .map((segment) => segment.split(':')[0])
    .join('~')
  try {
    const started = performance.now()
    const connection = await client.connect(alternative, { timeout: 10_000 })
    const connected = ms(started)
    const message = `hello over ${suite}`
    const sent = performance.now()
    const writer = connection.writable.getWriter()
    await writer.write(utf8.encode(message))
    await writer.close()
    let reply = ''
    const reader = connection.readable.getReader()
    for (let r = await reader.read(); !r.done; r = await reader.read()) reply += utf8.decode(r.value)
    const roundTrip = ms(sent)
    await connection.close()
    if (reply !== message) throw new Error(`expected "${message}" back, got "${reply}"`)
    const peer = connection.info.shs
      ? `${id(connection.info.shs.publicKey)} (proved by secret-handshake)`
      : 'a local process (noauth: trusted because it is on this machine, not authenticated)'
    console.log(`${suite.padEnd(12)} connected in ${connected}, "${message}" echoed in ${roundTrip}`)
    console.log(`${''.padEnd(12)} peer: ${peer}`)
  } catch (error) {
    failures++
    console.log(`${suite.padEnd(12)} FAILED: ${error instanceof Error ? error.message : String(error)}`)
  }
}

await listener.close()
console.log(
  failures === 0
    ? '\nall three work. Next: `ms serve --help` and `ms probe ADDRESS` (packages/cli), and examples/ for more.'
    : `\n${failures} of 3 failed`,
)
process.exitCode = failures === 0 ? 0 : 1
