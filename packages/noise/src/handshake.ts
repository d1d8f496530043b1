import { HandshakeError, toBase64, utf8 } from '@ms/core'
import { copyBytes, type NoiseCrypto } from './crypto/types.js'
import type { KeyPair } from './keys.js'

/**
 * Noise IK (`Noise_IK_Ed25519_ChaChaPoly_BLAKE2b`) as npm `noise-handshake`
 * 4.x runs it with `noise-curve-ed` for `@hyperswarm/secret-stream` 6.x:
 * the DH is Ed25519 scalar multiplication of libsodium-style key pairs (the
 * scalar is the clamped first half of SHA-512 of the seed), so the same
 * Ed25519 identity serves shs and noise. BLAKE2b-512 is the hash, HKDF over
 * HMAC-BLAKE2b the KDF, ChaCha20-Poly1305 (IETF) the cipher.
 *
 *   <- s                       (the initiator knows the responder's key)
 *   -> e, es, s, ss, payload   msg1: 32 + 48 + (payload + 16) bytes
 *   <- e, ee, se, payload      msg2: 32 + (payload + 16) bytes
 *
 * Small synchronous steps over a state object, so that the protocol can be
 * checked against the reference and driven by any I/O. Every failure on
 * peer input throws `HandshakeError` with `stage` set to the message.
 */

export const PROTOCOL_NAME = 'Noise_IK_Ed25519_ChaChaPoly_BLAKE2b'
const HASHLEN = 64
const BLOCKLEN = 128
export const MSG1_BASE = 32 + 48 + 16
export const MSG2_BASE = 32 + 16
/** Largest payload we accept in a handshake message (ours is 4 bytes, secret-stream's empty). */
export const MAX_PAYLOAD = 1024

export interface Ephemeral {
  publicKey: Uint8Array
  scalar: Uint8Array
}

export interface HandshakeState {
  readonly crypto: NoiseCrypto
  readonly initiator: boolean
  readonly local: KeyPair
  /** The peer's long-term key: known to the initiator, learnt by the responder from msg1. */
  remotePublicKey: Uint8Array | undefined
  e: Ephemeral | undefined
  re: Uint8Array | undefined
  h: Uint8Array
  ck: Uint8Array
  k: Uint8Array | undefined
  n: number
  /** Which message comes next: 1, 2, or 3 once complete. */
  step: number
  address: string | undefined
}

export interface HandshakeInit {
  crypto: NoiseCrypto
  initiator: boolean
  local: KeyPair
  /** Initiator only: the responder's Ed25519 public key. */
  remotePublicKey?: Uint8Array
  /** Mixed into the transcript first; empty for secret-stream. */
  prologue?: Uint8Array
  /** A fixed ephemeral key, for known-answer tests only. Default: fresh random. */
  ephemeral?: Ephemeral
  /** Included in errors. */
  address?: string
}

export interface SplitResult {
  /** Our sending key (32 bytes). */
  tx: Uint8Array
  /** Our receiving key (32 bytes). */
  rx: Uint8Array
  /** The handshake hash (64 bytes). */
  hash: Uint8Array
}

/** libsodium's Ed25519 secret scalar: the clamped first half of SHA-512(seed). */
export function scalarFromSeed(crypto: NoiseCrypto, seed: Uint8Array): Uint8Array {
  const h = crypto.sha512(seed.subarray(0, 32))
  const scalar = copyBytes(h, 0, 32)
  crypto.wipe(h)
  scalar[0]! &= 248
  scalar[31]! &= 127
  scalar[31]! |= 64
  return scalar
}

/** A fresh ephemeral key pair, distributed as `crypto_sign_keypair`'s (what noise-curve-ed makes). */
export function generateEphemeral(crypto: NoiseCrypto): Ephemeral {
  const seed = crypto.randomBytes(32)
  const scalar = scalarFromSeed(crypto, seed)
  crypto.wipe(seed)
  return { scalar, publicKey: crypto.edScalarmultBase(scalar) }
}

// Our long-term scalar, derived once per key pair rather than per handshake.
const scalars = new WeakMap<KeyPair, Uint8Array>()
function localScalar(state: HandshakeState): Uint8Array {
  let scalar = scalars.get(state.local)
  if (!scalar) {
    scalar = scalarFromSeed(state.crypto, state.local.secretKey)
    scalars.set(state.local, scalar)
  }
  return scalar
}

// The static-static DH (\`ss\`) of the peers seen last, per local key pair.
// It depends only on the two long-term keys, so a client redialling its
// server, or a server seeing its clients reconnect, would compute the same
// Ed25519 scalar multiplication (the priciest step, about a quarter of a
// side's handshake) every time. It is as secret as the key pair and lives
// no longer than it; failures (invalid keys) are not kept.
const STATIC_SECRETS = 1024
const staticSecrets = new WeakMap<KeyPair, Map<string, Uint8Array>>()
function staticDh(state: HandshakeState, remote: Uint8Array, stage: string, what: string): Uint8Array {
  let cache = staticSecrets.get(state.local)
  if (!cache) staticSecrets.set(state.local, (cache = new Map()))
  const id = toBase64(remote)
  let secret = cache.get(id)
  if (!secret) {
    const fresh = dh(state, localScalar(state), remote, stage, what)
    secret = copyBytes(fresh)
    fresh.fill(0)
    if (cache.size >= STATIC_SECRETS) cache.delete(cache.keys().next().value!)
    cache.set(id, secret)
  }
  // mixKey wipes what it is given.
  return copyBytes(secret)
}

const PROTOCOL_BYTES = utf8.encode(PROTOCOL_NAME)

export function createHandshakeState(init: HandshakeInit): HandshakeState {
  const { crypto, initiator, local } = init
  if (initiator && !(init.remotePublicKey instanceof Uint8Array && init.remotePublicKey.length === 32)) {
    throw new TypeError('noise: the initiator needs the responder public key (32 bytes)')
  }
  // The protocol name fits in HASHLEN: it is the initial hash, zero-padded.
  const h = new Uint8Array(HASHLEN)
  h.set(PROTOCOL_BYTES)
  const state: HandshakeState = {
    crypto,
    initiator,
    local,
    remotePublicKey: initiator ? copyBytes(init.remotePublicKey!) : undefined,
    e: init.ephemeral ? { publicKey: copyBytes(init.ephemeral.publicKey), scalar: copyBytes(init.ephemeral.scalar) } : undefined,
    re: undefined,
    h,
    ck: copyBytes(h),
    k: undefined,
    n: 0,
    step: 1,
    address: init.address,
  }
  mixHash(state, init.prologue ?? EMPTY)
  // The pre-message: the responder's static key.
  mixHash(state, initiator ? state.remotePublicKey! : local.publicKey)
  return state
}

const EMPTY = new Uint8Array(0)

function fail(state: HandshakeState, stage: string, message: string): never {
  throw new HandshakeError(`noise: ${message}`, { stage, address: state.address })
}

function mixHash(state: HandshakeState, data: Uint8Array): void {
  state.h = state.crypto.blake2b([state.h, data], HASHLEN)
}

/**
 * HMAC-BLAKE2b-512 as noise-handshake's hmac.js computes it (keys up to the
 * 128-byte block are zero-padded; the handshake's keys are 64 bytes).
 * The pads live in module-level buffers (the handshake is synchronous, so
 * nothing else uses them meanwhile) whose key-independent tails are set
 * once: a key costs only its own length to apply and to wipe.
 */
const INNER_PAD = new Uint8Array(BLOCKLEN).fill(0x36)
const OUTER_PAD = new Uint8Array(BLOCKLEN).fill(0x5c)
function setPads(crypto: NoiseCrypto, key: Uint8Array): number {
  const k = key.length > BLOCKLEN ? crypto.blake2b([key], HASHLEN) : key
  for (let i = 0; i < k.length; i++) {
    INNER_PAD[i] = k[i]! ^ 0x36
    OUTER_PAD[i] = k[i]! ^ 0x5c
  }
  return k.length
}
function clearPads(length: number): void {
  INNER_PAD.fill(0x36, 0, length)
  OUTER_PAD.fill(0x5c, 0, length)
}
/** HMAC of `parts` under the key applied by `setPads`. */
function hmacPadded(crypto: NoiseCrypto, parts: readonly Uint8Array[]): Uint8Array {
  const innerHash = crypto.blake2b(parts.length === 1 ? [INNER_PAD, parts[0]!] : [INNER_PAD, ...parts], HASHLEN)
  const out = crypto.blake2b([OUTER_PAD, innerHash], HASHLEN)
  innerHash.fill(0)
  return out
}

/** HKDF (RFC 5869) with HMAC-BLAKE2b and empty info: two 64-byte outputs. */
function hkdf(crypto: NoiseCrypto, salt: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  let padded = setPads(crypto, salt)
  const prk = hmacPadded(crypto, [ikm])
  clearPads(padded)
  // One key (prk) for both outputs: its pads are applied once.
  padded = setPads(crypto, prk)
  const t1 = hmacPadded(crypto, [ONE])
  const t2 = hmacPadded(crypto, [t1, TWO])
  clearPads(padded)
  prk.fill(0)
  return [t1, t2]
}
const ONE = Uint8Array.of(1)
const TWO = Uint8Array.of(2)

function mixKey(state: HandshakeState, dh: Uint8Array): void {
  const [ck, temp] = hkdf(state.crypto, state.ck, dh)
  // Plain fills: these are our own short-lived arrays (a native call each would cost more than the fill).
  dh.fill(0)
  state.ck.fill(0)
  state.ck = ck
  state.k?.fill(0)
  state.k = copyBytes(temp, 0, 32)
  temp.fill(0)
  state.n = 0
}

function nonce(n: number): Uint8Array {
  // 4 zero bytes, then the 64-bit little-endian counter (small here: at most 2).
  const out = new Uint8Array(12)
  new DataView(out.buffer).setUint32(4, n, true)
  return out
}

function encryptAndHash(state: HandshakeState, plaintext: Uint8Array): Uint8Array {
  const ciphertext = state.crypto.aeadEncrypt(plaintext, state.h, nonce(state.n++), state.k!)
  mixHash(state, ciphertext)
  return ciphertext
}

function decryptAndHash(state: HandshakeState, ciphertext: Uint8Array, stage: string, what: string): Uint8Array {
  const plaintext = state.crypto.aeadDecrypt(ciphertext, state.h, nonce(state.n++), state.k!)
  if (!plaintext) fail(state, stage, `${stage}: ${what}`)
  mixHash(state, ciphertext)
  return plaintext
}

function dh(state: HandshakeState, scalar: Uint8Array, point: Uint8Array, stage: string, what: string): Uint8Array {
  const out = state.crypto.edScalarmult(scalar, point)
  if (!out) fail(state, stage, `${stage}: ${what} is not a valid Ed25519 key of prime order`)
  return out
}

function order(state: HandshakeState, step: number, stage: string, initiator: boolean): void {
  if (state.step !== step || state.initiator !== initiator) fail(state, stage, `${stage} step called out of order`)
}

/** Initiator: msg1 (e, es, s, ss, payload). */
export function writeMessage1(state: HandshakeState, payload: Uint8Array = EMPTY): Uint8Array {
  order(state, 1, 'msg1', true)
  const e = (state.e ??= generateEphemeral(state.crypto))
  mixHash(state, e.publicKey)
  mixKey(state, dh(state, e.scalar, state.remotePublicKey!, 'msg1', 'the server public key'))
  const s = encryptAndHash(state, state.local.publicKey)
  mixKey(state, staticDh(state, state.remotePublicKey!, 'msg1', 'the server public key'))
  const p = encryptAndHash(state, payload)
  state.step = 2
  const out = new Uint8Array(32 + s.length + p.length)
  out.set(e.publicKey, 0)
  out.set(s, 32)
  out.set(p, 32 + s.length)
  return out
}

/** Responder: reads msg1, learning the initiator's long-term key; returns its payload. */
export function readMessage1(state: HandshakeState, msg: Uint8Array): Uint8Array {
  order(state, 1, 'msg1', false)
  if (msg.length < MSG1_BASE || msg.length > MSG1_BASE + MAX_PAYLOAD) fail(state, 'msg1', `msg1 must be ${MSG1_BASE} to ${MSG1_BASE + MAX_PAYLOAD} bytes, got ${msg.length}`)
  const re = copyBytes(msg, 0, 32)
  mixHash(state, re)
  const scalar = localScalar(state)
  mixKey(state, dh(state, scalar, re, 'msg1', 'the client ephemeral key'))
  // Decrypts only for a client that knows our public key (and network key): anyone else learns nothing.
  const rs = decryptAndHash(state, msg.subarray(32, 80), 'msg1', 'does not decrypt: the client does not know our public key or uses another network key')
  mixKey(state, staticDh(state, rs, 'msg1', 'the client public key'))
  const payload = decryptAndHash(state, msg.subarray(80), 'msg1', 'payload does not decrypt')
  state.re = re
  // Kept for the connection's life (info.noise.publicKey): a copy of the backend's output.
  state.remotePublicKey = copyBytes(rs)
  state.step = 2
  return payload
}

/** Responder: msg2 (e, ee, se, payload). */
export function writeMessage2(state: HandshakeState, payload: Uint8Array = EMPTY): Uint8Array {
  order(state, 2, 'msg2', false)
  const e = (state.e ??= generateEphemeral(state.crypto))
  mixHash(state, e.publicKey)
  mixKey(state, dh(state, e.scalar, state.re!, 'msg2', 'the client ephemeral key'))
  mixKey(state, dh(state, e.scalar, state.remotePublicKey!, 'msg2', 'the client public key'))
  const p = encryptAndHash(state, payload)
  state.step = 3
  const out = new Uint8Array(32 + p.length)
  out.set(e.publicKey, 0)
  out.set(p, 32)
  return out
}

/** Initiator: reads msg2, proof that the responder holds its key; returns its payload. */
export function readMessage2(state: HandshakeState, msg: Uint8Array): Uint8Array {
  order(state, 2, 'msg2', true)
  if (msg.length < MSG2_BASE || msg.length > MSG2_BASE + MAX_PAYLOAD) fail(state, 'msg2', `msg2 must be ${MSG2_BASE} to ${MSG2_BASE + MAX_PAYLOAD} bytes, got ${msg.length}`)
  const re = copyBytes(msg, 0, 32)
  mixHash(state, re)
  mixKey(state, dh(state, state.e!.scalar, re, 'msg2', 'the server ephemeral key'))
  mixKey(state, dh(state, localScalar(state), re, 'msg2', 'the server ephemeral key'))
  const payload = decryptAndHash(state, msg.subarray(32), 'msg2', 'does not decrypt: the server does not hold the key we dialled')
  state.re = re
  state.step = 3
  return payload
}

/** After both messages: the transport keys and the handshake hash. Wipes the handshake secrets. */
export function split(state: HandshakeState): SplitResult {
  if (state.step !== 3) fail(state, 'keys', 'split before the handshake completed')
  const { crypto } = state
  const [k1, k2] = hkdf(crypto, state.ck, EMPTY)
  const result: SplitResult = {
    tx: copyBytes(state.initiator ? k1 : k2, 0, 32),
    rx: copyBytes(state.initiator ? k2 : k1, 0, 32),
    hash: state.h,
  }
  // Plain fills: our own short-lived arrays (see mixKey).
  k1.fill(0)
  k2.fill(0)
  state.ck.fill(0)
  state.k?.fill(0)
  state.e?.scalar.fill(0)
  state.k = undefined
  state.e = undefined
  state.step = 4
  return result
}

/** For error messages. */
export function describeKey(key: Uint8Array): string {
  return toBase64(key)
}
