import { ed25519 } from './ed25519.js'
import { randomBytes } from '@noble/hashes/utils'
import type { KeyPair } from './keys.js'

/**
 * The primitives every Ed25519 identity needs, whatever protocol it speaks.
 * A protocol's crypto interface (`ShsCrypto`, `NoiseCrypto`) extends this
 * with its own primitives; a backend spreads `nobleIdentity` or
 * `sodiumIdentity(sodium)` into its object and adds the rest.
 */
export interface IdentityCrypto {
  /** `sodium` or `noble`; for diagnostics and tests. */
  readonly name: string
  randomBytes(length: number): Uint8Array
  /** Ed25519 key pair from a 32-byte seed; `secretKey` is seed || publicKey (64 bytes), as libsodium. */
  signKeypairFromSeed(seed: Uint8Array): KeyPair
  /** Overwrites secrets that are no longer needed (best effort in JS). */
  wipe(bytes: Uint8Array): void
  /**
   * Optional: `length` bytes of uninitialised memory, cheaper than a zeroed
   * allocation, for output buffers that are completely overwritten before
   * anyone sees them.
   */
  allocUninitialized?(length: number): Uint8Array
}

/** The identity primitives on the audited pure-JS @noble libraries (browsers, or Node without sodium-native). */
export const nobleIdentity: IdentityCrypto = {
  name: 'noble',
  randomBytes(length) {
    // getRandomValues gives at most 64 KiB per call.
    const out = new Uint8Array(length)
    for (let o = 0; o < length; o += 65536) out.set(randomBytes(Math.min(65536, length - o)), o)
    return out
  },
  signKeypairFromSeed(seed) {
    const publicKey = ed25519.getPublicKey(seed)
    const secretKey = new Uint8Array(64)
    secretKey.set(seed, 0)
    secretKey.set(publicKey, 32)
    return { publicKey, secretKey }
  },
  wipe(bytes) {
    bytes.fill(0)
  },
}
