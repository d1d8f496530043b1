// Run by hand (needs a running tor; see README.md):
//   pnpm --filter @ms/example-tor serve [CONTROL_PORT]     (default 9051)
//   pnpm --filter @ms/example-tor connect 'onion:....onion:8008~shs:KEY' [SOCKS host:port]
import { newKeys, sendOverTor, startOnionPeer } from './peer.js'

const [mode, arg, extra] = process.argv.slice(2).filter((a) => a !== '--')
if (mode === 'serve') {
  const port = Number(arg ?? 9051)
  console.error(`publishing an onion service through Tor's control port 127.0.0.1:${port} (this can take a minute)...`)
  const { publicAddress, localAddress, listener } = await startOnionPeer({ keys: newKeys(), control: { port }, onionKeyFile: '.onion-key' })
  console.log(`reachable over Tor at: ${publicAddress}`)
  console.log(`and locally at:        ${localAddress}`)
  process.once('SIGINT', () => void listener.close())
} else if (mode === 'connect' && arg) {
  const started = performance.now()
  const reply = await sendOverTor(arg, 'hello through Tor', { keys: newKeys(), ...(extra ? { socks: extra } : {}) })
  console.log(`echo: ${reply} (${((performance.now() - started) / 1000).toFixed(1)} s, circuit building included)`)
} else {
  console.error('usage: main.ts serve [CONTROL_PORT] | main.ts connect ADDRESS [SOCKS_HOST:PORT]')
  process.exitCode = 2
}
