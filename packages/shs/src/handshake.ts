import { HandshakeError, concatBytes, toBase64 } from '@ms/core'
import { copyBytes, type ShsCrypto } from './crypto/types.js'
import type { KeyPair } from './keys.js'

/**
 * Secret Handshake v1 as small synchronous steps over a state object, so
 * the protocol can be checked against published known-answer vectors and
 * driven by any I/O. Message sizes: msg1 (client) 64, msg2 (server) 64,
 * msg3 (client) 112, msg4 (server) 80.
 *
 * Names follow the Scuttlebutt Protocol Guide: a/b are the client/server
 * ephemeral keys, A/B their long-term keys; `ab` is the shared secret of
 * both ephemeral keys, `aB` of the client ephemeral and the server
 * long-term key, `Ab` of the client long-term and server ephemeral key.
 * Where the paper and npm secret-handshake differ, this follows the code.
 *
 * Every failure throws `HandshakeError` with `stage` set to the message
 * that failed to verify; nothing here throws anything else on peer input.
 */

export const MSG1_LENGTH = 64
export const MSG2_LENGTH = 64
export const MSG3_LENGTH = 112
export const MSG4_LENGTH = 80

const ZERO_NONCE = new Uint8Array(24)

export interface HandshakeState {
  readonly crypto: ShsCrypto
  readonly appKey: Uint8Array
  /** Our long-term Ed25519 key pair. */
  readonly local: KeyPair
  /** Our one-off X25519 key pair for this handshake. */
  readonly ephemeral: { publicKey: Uint8Array; secretKey: Uint8Array }
  /** HMAC of our ephemeral public key under the app key; its first 24 bytes are our receive nonce. */
  readonly localMac: Uint8Array
  /** The peer's long-term key: known to the client from the start, learnt by the server from msg3. */
  remotePublicKey: Uint8Array | undefined
  remoteEphemeral: Uint8Array | undefined
  remoteMac: Uint8Array | undefined
  ab: Uint8Array | undefined
  abHash: Uint8Array | undefined
  aB: Uint8Array | undefined
  Ab: Uint8Array | undefined
  /** msg3's plaintext: the client's signature then its public key. */
  hello: Uint8Array | undefined
  /** sha256(appKey, ab, aB, Ab): msg4's box key, and the root of the session keys. */
  msg4Key: Uint8Array | undefined
  address: string | undefined
}

export interface SessionKeys {
  encryptKey: Uint8Array
  encryptNonce: Uint8Array
  decryptKey: Uint8Array
  decryptNonce: Uint8Array
}

export interface HandshakeInit {
  crypto: ShsCrypto
  appKey: Uint8Array
  local: KeyPair
  /** Client only: the server's long-term public key. */
  remotePublicKey?: Uint8Array
  /** Fixed ephemeral keys, for known-answer tests only. Default: fresh random keys. */
  ephemeral?: { publicKey: Uint8Array; secretKey: Uint8Array }
  /** Included in errors. */
  address?: string
}

export function createHandshakeState(init: HandshakeInit): HandshakeState {
  const { crypto, appKey, local } = init
  // Copied: sessionKeys() wipes it, and a caller's fixture must survive.
  let ephemeral: { publicKey: Uint8Array; secretKey: Uint8Array }
  if (init.ephemeral) {
    ephemeral = { publicKey: copyBytes(init.ephemeral.publicKey), secretKey: copyBytes(init.ephemeral.secretKey) }
  } else {
    const secretKey = crypto.randomBytes(32)
    ephemeral = { secretKey, publicKey: crypto.scalarmultBase(secretKey) }
  }
  return {
    crypto,
    appKey,
    local,
    ephemeral,
    localMac: crypto.auth(ephemeral.publicKey, appKey),
    remotePublicKey: init.remotePublicKey,
    remoteEphemeral: undefined,
    remoteMac: undefined,
    ab: undefined,
    abHash: undefined,
    aB: undefined,
    Ab: undefined,
    hello: undefined,
    msg4Key: undefined,
    address: init.address,
  }
}

// Our long-term key as an X25519 secret, converted once per key pair
// rather than once per handshake (it lives as long as the Ed25519 secret).
const curveSecrets = new WeakMap<KeyPair, Uint8Array>()
function localCurveSecret(state: HandshakeState): Uint8Array {
  let secret = curveSecrets.get(state.local)
  if (!secret) {
    secret = state.crypto.edSecretToCurve(state.local.secretKey)
    curveSecrets.set(state.local, secret)
  }
  return secret
}

// Peers' long-term keys as X25519 public keys, for the keys seen last. The
// conversion is the priciest step after the scalar multiplications (libsodium
// multiplies by the group order to check the subgroup), and the same keys come
// back all the time: a client redials its pubs and rooms, a server sees its
// peers reconnect. Public data in, deterministic result out; failures are not
// kept, and a peer cycling keys only evicts entries.
const REMOTE_CURVE_KEYS = 1024
const remoteCurveKeys = new WeakMap<ShsCrypto, Map<string, Uint8Array>>()
function remoteCurveKey(crypto: ShsCrypto, publicKey: Uint8Array): Uint8Array | null {
  let cache = remoteCurveKeys.get(crypto)
  if (!cache) remoteCurveKeys.set(crypto, (cache = new Map()))
  const id = toBase64(publicKey)
  const known = cache.get(id)
  if (known) return known
  const curve = crypto.edPublicToCurve(publicKey)
  if (!curve) return null
  if (cache.size >= REMOTE_CURVE_KEYS) cache.delete(cache.keys().next().value!)
  cache.set(id, curve)
  return curve
}

function fail(state: HandshakeState, stage: string, message: string): never {
  throw new HandshakeError(`shs: ${message}`, { stage, address: state.address })
}

function need<T>(value: T | undefined, state: HandshakeState, stage: string): T {
  if (value === undefined) fail(state, stage, `${stage} step called out of order`)
  return value
}

/** msg1 (client) or msg2 (server): HMAC(appKey, our ephemeral key) || our ephemeral key. */
export function createChallenge(state: HandshakeState): Uint8Array {
  return concatBytes([state.localMac, state.ephemeral.publicKey])
}

/**
 * Verifies msg1 (server, `stage` 'msg1') or msg2 (client, 'msg2'): the peer
 * knows the app key. Rejects low-order ephemeral keys, which would make the
 * shared secret all zeros (npm secret-handshake crashes the process on them).
 */
export function verifyChallenge(state: HandshakeState, msg: Uint8Array, stage: 'msg1' | 'msg2'): void {
  const { crypto } = state
  if (msg.length !== 64) fail(state, stage, `${stage} must be 64 bytes, got ${msg.length}`)
  const mac = msg.subarray(0, 32)
  const remoteEphemeral = copyBytes(msg, 32, 64)
  if (!crypto.authVerify(mac, remoteEphemeral, state.appKey)) {
    fail(state, stage, `${stage} has a wrong HMAC: the peer uses a different app key (network) or is not speaking secret-handshake`)
  }
  const ab = crypto.scalarmult(state.ephemeral.secretKey, remoteEphemeral)
  if (!ab) fail(state, stage, `${stage} carries a low-order ephemeral key`)
  state.remoteEphemeral = remoteEphemeral
  state.remoteMac = copyBytes(mac)
  state.ab = ab
  state.abHash = crypto.sha256(ab)
}

/** msg3 (client): proves our identity to the server, boxed so only the holder of the server key can read it. */
export function clientCreateAuth(state: HandshakeState): Uint8Array {
  const { crypto, appKey } = state
  const remotePublicKey = need(state.remotePublicKey, state, 'msg3')
  const ab = need(state.ab, state, 'msg3')
  const abHash = need(state.abHash, state, 'msg3')
  const serverCurve = remoteCurveKey(crypto, remotePublicKey)
  if (!serverCurve) fail(state, 'msg3', 'the server public key is not a valid Ed25519 key')
  const aB = crypto.scalarmult(state.ephemeral.secretKey, serverCurve)
  if (!aB) fail(state, 'msg3', 'the server public key is a low-order point')
  state.aB = aB
  const signature = crypto.sign(concatBytes([appKey, remotePublicKey, abHash]), state.local.secretKey)
  state.hello = concatBytes([signature, state.local.publicKey])
  const key = crypto.sha256(concatBytes([appKey, ab, aB]))
  const out = new Uint8Array(MSG3_LENGTH)
  crypto.secretboxInto(out, state.hello, ZERO_NONCE, key)
  crypto.wipe(key)
  return out
}

/** Server: opens and checks msg3, learning the client's long-term key (`remotePublicKey`). */
export function serverVerifyAuth(state: HandshakeState, msg: Uint8Array): Uint8Array {
  const { crypto, appKey } = state
  if (msg.length !== MSG3_LENGTH) fail(state, 'msg3', `msg3 must be ${MSG3_LENGTH} bytes, got ${msg.length}`)
  const ab = need(state.ab, state, 'msg3')
  const abHash = need(state.abHash, state, 'msg3')
  const remoteEphemeral = need(state.remoteEphemeral, state, 'msg3')
  const aB = crypto.scalarmult(localCurveSecret(state), remoteEphemeral)
  if (!aB) fail(state, 'msg3', 'low-order ephemeral key')
  const key = crypto.sha256(concatBytes([appKey, ab, aB]))
  const hello = new Uint8Array(96)
  const opened = crypto.secretboxOpenInto(hello, msg, ZERO_NONCE, key)
  crypto.wipe(key)
  if (!opened) fail(state, 'msg3', 'msg3 does not decrypt: the client does not know our public key')
  const signature = hello.subarray(0, 64)
  const clientPublicKey = copyBytes(hello, 64, 96)
  if (!crypto.verify(signature, concatBytes([appKey, state.local.publicKey, abHash]), clientPublicKey)) {
    fail(state, 'msg3', 'msg3 carries an invalid signature')
  }
  const clientCurve = remoteCurveKey(crypto, clientPublicKey)
  if (!clientCurve) fail(state, 'msg3', 'the client public key is not a valid Ed25519 key')
  const Ab = crypto.scalarmult(state.ephemeral.secretKey, clientCurve)
  if (!Ab) fail(state, 'msg3', 'the client public key is a low-order point')
  state.aB = aB
  state.Ab = Ab
  state.hello = hello
  state.remotePublicKey = clientPublicKey
  state.msg4Key = crypto.sha256(concatBytes([appKey, ab, aB, Ab]))
  return clientPublicKey
}

/** msg4 (server): our signature over the client's hello, boxed. */
export function serverCreateAccept(state: HandshakeState): Uint8Array {
  const { crypto, appKey } = state
  const hello = need(state.hello, state, 'msg4')
  const abHash = need(state.abHash, state, 'msg4')
  const key = need(state.msg4Key, state, 'msg4')
  const signature = crypto.sign(concatBytes([appKey, hello, abHash]), state.local.secretKey)
  const out = new Uint8Array(MSG4_LENGTH)
  crypto.secretboxInto(out, signature, ZERO_NONCE, key)
  return out
}

/** Client: checks msg4, proof that we talk to the holder of the server key. */
export function clientVerifyAccept(state: HandshakeState, msg: Uint8Array): void {
  const { crypto, appKey } = state
  if (msg.length !== MSG4_LENGTH) fail(state, 'msg4', `msg4 must be ${MSG4_LENGTH} bytes, got ${msg.length}`)
  const ab = need(state.ab, state, 'msg4')
  const aB = need(state.aB, state, 'msg4')
  const abHash = need(state.abHash, state, 'msg4')
  const hello = need(state.hello, state, 'msg4')
  const remoteEphemeral = need(state.remoteEphemeral, state, 'msg4')
  const remotePublicKey = need(state.remotePublicKey, state, 'msg4')
  const Ab = crypto.scalarmult(localCurveSecret(state), remoteEphemeral)
  if (!Ab) fail(state, 'msg4', 'low-order ephemeral key')
  const key = crypto.sha256(concatBytes([appKey, ab, aB, Ab]))
  const signature = new Uint8Array(64)
  if (!crypto.secretboxOpenInto(signature, msg, ZERO_NONCE, key)) {
    crypto.wipe(key)
    fail(state, 'msg4', 'msg4 does not decrypt')
  }
  if (!crypto.verify(signature, concatBytes([appKey, hello, abHash]), remotePublicKey)) {
    crypto.wipe(key)
    fail(state, 'msg4', 'msg4 carries an invalid signature')
  }
  state.Ab = Ab
  state.msg4Key = key
}

/**
 * The box-stream keys and nonces, as npm secret-handshake derives them:
 * K = sha256(msg4Key); encrypt with sha256(K || peer key) starting at the
 * peer's HMAC nonce; decrypt with sha256(K || our key) starting at ours.
 * Wipes the handshake secrets, which must not outlive the handshake.
 */
export function sessionKeys(state: HandshakeState): SessionKeys {
  const { crypto } = state
  const msg4Key = need(state.msg4Key, state, 'keys')
  const remotePublicKey = need(state.remotePublicKey, state, 'keys')
  const remoteMac = need(state.remoteMac, state, 'keys')
  const secret = crypto.sha256(msg4Key)
  const keys: SessionKeys = {
    encryptKey: crypto.sha256(concatBytes([secret, remotePublicKey])),
    encryptNonce: copyBytes(remoteMac, 0, 24),
    decryptKey: crypto.sha256(concatBytes([secret, state.local.publicKey])),
    decryptNonce: copyBytes(state.localMac, 0, 24),
  }
  crypto.wipe(secret)
  for (const s of [state.msg4Key, state.ab, state.abHash, state.aB, state.Ab, state.ephemeral.secretKey]) {
    if (s) crypto.wipe(s)
  }
  state.msg4Key = state.ab = state.abHash = state.aB = state.Ab = undefined
  return keys
}
