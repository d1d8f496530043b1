import { transportSuite } from '@ms/compliance'
import { unix } from '@ms/unix'
import { noise, noiseCrypto } from '@ms/noise'

// noise over unix (a socket channel, like net). ws~noise runs in @ms/ws's
// tests (packages/ws/test/compliance-noise.test.ts): @ms/ws tests against
// noise, so noise cannot depend on ws without a build cycle.
const serverKeys = noiseCrypto.signKeypairFromSeed(noiseCrypto.randomBytes(32))
const clientKeys = noiseCrypto.signKeypairFromSeed(noiseCrypto.randomBytes(32))

transportSuite({
  name: 'unix~noise',
  server: () => [unix(), noise({ keys: serverKeys })],
  client: () => [unix(), noise({ keys: clientKeys })],
  channel: true,
})
