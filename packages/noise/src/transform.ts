import {
  HandshakeError,
  appendSegment,
  channelHandshake,
  handshakeOptions,
  concatBytes,
  connectionFromChannel,
  sealedChannel,
  toBase64,
  type CanonicalScope,
  type HandshakeIo,
  type Connection,
  type Segment,
  type Transform,
  type UpgradeOptions,
} from '@ms/core'
import { copyBytes, type NoiseCrypto } from './crypto/types.js'
import {
  MAX_PAYLOAD,
  MSG1_BASE,
  MSG2_BASE,
  createHandshakeState,
  readMessage1,
  readMessage2,
  split,
  writeMessage1,
  writeMessage2,
  type HandshakeState,
  type SplitResult,
} from './handshake.js'
import { decode32, normalizeKeys, normalizeNetworkKey, type KeyPair, type KeysInput } from './keys.js'
import { MAX_MESSAGE, SecretStreamDecoder, SecretStreamEncoder, frame, readLength, streamId } from './secretstream.js'

/** What the noise transform learnt about the peer; on `connection.info.noise`. */
export interface NoiseInfo {
  /** The peer's long-term Ed25519 public key (32 bytes), authenticated by the handshake. */
  publicKey: Uint8Array
  /** The Noise handshake hash (64 bytes): the same on both ends, unique to this connection. */
  handshakeHash: Uint8Array
  /** Inbound only: the truthy value `authorize` returned for this peer (its permissions). */
  authorization?: unknown
}

declare module '@ms/core' {
  interface ConnectionInfo {
    noise?: NoiseInfo
  }
}

export interface NoiseOptions {
  /** Our long-term Ed25519 key pair: `{ publicKey, secretKey }` bytes or ssb-keys `{ public, private }` (the same as shs's). */
  keys: KeysInput
  /**
   * Optional network key (32 bytes or base64), mixed into the Noise
   * prologue: peers with different network keys cannot complete a
   * handshake. Without it the wire is that of `@hyperswarm/secret-stream`.
   */
  networkKey?: Uint8Array | string
  /**
   * Server side: decides whether a client (by its public key) may connect.
   * A truthy result (or promise of one) accepts and is kept on
   * `info.noise.authorization`; a falsy result or a throw rejects, and the
   * client then receives nothing. Default: accept every client that
   * completed msg1 (it knew our key and the network key).
   */
  authorize?: (remotePublicKey: Uint8Array) => unknown
  /** Milliseconds for the whole handshake. Default 5000. */
  timeout?: number
  /** Largest secretstream message accepted from the peer, in bytes. Default (and most) 16 MiB - 1, the format's limit. */
  maxMessage?: number
}

/** Dial options parsed from `noise:<server key>`. */
export interface NoiseDialOptions {
  /** The server's Ed25519 public key. */
  publicKey: Uint8Array
}

export interface NoiseTransform extends Transform<NoiseDialOptions> {
  readonly name: 'noise'
  /** Our public key. */
  readonly publicKey: Uint8Array
  /** The backend in use (`sodium` or `noble`). */
  readonly crypto: NoiseCrypto
}


/**
 * Our handshake payload: 'm' 's', version 1, flags. Flag 1: this side ends
 * its direction with a secretstream FINAL message, so the peer can tell a
 * clean end from a truncation. secret-stream sends an empty payload and
 * ignores ours; the payload is encrypted and in the transcript, so nobody
 * in between can strip it.
 */
const HELLO = Uint8Array.of(0x6d, 0x73, 0x01, 0x01)
function sendsFinal(payload: Uint8Array): boolean {
  return payload.length >= 4 && payload[0] === 0x6d && payload[1] === 0x73 && payload[2]! >= 0x01 && (payload[3]! & 0x01) !== 0
}

/** Builds the `noise()` factory over one crypto backend. */
export function createNoise(crypto: NoiseCrypto): (options: NoiseOptions) => NoiseTransform {
  return function noise(options: NoiseOptions): NoiseTransform {
    if (options === null || typeof options !== 'object') throw new TypeError('noise: options { keys } are required')
    const keys = normalizeKeys(options.keys, crypto)
    const prologue = options.networkKey === undefined ? new Uint8Array(0) : normalizeNetworkKey(options.networkKey)
    const { authorize, timeout } = handshakeOptions('noise', options)
    const maxMessage = options.maxMessage ?? MAX_MESSAGE
    if (!Number.isInteger(maxMessage) || maxMessage < 17 || maxMessage > MAX_MESSAGE) {
      throw new TypeError(`noise: maxMessage must be an integer from 17 to ${MAX_MESSAGE}`)
    }
    const ourKey = toBase64(keys.publicKey)

    function parse(segment: Segment): NoiseDialOptions | null {
      try {
        if (segment.name !== 'noise' || segment.data.length !== 1) return null
        const publicKey = decode32(segment.data[0])
        return publicKey ? { publicKey } : null
      } catch {
        return null
      }
    }

    function advertise(_scope: CanonicalScope): Segment {
      return { name: 'noise', data: [ourKey] }
    }

    async function upgradeOutbound(connection: Connection, dial: NoiseDialOptions, upgrade: UpgradeOptions = {}): Promise<Connection> {
      if (!dial || !(dial.publicKey instanceof Uint8Array) || dial.publicKey.length !== 32) {
        throw new TypeError('noise: dial options need a 32-byte publicKey')
      }
      const address = appendSegment(connection.remoteAddress, { name: 'noise', data: [toBase64(dial.publicKey)] })
      return run(connection, upgrade, address, 'outbound', async (io) => {
        const state = createHandshakeState({ crypto, initiator: true, local: keys, remotePublicKey: dial.publicKey, prologue, address })
        io.write(frame(writeMessage1(state, HELLO)))
        const length = readLength(await io.read(3, 'msg2'))
        if (length < MSG2_BASE || length > MSG2_BASE + MAX_PAYLOAD) {
          throw new HandshakeError(`noise: msg2 announces ${length} bytes, not a noise server reply`, { stage: 'msg2', address })
        }
        const payload = readMessage2(state, await io.read(length, 'msg2'))
        return { state, payload, authorization: undefined, address, keys: split(state) }
      })
    }

    async function upgradeInbound(connection: Connection, upgrade: UpgradeOptions = {}): Promise<Connection> {
      const inner = connection.remoteAddress
      return run(connection, upgrade, inner, 'inbound', async (io) => {
        const state = createHandshakeState({ crypto, initiator: false, local: keys, prologue, address: inner })
        const length = readLength(await io.read(3, 'msg1'))
        if (length < MSG1_BASE || length > MSG1_BASE + MAX_PAYLOAD) {
          throw new HandshakeError(`noise: msg1 announces ${length} bytes, not a noise client`, { stage: 'msg1', address: inner })
        }
        const payload = readMessage1(state, await io.read(length, 'msg1'))
        // A live peer that knows our key: under load the listener sheds idle handshakes first.
        upgrade.onProgress?.()
        const clientKey = state.remotePublicKey!
        const address = appendSegment(inner, { name: 'noise', data: [toBase64(clientKey)] })
        state.address = address
        const authorization = await io.authorize(authorize, copyBytes(clientKey), address)
        // msg2 is written together with our header message (run).
        const reply = frame(writeMessage2(state, HELLO))
        return { state, payload, authorization, address, reply, keys: split(state) }
      })
    }

    interface Outcome {
      state: HandshakeState
      payload: Uint8Array
      authorization: unknown
      address: string
      keys: SplitResult
      /** Server: msg2, sent in front of our header message. */
      reply?: Uint8Array
    }

    /**
     * Runs one handshake (`@ms/core`'s `channelHandshake`: on the inner
     * connection's byte channel, under the whole-handshake timeout and the
     * caller's signal, errors staged), then wraps it in secretstream
     * (`sealedChannel`). On failure the inner connection is left to the
     * caller (the contract says it closes it), and the server has written
     * nothing.
     */
    async function run(
      connection: Connection,
      upgrade: UpgradeOptions,
      address: string,
      direction: 'inbound' | 'outbound',
      handshake: (io: HandshakeIo) => Promise<Outcome>,
    ): Promise<Connection> {
      const options = { name: 'noise', direction, address, timeout, signal: upgrade.signal, hints: HINTS }
      const { result, channel, reader } = await channelHandshake(connection, options, handshake)
      const { state, keys: keysOut, reply } = result
      const initiator = direction === 'outbound'
      const remotePublicKey = state.remotePublicKey!
      const remoteAddress = result.address
      const encoder = new SecretStreamEncoder(crypto, keysOut.tx, streamId(crypto, keysOut.hash, initiator))
      const decoder = new SecretStreamDecoder(crypto, keysOut.rx, streamId(crypto, keysOut.hash, !initiator), { maxMessage, address: remoteAddress })
      crypto.wipe(keysOut.tx)
      // The server's msg2 and header go out in one write; the client's header follows msg2 at once.
      channel.write(reply ? concatBytes([reply, encoder.headerMessage]) : encoder.headerMessage)
      const info: NoiseInfo = { publicKey: remotePublicKey, handshakeHash: copyBytes(keysOut.hash) }
      if (direction === 'inbound') info.authorization = result.authorization
      const peerSendsFinal = sendsFinal(result.payload)
      const box = sealedChannel({ inner: channel, reader, decoder, encoder, name: 'noise', endMarker: peerSendsFinal, endMarkerName: 'its final message', address: remoteAddress })
      return connectionFromChannel(box, { remoteAddress, direction: connection.direction, info: { ...connection.info, noise: info } })
    }

    return { name: 'noise', publicKey: copyBytes(keys.publicKey), crypto, parse, advertise, upgradeOutbound, upgradeInbound }
  }
}

const HINTS: Record<string, string> = {
  'outbound:msg2': 'the server hung up after msg1: wrong server public key, a different network key, not authorized, or not a noise server',
  'inbound:msg1': 'the client hung up before msg1 was complete',
}
