// Our @ms/noise in place of @ms/shs: the same adapter as impl-ours.mjs, with
// each \`~shs\` suite run as \`~noise\` (same keys, same transport, same run).
import * as ours from './impl-ours.mjs'

const toNoise = (suite) => suite.replace(/~shs$/, '~noise')

export const listenConnections = (suite, ...rest) => ours.listenConnections(toNoise(suite), ...rest)
export const dialConnection = (suite, ...rest) => ours.dialConnection(toNoise(suite), ...rest)
export const listen = (suite, ...rest) => ours.listen(toNoise(suite), ...rest)
export const dialer = (suite, ...rest) => ours.dialer(toNoise(suite), ...rest)
