export {
  toPullDuplex,
  fromPullDuplex,
  peerIdentity,
  asBuffer,
  type PullEnd,
  type PullCallback,
  type PullSource,
  type PullSink,
  type PullChunk,
  type PullDuplex,
  type LegacyStream,
  type ToPullDuplexOptions,
  type FromPullDuplexOptions,
} from './pull.js'
export {
  legacyPlugin,
  legacySegment,
  type LegacyScope,
  type LegacyCallback,
  type LegacyClose,
  type LegacyTransportPlugin,
  type LegacyTransformPlugin,
  type LegacyTransportOptions,
  type LegacyTransformOptions,
} from './legacy.js'
export { fromLegacyPlugin, type FromLegacyPluginOptions, type LegacyDialOptions } from './from-legacy.js'
export { MultiServer, splitAlternatives, type LegacyMultiServer, type LegacyMultiServerOptions } from './multiserver.js'
export {
  secretStackTransport,
  secretStackShs,
  type SecretStackConnectionConfig,
  type SecretStackPlugin,
  type SecretStackShsOptions,
} from './secret-stack.js'
