// pnpm --filter @ms/example-upgrade start: the upgrade story, step by step.
import { ask, askOnce, newClient, newKeys, oldClient, startUpgradingServer } from './upgrade.js'
import { startNoiseServer } from './server-noise.js'

const serverKeys = newKeys()
const server = await startUpgradingServer(serverKeys)
const before = server.address()
console.log('1. the server offers both generations in one address, one identity:')
for (const alternative of before.split(';')) console.log(`     ${alternative}`)

const old = oldClient(newKeys())
const young = newClient(newKeys())
console.log(`2. an old client gets: ${await askOnce(old, before, 'hello')}`)
console.log(`   a new client gets:  ${await askOnce(young, before, 'hello')}`)

// A new client keeps a connection open across the switch-off.
const longLived = await young.connect(before)
console.log(`3. a long-lived noise connection: ${await ask(longLived, 'first')}`)

await server.switchOffLegacy()
const after = server.address()
console.log(`4. shs switched off; the address is now ${after}`)
console.log(`   the long-lived noise connection still answers: ${await ask(longLived, 'second')}`)
try {
  await askOnce(old, after, 'hello')
} catch (error) {
  console.log(`   an old client with the new address: ${(error as Error).name}: no suite it speaks is offered any more`)
}
try {
  await askOnce(old, before, 'hello')
} catch (error) {
  console.log(`   an old client with the old address: ${(error as Error).name} (${(error as { code?: string }).code ?? 'failed'})`)
}
await longLived.close()
await server.close()

const v3 = await startNoiseServer(serverKeys)
console.log(`5. @ms/shs dropped from the server (server-noise.ts): ${v3.address}`)
console.log(`   a new client gets:  ${await askOnce(young, v3.address, 'hello')}`)
await v3.close()
