// pnpm --filter @ms/example-upgrade start: the upgrade story, step by step.
import { ask, askOnce, newClient, newKeys, oldClient, startUpgradingServer } from './upgrade.js'

const server = await startUpgradingServer(newKeys())
const before = server.address()
console.log('1. the server offers both generations in one address:')
for (const alternative of before.split(';')) console.log(`     ${alternative}`)

const old = oldClient(newKeys())
const young = newClient(newKeys())
console.log(`2. an old client gets: ${await askOnce(old, before, 'hello')}`)
console.log(`   a new client gets:  ${await askOnce(young, before, 'hello')}`)

// A new client keeps a connection open across the switch-off.
const longLived = await young.connect(before)
console.log(`3. a long-lived v2 connection: ${await ask(longLived, 'first')}`)

await server.switchOffLegacy()
const after = server.address()
console.log(`4. legacy switched off; the address is now ${after}`)
console.log(`   the long-lived v2 connection still answers: ${await ask(longLived, 'second')}`)
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
console.log(`   a new client: ${await askOnce(young, after, 'hello')}`)
await longLived.close()
await server.close()
