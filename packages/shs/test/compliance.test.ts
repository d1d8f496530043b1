import { transformSuite, transportSuite } from '@ms/compliance'
import { net } from '@ms/net'
import { backends } from './backends.js'

// The shared behaviour every transform must show, over the in-memory
// transport and over real TCP (net~shs), for both crypto backends.
for (const { name, mod } of backends) {
  const crypto = mod.shsCrypto
  const appKey = crypto.randomBytes(32)
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  // Pure JS crypto is slower; keep its large transfer smaller.
  const sizes = name === 'noble' ? { largeBytes: 4 * 1024 * 1024, parallel: 25 } : {}

  transformSuite({
    name: `shs (${name})`,
    server: () => [mod.shs({ keys: serverKeys, appKey })],
    client: () => [mod.shs({ keys: clientKeys, appKey })],
    ...sizes,
  })

  transportSuite({
    name: `net~shs (${name})`,
    server: () => [net({ host: '127.0.0.1' }), mod.shs({ keys: serverKeys, appKey })],
    client: () => [net(), mod.shs({ keys: clientKeys, appKey })],
    // Over net, shs runs on the socket's channel and offers its own.
    channel: true,
    ...sizes,
  })
}
