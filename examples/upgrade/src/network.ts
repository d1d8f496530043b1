// What every generation shares: the server's identity (one Ed25519 key
// pair, the same for shs and noise) and the network key.
import { createHash } from 'node:crypto'
import { noiseCrypto, type KeyPair } from '@ms/noise'

/**
 * The network's key: shs's app key in v1, carried into v2 as noise's
 * network key (the Noise prologue), so v2 is the same closed network.
 */
export const NETWORK_KEY = createHash('sha256').update('ms example network').digest('base64')

/** An Ed25519 identity; shs and noise take the same key pairs. */
export const newKeys = (): KeyPair => noiseCrypto.signKeypairFromSeed(noiseCrypto.randomBytes(32))
