import { createMultiServer } from '@ms/core'
import { net } from '@ms/net'
import { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'

const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32)) // or load `ms keygen` output
const ms = createMultiServer([[net({ port: 0 }), shs({ keys, appKey: SSB_APP_KEY })]])
const listener = await ms.listen((c) => void c.readable.pipeTo(c.writable).catch(() => c.close())) // echo
const address = ms.stringify() // e.g. net:127.0.0.1:40123~shs:<base64 public key>
const conn = await ms.connect(address) // the same MultiServer dials, too
console.log(address, conn.info.shs?.publicKey)
await Promise.all([conn.close(), listener.close()])
