// Adapter for the cross-language suite npm shs1-test 1.1.1: performs one
// handshake role over stdin/stdout with @ms/shs's handshake steps (built
// dist), then prints the box-stream keys and nonces. Any failure exits
// non-zero at once without writing anything further, as the suite demands.
import { Readable } from 'node:stream'
import { createByteReader } from '@ms/core'

export async function run(role, mod) {
  const { handshake: h, shsCrypto: crypto } = mod
  const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
  const reader = createByteReader(Readable.toWeb(process.stdin))
  const write = (bytes) => new Promise((resolve) => process.stdout.write(bytes, resolve))
  const finish = async (keys) => {
    await write(Buffer.concat([keys.encryptKey, keys.encryptNonce, keys.decryptKey, keys.decryptNonce]))
    process.exit(0)
  }
  try {
    if (role === 'server') {
      const appKey = hex(process.argv[2])
      const local = { secretKey: hex(process.argv[3]), publicKey: hex(process.argv[4]) }
      const state = h.createHandshakeState({ crypto, appKey, local })
      h.verifyChallenge(state, await reader.readExactly(64), 'msg1')
      await write(h.createChallenge(state))
      h.serverVerifyAuth(state, await reader.readExactly(112))
      await write(h.serverCreateAccept(state))
      await finish(h.sessionKeys(state))
    } else {
      const appKey = hex(process.argv[2])
      const remotePublicKey = hex(process.argv[3])
      const local = crypto.signKeypairFromSeed(crypto.randomBytes(32))
      const state = h.createHandshakeState({ crypto, appKey, local, remotePublicKey })
      await write(h.createChallenge(state))
      h.verifyChallenge(state, await reader.readExactly(64), 'msg2')
      await write(h.clientCreateAuth(state))
      h.clientVerifyAccept(state, await reader.readExactly(80))
      await finish(h.sessionKeys(state))
    }
  } catch (error) {
    process.stderr.write(`${role}: ${error?.name}: ${error?.message} (stage ${error?.stage})\n`)
    process.exit(1)
  }
}
