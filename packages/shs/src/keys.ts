import { normalizeKey32, normalizeKeys as checkKeys, type IdentityCrypto, type KeyPair, type KeysInput } from '@ms/identity'

export { decode32, type KeyPair, type SsbKeys, type KeysInput } from '@ms/identity'

/** The Secure Scuttlebutt main network key (`appKey`, the "network identifier"), base64. */
export const SSB_APP_KEY = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='

/**
 * Accepts `{ publicKey, secretKey }` bytes or an ssb-keys object and returns
 * a checked key pair (`@ms/identity`'s `normalizeKeys`, errors saying `shs:`).
 */
export function normalizeKeys(keys: KeysInput, crypto: Pick<IdentityCrypto, 'signKeypairFromSeed'>): KeyPair {
  return checkKeys(keys, crypto, 'shs')
}

/** Accepts the app key as 32 bytes or base64. */
export function normalizeAppKey(appKey: Uint8Array | string): Uint8Array {
  return normalizeKey32(appKey, 'shs: appKey')
}
