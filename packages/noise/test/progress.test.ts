import { describe, expect, it } from 'vitest'
import { HandshakeError, memoryPair } from '@ms/core'
import { noise, noiseCrypto } from '@ms/noise'

/**
 * `UpgradeOptions.onProgress`: the server reports a client that sent a msg1
 * which verified (it knows our key), so that a listener at its cap sheds
 * idle connections before it; a client that cannot complete msg1 is never
 * reported.
 */
describe('noise reports handshake progress', () => {
  const crypto = noiseCrypto
  const serverKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const clientKeys = crypto.signKeypairFromSeed(crypto.randomBytes(32))
  const server = noise({ keys: serverKeys })
  const client = noise({ keys: clientKeys })

  it('once msg1 verified', async () => {
    const pair = memoryPair()
    let progress = 0
    const [outbound, inbound] = await Promise.all([
      client.upgradeOutbound(pair.client, { publicKey: serverKeys.publicKey }, {}),
      server.upgradeInbound(pair.server, { onProgress: () => progress++ }),
    ])
    expect(progress).toBe(1)
    expect(inbound.info.noise?.publicKey).toEqual(clientKeys.publicKey)
    await Promise.all([outbound.close(), inbound.close()])
  })

  it('never for a client that does not know our key', async () => {
    const pair = memoryPair()
    let progress = 0
    const wrongKey = crypto.signKeypairFromSeed(crypto.randomBytes(32)).publicKey
    const outbound = client.upgradeOutbound(pair.client, { publicKey: wrongKey }, {}).catch((error: unknown) => error)
    const error = await server.upgradeInbound(pair.server, { onProgress: () => progress++ }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HandshakeError)
    expect((error as HandshakeError).stage).toBe('msg1')
    expect(progress).toBe(0)
    // The caller closes the inner connection on failure (the contract).
    await pair.server.close()
    expect(await outbound).toBeInstanceOf(HandshakeError)
    await pair.client.close()
  })
})
