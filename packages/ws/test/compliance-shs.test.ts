import { randomBytes } from 'node:crypto'
import { transportSuite } from '@ms/compliance'
import { shs, shsCrypto } from '@ms/shs'
import { ws } from '@ms/ws'

const appKey = randomBytes(32)
const serverKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))
const clientKeys = shsCrypto.signKeypairFromSeed(randomBytes(32))

transportSuite({
  name: 'ws~shs (IPv4)',
  server: () => [ws({ host: '127.0.0.1' }), shs({ keys: serverKeys, appKey })],
  client: () => [ws(), shs({ keys: clientKeys, appKey })],
})

transportSuite({
  name: 'ws~shs (IPv6)',
  server: () => [ws({ host: '::1', path: '/shs' }), shs({ keys: serverKeys, appKey })],
  client: () => [ws(), shs({ keys: clientKeys, appKey })],
})
