// The crypto limits of this machine, measured with sodium-native on one core:
//
// - secretbox: crypto_secretbox_easy over 4096-byte messages (box-stream's
//   body size), in MiB/s of plaintext. Also the cost of box-stream's 34-byte
//   header box, for the stricter "box-stream limit".
// - handshake: the crypto operations of one secret-handshake v1 exchange,
//   nothing else (no sockets, no streams), in the exact sequence of npm
//   secret-handshake@1.1.21 crypto.js. Per side that is: 1
//   crypto_sign_seed_keypair (ephemeral key), 2 ed25519 pk->curve25519,
//   2 ed25519 sk->curve25519, 1 crypto_auth + 1 crypto_auth_verify (app
//   MACs), 3 crypto_scalarmult (ab, aB, Ab), 6 sha256, 1 ed25519 sign,
//   1 ed25519 verify, 1 secretbox + 1 secretbox_open, 32 random bytes.
//   Client and server halves are timed separately: with each side in its own
//   process (own core) the limit is 1/max(client, server); in one process it
//   is 1/(client + server).
// - handshake (lean): the same protocol with the cheapest correct choices
//   (ephemeral key from randombytes + scalarmult_base, our long-term
//   curve25519 secret key converted once), for information.
import sodium from 'sodium-native'
import { now } from './stats.mjs'

const concat = Buffer.concat

function rate(ms, op) {
  // Batches keep the clock out of the loop.
  let ops = 0
  const start = now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < 64; i++) op()
    ops += 64
    elapsed = now() - start
  }
  return ops / (elapsed / 1000)
}

function secretboxLimits(ms) {
  const key = Buffer.alloc(32, 7)
  const nonce = Buffer.alloc(24, 1)
  const body = Buffer.alloc(4096, 3)
  const boxed = Buffer.alloc(4096 + 16)
  const header = Buffer.alloc(18, 5)
  const headerBoxed = Buffer.alloc(34)
  const plain = Buffer.alloc(4096)
  const seal = rate(ms, () => sodium.crypto_secretbox_easy(boxed, body, nonce, key))
  const sealHeader = rate(ms / 4, () => sodium.crypto_secretbox_easy(headerBoxed, header, nonce, key))
  sodium.crypto_secretbox_easy(boxed, body, nonce, key)
  const open = rate(ms, () => {
    if (!sodium.crypto_secretbox_open_easy(plain, boxed, nonce, key)) throw new Error('secretbox open failed')
  })
  const perMessage = 1 / seal + 1 / sealHeader
  return {
    secretboxMiBs: (seal * 4096) / 1048576,
    secretboxOpenMiBs: (open * 4096) / 1048576,
    // Sealing one 4096-byte body plus its header box, as box-stream does.
    boxstreamMiBs: 4096 / perMessage / 1048576,
  }
}

function signKeyPair(seed) {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(64)
  if (seed) sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  else sodium.crypto_sign_keypair(publicKey, secretKey)
  return { publicKey, secretKey }
}
const b32 = () => Buffer.alloc(32)
const pkToCurve = (pk) => {
  const out = b32()
  sodium.crypto_sign_ed25519_pk_to_curve25519(out, pk)
  return out
}
const skToCurve = (sk) => {
  const out = b32()
  sodium.crypto_sign_ed25519_sk_to_curve25519(out, sk)
  return out
}
const shared = (sk, pk) => {
  const out = b32()
  sodium.crypto_scalarmult(out, sk, pk)
  return out
}
const hash = (input) => {
  const out = b32()
  sodium.crypto_hash_sha256(out, input)
  return out
}
const auth = (input, key) => {
  const out = b32()
  sodium.crypto_auth(out, input, key)
  return out
}
const sign = (message, sk) => {
  const out = Buffer.alloc(64)
  sodium.crypto_sign_detached(out, message, sk)
  return out
}
const box = (message, nonce, key) => {
  const out = Buffer.alloc(message.length + 16)
  sodium.crypto_secretbox_easy(out, message, nonce, key)
  return out
}
const unbox = (boxed, nonce, key) => {
  const out = Buffer.alloc(boxed.length - 16)
  return sodium.crypto_secretbox_open_easy(out, boxed, nonce, key) ? out : null
}
const check = (ok, what) => {
  if (!ok) throw new Error(`handshake crypto: ${what} failed`)
}

/**
 * One handshake's crypto, both sides, with the time spent on each side
 * added to `t.client` and `t.server` (milliseconds).
 */
function handshakeOnce(ctx, t, lean) {
  const { appKey, client: alice, server: bob, nonce } = ctx
  let mark = now()
  const lap = (side) => {
    const at = now()
    t[side] += at - mark
    mark = at
  }
  const ephemeral = (self) => {
    const random = Buffer.alloc(32)
    sodium.randombytes_buf(random)
    let kxPk
    let kxSk
    if (lean) {
      kxSk = random
      kxPk = b32()
      sodium.crypto_scalarmult_base(kxPk, kxSk)
    } else {
      const key = signKeyPair(random)
      kxPk = pkToCurve(key.publicKey)
      kxSk = skToCurve(key.secretKey)
    }
    return { kxPk, kxSk, mac: auth(kxPk, appKey), self }
  }
  const ourCurveSk = (side) => (lean ? side.curveSk : skToCurve(side.secretKey))

  // Client: initialise, msg1.
  const a = ephemeral(alice)
  const msg1 = concat([a.mac, a.kxPk])
  lap('client')
  // Server: initialise, verify msg1, msg2.
  const b = ephemeral(bob)
  check(sodium.crypto_auth_verify(msg1.subarray(0, 32), msg1.subarray(32), appKey), 'server verify_auth')
  const bSecret = shared(b.kxSk, msg1.subarray(32))
  const bShash = hash(bSecret)
  const msg2 = concat([b.mac, b.kxPk])
  lap('server')
  // Client: verify msg2, msg3.
  check(sodium.crypto_auth_verify(msg2.subarray(0, 32), msg2.subarray(32), appKey), 'client verify_auth')
  const aRemoteKx = msg2.subarray(32)
  const aSecret = shared(a.kxSk, aRemoteKx)
  const aShash = hash(aSecret)
  const aBob = shared(a.kxSk, pkToCurve(bob.publicKey))
  const aSecret2 = hash(concat([appKey, aSecret, aBob]))
  const sig = sign(concat([appKey, bob.publicKey, aShash]), alice.secretKey)
  const hello = concat([sig, alice.publicKey])
  const msg3 = box(hello, nonce, aSecret2)
  lap('client')
  // Server: verify msg3, msg4.
  const bABob = shared(ourCurveSk(bob), msg1.subarray(32))
  const bSecret2 = hash(concat([appKey, bSecret, bABob]))
  const bHello = unbox(msg3, nonce, bSecret2)
  check(bHello, 'server unbox msg3')
  const clientPk = bHello.subarray(64, 96)
  check(sodium.crypto_sign_verify_detached(bHello.subarray(0, 64), concat([appKey, bob.publicKey, bShash]), clientPk), 'server verify')
  const bBAlice = shared(b.kxSk, pkToCurve(clientPk))
  const bSecret3 = hash(concat([appKey, bSecret, bABob, bBAlice]))
  const okay = sign(concat([appKey, bHello, bShash]), bob.secretKey)
  const msg4 = box(okay, nonce, bSecret3)
  const bFinal = hash(bSecret3)
  hash(concat([bFinal, clientPk]))
  hash(concat([bFinal, bob.publicKey]))
  lap('server')
  // Client: verify msg4, session keys.
  const aBAlice = shared(ourCurveSk(alice), aRemoteKx)
  const aSecret3 = hash(concat([appKey, aSecret, aBob, aBAlice]))
  const okaySig = unbox(msg4, nonce, aSecret3)
  check(okaySig, 'client unbox msg4')
  check(sodium.crypto_sign_verify_detached(okaySig, concat([appKey, hello, aShash]), bob.publicKey), 'client verify')
  const aFinal = hash(aSecret3)
  hash(concat([aFinal, bob.publicKey]))
  hash(concat([aFinal, alice.publicKey]))
  lap('client')
}

function handshakeLimits(ms, lean) {
  const client = signKeyPair()
  const server = signKeyPair()
  client.curveSk = skToCurve(client.secretKey)
  server.curveSk = skToCurve(server.secretKey)
  const ctx = { appKey: Buffer.alloc(32, 9), client, server, nonce: Buffer.alloc(24) }
  const t = { client: 0, server: 0 }
  // Warm up, then measure.
  for (let i = 0; i < 20; i++) handshakeOnce(ctx, { client: 0, server: 0 }, lean)
  let n = 0
  const start = now()
  while (now() - start < ms) {
    handshakeOnce(ctx, t, lean)
    n++
  }
  const clientUs = (t.client / n) * 1000
  const serverUs = (t.server / n) * 1000
  return {
    clientUs,
    serverUs,
    // Each side on its own core.
    separatePerSecond: 1e6 / Math.max(clientUs, serverUs),
    // Both sides on one core.
    samePerSecond: 1e6 / (clientUs + serverUs),
  }
}

export async function cryptoLimits(params) {
  return {
    ...secretboxLimits(params.ms),
    handshake: handshakeLimits(params.ms, false),
    handshakeLean: handshakeLimits(params.ms, true),
  }
}
