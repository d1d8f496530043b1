import {
  appendSegment,
  channelHandshake,
  handshakeOptions,
  connectionFromChannel,
  toBase64,
  type CanonicalScope,
  type HandshakeIo,
  type Connection,
  type Segment,
  type Transform,
  type UpgradeOptions,
} from '@ms/core'
import { BoxDecoder, BoxEncoder } from './boxstream.js'
import { copyBytes, type ShsCrypto } from './crypto/types.js'
import {
  MSG1_LENGTH,
  MSG2_LENGTH,
  MSG3_LENGTH,
  MSG4_LENGTH,
  clientCreateAuth,
  clientVerifyAccept,
  createChallenge,
  createHandshakeState,
  serverCreateAccept,
  serverVerifyAuth,
  sessionKeys,
  verifyChallenge,
  type HandshakeState,
  type SessionKeys,
} from './handshake.js'
import { decode32, normalizeKey32, normalizeKeys, type KeyPair, type KeysInput } from '@ms/identity'
import { boxChannel } from './channel.js'

/** What the shs transform learnt about the peer; on `connection.info.shs`. */
export interface ShsInfo {
  /** The peer's long-term Ed25519 public key (32 bytes), authenticated by the handshake. */
  publicKey: Uint8Array
  /** Inbound only: the truthy value `authorize` returned for this peer (its permissions). */
  authorization?: unknown
}

declare module '@ms/core' {
  interface ConnectionInfo {
    shs?: ShsInfo
  }
}

export interface ShsOptions {
  /** Our long-term Ed25519 key pair: `{ publicKey, secretKey }` bytes or ssb-keys `{ public, private }`. */
  keys: KeysInput
  /** The network key (32 bytes or base64). SSB's main network uses `SSB_APP_KEY`. */
  appKey: Uint8Array | string
  /**
   * Server side: decides whether a client (by its public key) may connect.
   * A truthy result (or promise of one) accepts and is kept on
   * `info.shs.authorization`; a falsy result or a throw rejects, and the
   * client then receives nothing further. Default: accept every client
   * that completed the handshake (it knew our key and the app key).
   */
  authorize?: (remotePublicKey: Uint8Array) => unknown
  /** Milliseconds for the whole handshake. Default 5000. */
  timeout?: number
}

/** Dial options parsed from `shs:<server key>[:<seed>]`. */
export interface ShsDialOptions {
  /** The server's Ed25519 public key. */
  publicKey: Uint8Array
  /** Authenticate as the key pair derived from this 32-byte seed (invite codes) instead of our own keys. */
  seed?: Uint8Array
}

export interface ShsTransform extends Transform<ShsDialOptions> {
  readonly name: 'shs'
  /** Our public key. */
  readonly publicKey: Uint8Array
  /** The backend in use (`sodium` or `noble`). */
  readonly crypto: ShsCrypto
}


/** Builds the `shs()` factory over one crypto backend. */
export function createShs(crypto: ShsCrypto): (options: ShsOptions) => ShsTransform {
  return function shs(options: ShsOptions): ShsTransform {
    if (options === null || typeof options !== 'object') throw new TypeError('shs: options { keys, appKey } are required')
    const keys = normalizeKeys(options.keys, crypto, 'shs')
    const appKey = normalizeKey32(options.appKey, 'shs: appKey')
    const { authorize, timeout } = handshakeOptions('shs', options)
    const ourKey = toBase64(keys.publicKey)

    function parse(segment: Segment): ShsDialOptions | null {
      try {
        if (segment.name !== 'shs' || segment.data.length < 1 || segment.data.length > 2) return null
        const publicKey = decode32(segment.data[0])
        if (!publicKey) return null
        if (segment.data.length === 1) return { publicKey }
        const seed = decode32(segment.data[1])
        return seed ? { publicKey, seed } : null
      } catch {
        return null
      }
    }

    function advertise(_scope: CanonicalScope): Segment {
      return { name: 'shs', data: [ourKey] }
    }

    async function upgradeOutbound(connection: Connection, dial: ShsDialOptions, upgrade: UpgradeOptions = {}): Promise<Connection> {
      if (!dial || !(dial.publicKey instanceof Uint8Array) || dial.publicKey.length !== 32) {
        throw new TypeError('shs: dial options need a 32-byte publicKey')
      }
      const address = appendSegment(connection.remoteAddress, { name: 'shs', data: [toBase64(dial.publicKey)] })
      const local: KeyPair = dial.seed ? crypto.signKeypairFromSeed(dial.seed) : keys
      const state = createHandshakeState({ crypto, appKey, local, remotePublicKey: copyBytes(dial.publicKey), address })
      return run(connection, upgrade, address, 'outbound', async (io) => {
        io.write(createChallenge(state))
        verifyChallenge(state, await io.read(MSG2_LENGTH, 'msg2'), 'msg2')
        io.write(clientCreateAuth(state))
        clientVerifyAccept(state, await io.read(MSG4_LENGTH, 'msg4'))
        return { state, authorization: undefined, keys: sessionKeys(state) }
      })
    }

    async function upgradeInbound(connection: Connection, upgrade: UpgradeOptions = {}): Promise<Connection> {
      const inner = connection.remoteAddress
      const state = createHandshakeState({ crypto, appKey, local: keys, address: inner })
      return run(connection, upgrade, inner, 'inbound', async (io) => {
        verifyChallenge(state, await io.read(MSG1_LENGTH, 'msg1'), 'msg1')
        // A live peer: under load the listener sheds idle handshakes first.
        upgrade.onProgress?.()
        io.write(createChallenge(state))
        const clientKey = serverVerifyAuth(state, await io.read(MSG3_LENGTH, 'msg3'))
        upgrade.onProgress?.()
        state.address = appendSegment(inner, { name: 'shs', data: [toBase64(clientKey)] })
        const authorization = await io.authorize(authorize, copyBytes(clientKey), state.address)
        io.write(serverCreateAccept(state))
        return { state, authorization, keys: sessionKeys(state) }
      })
    }

    /**
     * Runs one handshake (`@ms/core`'s `channelHandshake`: on the inner
     * connection's byte channel, under the whole-handshake timeout and the
     * caller's signal, errors staged), then wraps the connection in
     * box-stream. On failure the inner connection is left to the caller
     * (the contract says it closes it), and the server has written nothing
     * after the failing step. The result builds one pair of WHATWG streams
     * on first use, or hands its own channel to the next plugin up.
     */
    async function run(
      connection: Connection,
      upgrade: UpgradeOptions,
      address: string,
      direction: 'inbound' | 'outbound',
      handshake: (io: HandshakeIo) => Promise<{ state: HandshakeState; authorization: unknown; keys: SessionKeys }>,
    ): Promise<Connection> {
      const options = { name: 'shs', direction, address, timeout, signal: upgrade.signal, hints: HINTS }
      const { result, channel, reader } = await channelHandshake(connection, options, handshake)
      const { state, authorization, keys: keysOut } = result
      const remotePublicKey = state.remotePublicKey!
      // Already `<inner>~shs:<peer key>` on both sides: the client dialled it,
      // the server set it once msg3 named the client.
      const remoteAddress = state.address ?? appendSegment(connection.remoteAddress, { name: 'shs', data: [toBase64(remotePublicKey)] })
      const info: ShsInfo = { publicKey: remotePublicKey }
      if (direction === 'inbound') info.authorization = authorization
      const decoder = new BoxDecoder(crypto, keysOut.decryptKey, keysOut.decryptNonce, remoteAddress)
      const encoder = new BoxEncoder(crypto, keysOut.encryptKey, keysOut.encryptNonce)
      const box = boxChannel({ inner: channel, reader, decoder, encoder, address: remoteAddress })
      return connectionFromChannel(box, { remoteAddress, direction: connection.direction, info: { ...connection.info, shs: info } })
    }

    return { name: 'shs', publicKey: copyBytes(keys.publicKey), crypto, parse, advertise, upgradeOutbound, upgradeInbound }
  }
}

const HINTS: Record<string, string> = {
  // The server closes without a word in every case, so we cannot tell which; say so.
  'outbound:msg2':
    'the server closed the connection before answering msg1: it was busy (shedding handshakes under load), uses a different app key (network), or is not a secret-handshake server',
  'outbound:msg4': 'the server closed the connection after msg3: wrong server public key, the server did not authorize us, or it was busy (shedding handshakes under load)',
  'inbound:msg1': 'the client hung up before msg1',
  'inbound:msg3': 'the client hung up after msg2: it may use a different app key (network)',
}
