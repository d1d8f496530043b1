import { normalizeKey32, normalizeKeys as checkKeys, type IdentityCrypto, type KeyPair, type KeysInput } from '@ms/identity'

export { decode32, type KeyPair, type SsbKeys, type KeysInput } from '@ms/identity'

/**
 * Accepts `{ publicKey, secretKey }` bytes or an ssb-keys object and returns
 * a checked key pair (`@ms/identity`'s `normalizeKeys`, errors saying `noise:`).
 */
export function normalizeKeys(keys: KeysInput, crypto: Pick<IdentityCrypto, 'signKeypairFromSeed'>): KeyPair {
  return checkKeys(keys, crypto, 'noise')
}

/** Accepts the network key as 32 bytes or base64. */
export function normalizeNetworkKey(networkKey: Uint8Array | string): Uint8Array {
  return normalizeKey32(networkKey, 'noise: networkKey')
}
