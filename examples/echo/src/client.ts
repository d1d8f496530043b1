// pnpm --filter @ms/example-echo client -- 'ADDRESS' [message]
// Tries each ";" alternative of ADDRESS separately, so you see every protocol work.
import { echoClient, newKeys } from './echo.js'

const [address, message = 'hello, echo'] = process.argv.slice(2).filter((a) => a !== '--')
if (!address) {
  console.error('usage: client ADDRESS [MESSAGE]   (ADDRESS as printed by the server)')
  process.exit(2)
}
const client = echoClient(newKeys())
let failed = 0
for (const alternative of address.split(';')) {
  try {
    const { reply, ms } = await client.send(alternative, message)
    console.log(`${alternative.split('~').map((s) => s.split(':')[0]).join('~').padEnd(12)} ${JSON.stringify(reply)} in ${ms.toFixed(1)} ms`)
  } catch (error) {
    failed++
    console.log(`${alternative}: ${error instanceof Error ? error.message : String(error)}`)
  }
}
process.exitCode = failed ? 1 : 0
