// Browser-safe: no Node built-ins here. The sodium-native loader is `@ms/identity/sodium`.
export {
  normalizeKeys,
  normalizeKey32,
  decode32,
  feedId,
  toSsbKeys,
  generateKeyPair,
  generateKeys,
  type KeyPair,
  type SsbKeys,
  type SsbSecretKeys,
  type KeysInput,
} from './keys.js'
export { nobleIdentity, type IdentityCrypto } from './crypto.js'
export { constantTimeEqual, isAllZero, copyBytes } from './bytes.js'
// For @ms/shs and @ms/noise: @noble/curves' ed25519 and x25519 without the ristretto255 code bundlers cannot drop.
export { ed25519, x25519 } from './ed25519.js'
