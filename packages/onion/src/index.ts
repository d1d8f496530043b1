export { onion, INBOUND_REMOTE_ADDRESS, type OnionOptions, type OnionTransport, type PublishedOnion } from './onion.js'
export {
  parseOnionAddress,
  stringifyOnionAddress,
  onionAddressString,
  isValidOnionName,
  onionNameFromPublicKey,
  type OnionAddress,
} from './address.js'
export { DEFAULT_PROXIES, parseProxy, socksConnect, type SocksProxy, type SocksCredentials, type SocksConnectOptions } from './socks.js'
export { TorControl, type TorControlOptions, type ControlReply } from './control.js'
export {
  ProxyUnreachableError,
  SocksReplyError,
  SocksProtocolError,
  TorControlError,
  SOCKS_REPLIES,
  type ProxyAttempt,
} from './errors.js'
