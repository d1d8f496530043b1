// The part of @hyperswarm/secret-stream 6.x (no types of its own) the tests drive.
declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream'
  interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  class NoiseSecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream: unknown, opts?: { pattern?: string; keyPair?: KeyPair; remotePublicKey?: Buffer; handshake?: unknown })
    static keyPair(seed?: Buffer): KeyPair
    publicKey: Buffer | null
    remotePublicKey: Buffer | null
    handshakeHash: Buffer | null
    opened: Promise<boolean>
    rawStream: unknown
  }
  export default NoiseSecretStream
}
