// Key material for one case: server and client Ed25519 key pairs and an app key.
import sodium from 'sodium-native'

export const toBase64 = (bytes) => Buffer.from(bytes).toString('base64')
export const fromBase64 = (text) => new Uint8Array(Buffer.from(text, 'base64'))

function keyPair() {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES)
  sodium.crypto_sign_keypair(publicKey, secretKey)
  return { publicKey: toBase64(publicKey), secretKey: toBase64(secretKey) }
}

export function freshKeys() {
  const appKey = Buffer.alloc(32)
  sodium.randombytes_buf(appKey)
  return { server: keyPair(), client: keyPair(), appKey: toBase64(appKey) }
}
