import { transformSuite, transportSuite } from '@ms/compliance'
import { net } from '@ms/net'
import { backends } from './backends.js'

// The shared behaviour every transform must show, over the in-memory
// transport (noise over a channel bridged from WHATWG streams) and over real
// TCP (net~noise, on the socket's own channel), for both crypto backends,
// with and without a network key.
for (const { name, mod } of backends) {
  const crypto = mod.noiseCrypto
  const networkKey = crypto.randomBytes(32)
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  // Pure JS crypto is slower; keep its large transfer smaller.
  const sizes = name === 'noble' ? { largeBytes: 4 * 1024 * 1024, parallel: 25 } : {}

  transformSuite({
    name: `noise (${name})`,
    server: () => [mod.noise({ keys: serverKeys })],
    client: () => [mod.noise({ keys: clientKeys })],
    ...sizes,
  })

  transformSuite({
    name: `noise with a network key (${name})`,
    server: () => [mod.noise({ keys: serverKeys, networkKey })],
    client: () => [mod.noise({ keys: clientKeys, networkKey })],
    ...sizes,
  })

  transportSuite({
    name: `net~noise (${name})`,
    server: () => [net({ host: '127.0.0.1' }), mod.noise({ keys: serverKeys })],
    client: () => [net(), mod.noise({ keys: clientKeys })],
    // Over net, noise runs on the socket's channel and offers its own.
    channel: true,
    ...sizes,
  })
}
