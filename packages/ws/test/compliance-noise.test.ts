import { transportSuite } from '@ms/compliance'
import { ws } from '@ms/ws'
import { noise, noiseCrypto } from '@ms/noise'

// noise over ws (WHATWG streams only: noise runs on a channel bridged from them).
const serverKeys = noiseCrypto.signKeypairFromSeed(noiseCrypto.randomBytes(32))
const clientKeys = noiseCrypto.signKeypairFromSeed(noiseCrypto.randomBytes(32))
const networkKey = noiseCrypto.randomBytes(32)

transportSuite({
  name: 'ws~noise (IPv4)',
  server: () => [ws({ host: '127.0.0.1' }), noise({ keys: serverKeys })],
  client: () => [ws(), noise({ keys: clientKeys })],
  channel: true,
})

transportSuite({
  name: 'ws~noise (IPv6, network key)',
  server: () => [ws({ host: '::1', path: '/noise' }), noise({ keys: serverKeys, networkKey })],
  client: () => [ws(), noise({ keys: clientKeys, networkKey })],
  channel: true,
})
