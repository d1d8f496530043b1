// Our packages as secret-stack and other pull-stream code use them: the same
// listeners and dials as impl-ours.mjs, each connection handed out through
// @ms/compat's toPullDuplex (the shape the original multiserver hands out),
// which runs on the connection's channel and builds no WHATWG streams.
import { toPullDuplex } from '@ms/compat'
import { dialConnection, listenConnections } from './impl-ours.mjs'
import { wrapPullDuplex } from './pull-conn.mjs'

export function listen(suite, keys, appKey, onConn, onError) {
  return listenConnections(suite, keys, appKey, (connection) => onConn(wrapPullDuplex(toPullDuplex(connection))), onError)
}

export async function dialer(suite, keys, appKey) {
  const dial = await dialConnection(suite, keys, appKey)
  return async (address) => wrapPullDuplex(toPullDuplex(await dial(address)))
}
