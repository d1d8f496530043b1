// The server once shs is switched off for good: noise only. It imports
// neither @ms/shs nor anything that does, so @ms/shs can leave the server's
// dependencies (the test checks this file's imports).
import { createMultiServer, type MultiServerListener } from '@ms/core'
import { net } from '@ms/net'
import { noise, type KeyPair } from '@ms/noise'
import { NETWORK_KEY } from './network.js'
import { answer } from './talk.js'

export async function startNoiseServer(keys: KeyPair): Promise<{ address: string; close: () => Promise<void> }> {
  const server = createMultiServer([[net({ host: '127.0.0.1', port: 0 }), noise({ keys, networkKey: NETWORK_KEY })]])
  const listener: MultiServerListener = await server.listen(answer('v2 (noise)'))
  return { address: server.stringify('device'), close: () => listener.close() }
}
