// Everything both entry points (`@ms/noise/sodium`, `@ms/noise/noble`) export besides the backend itself.
export { createNoise, type NoiseInfo, type NoiseOptions, type NoiseDialOptions, type NoiseTransform } from './transform.js'
export { normalizeKeys, normalizeNetworkKey, type KeyPair, type SsbKeys, type KeysInput } from './keys.js'
export { SecretStreamEncoder, SecretStreamDecoder, streamId, frame, HEADER_MESSAGE, MAX_MESSAGE, MAX_PLAIN } from './secretstream.js'
export * as handshake from './handshake.js'
export type { HandshakeState, SplitResult } from './handshake.js'
export type { NoiseCrypto } from './crypto/types.js'
