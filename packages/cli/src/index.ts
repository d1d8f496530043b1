// The pieces of the `ms` command, for programs that want the same
// diagnostics (e.g. a pub's health check calling `probe`).
export { EXIT, CliError } from './errors.js'
export { generateKeys, readKeysFile, writeKeysFile, keysFromBytes, feedId, type SecretKeys } from './keys.js'
export { explainAddress, formatExplanation, type AddressExplanation, type AlternativeExplanation, type SegmentExplanation } from './explain.js'
export { probe, classify, formatProbe, type ProbeResult, type ProbeStep, type ProbeFailure, type ProbeOptions } from './probe.js'
export { clientPlugins, loadModules, suitesFor, KNOWN, SSB_APP_KEY, type ClientContext, type Plugins } from './plugins.js'
export { relay, type RelayResult } from './relay.js'
export { buildServer, specsFromFlags, parseHostPort, readConfig, echo, exec, type ListenSpec, type ServeConfig, type Handler } from './serve.js'
