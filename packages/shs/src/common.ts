// Everything both entry points (`@ms/shs/sodium`, `@ms/shs/noble`) export
// besides the backend itself.
export { createShs, type ShsInfo, type ShsOptions, type ShsDialOptions, type ShsTransform } from './transform.js'
export { SSB_APP_KEY, normalizeKeys, normalizeAppKey, type KeyPair, type SsbKeys, type KeysInput } from './keys.js'
export { BoxEncoder, BoxDecoder, MAX_BODY, HEADER_BOX, incrementNonce } from './boxstream.js'
export { boxChannel, type BoxChannelOptions } from './channel.js'
export * as handshake from './handshake.js'
export type { HandshakeState, SessionKeys } from './handshake.js'
export type { ShsCrypto } from './crypto/types.js'
