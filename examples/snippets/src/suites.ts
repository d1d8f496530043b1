import { createMultiServer } from '@ms/core'
import { net } from '@ms/net'
import { noauth } from '@ms/noauth'
import { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'
import { unix } from '@ms/unix'
import { ws } from '@ms/ws'

const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const appKey = SSB_APP_KEY

// What a typical SSB peer offers: TCP and WebSocket with secret-handshake for
// the network, a unix socket without authentication for local programs.
const server = createMultiServer([
  [net({ host: '0.0.0.0', port: 0 }), shs({ keys, appKey })],
  [ws({ host: '0.0.0.0', port: 0, scope: ['device', 'local', 'public'] }), shs({ keys, appKey })],
  [unix(), noauth()],
])
const listener = await server.listen((connection) => {
  console.log('from', connection.remoteAddress, 'key', connection.info.shs?.publicKey)
  void connection.close()
})
console.log(server.stringify('device')) // this machine: loopback and the unix socket
console.log(server.stringify('local')) // the LAN: private addresses only
console.log(server.stringify('public')) // the internet: public addresses only ('' when there are none)
await listener.close()
