// pnpm --filter @ms/example-echo server [-- --keys FILE]
// Prints the address, then echoes until Ctrl-C.
import { loadKeys, newKeys, startEchoServer } from './echo.js'

const keysFlag = process.argv.indexOf('--keys')
const keys = keysFlag > 0 ? await loadKeys(process.argv[keysFlag + 1]!) : newKeys()
const { address, listener } = await startEchoServer({ keys })
console.log(address)
console.error('echo server running; give the line above to the client. Ctrl-C stops it.')
process.once('SIGINT', () => void listener.close())
process.once('SIGTERM', () => void listener.close())
