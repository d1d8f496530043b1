import { createMultiServer } from '@ms/core'
import { net } from '@ms/net'
import { noise } from '@ms/noise'
import { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'

// One key pair serves both protocols, so peers keep their identity; the shs
// app key becomes noise's network key.
const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const appKey = SSB_APP_KEY

export const legacy = createMultiServer([[net({ port: 8008 }), shs({ keys, appKey })]])
export const modern = createMultiServer([[net({ port: 8009 }), noise({ keys, networkKey: appKey })]])
// advertise `${modern.stringify()};${legacy.stringify()}`: net:…:8009~noise:KEY;net:…:8008~shs:KEY
