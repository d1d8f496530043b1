import { connect, type Socket } from 'node:net'
import sodium from 'sodium-native'
import { BoxDecoder, BoxEncoder, handshake, shsCrypto } from '@ms/shs'

/**
 * A raw TCP peer with full control over every byte: it can stop after any
 * byte of the handshake or of a box-stream frame, reset the connection, or
 * stop reading. Built on @ms/shs's synchronous handshake steps, so the bytes
 * are the real protocol up to the point where we misbehave.
 */
export class RawPeer {
  readonly socket: Socket
  readonly opened = Date.now()
  private buffered: Buffer[] = []
  private bufferedBytes = 0
  private waiter: (() => void) | undefined
  /** Resolves with the time (ms since open) at which the socket closed, for any reason. */
  readonly closed: Promise<number>
  /**
   * Resolves with the time (ms since open) at which the server hung up: its
   * FIN, a reset, or the socket closing. With `allowHalfOpen` a FIN alone
   * does not close our socket, but the server is done with it.
   */
  readonly hungUp: Promise<number>
  private onHangUp!: () => void
  ended = false
  error: Error | undefined

  private constructor(socket: Socket) {
    this.socket = socket
    this.hungUp = new Promise((resolve) => (this.onHangUp = () => resolve(Date.now() - this.opened)))
    socket.on('data', (chunk: Buffer) => {
      this.buffered.push(chunk)
      this.bufferedBytes += chunk.length
      this.wake()
    })
    socket.on('end', () => {
      this.ended = true
      this.onHangUp()
      this.wake()
    })
    socket.on('error', (error) => {
      this.error = error
      this.onHangUp()
      this.wake()
    })
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true
        this.onHangUp()
        this.wake()
        resolve(Date.now() - this.opened)
      }),
    )
  }

  static open(host: string, port: number, timeout = 10_000): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, allowHalfOpen: true, noDelay: true })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error('raw connect timed out'))
      }, timeout)
      socket.once('connect', () => {
        clearTimeout(timer)
        socket.off('error', reject)
        resolve(new RawPeer(socket))
      })
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
  }

  private wake() {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  /** Exactly `n` bytes, or null when the stream ends, errors or `timeout` passes first. */
  async read(n: number, timeout = 10_000): Promise<Buffer | null> {
    const deadline = Date.now() + timeout
    while (this.bufferedBytes < n) {
      if (this.ended || this.error || Date.now() > deadline) return null
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiter = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
    const all = Buffer.concat(this.buffered)
    this.buffered = [all.subarray(n)]
    this.bufferedBytes = all.length - n
    return all.subarray(0, n)
  }

  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed) return false
    return this.socket.write(bytes)
  }

  /** Waits until the server closes or `timeout` passes; returns how long the connection lived. */
  async waitClosed(timeout: number): Promise<{ closedByServer: boolean; held: number }> {
    // The timer stays referenced: a paused socket does not keep the process alive by itself.
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([
      this.hungUp.then((held) => ({ closedByServer: true, held })),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeout))),
    ])
    clearTimeout(timer)
    if (result) {
      this.socket.destroy()
      return result
    }
    const held = Date.now() - this.opened
    this.socket.destroy()
    return { closedByServer: false, held }
  }

  destroy() {
    this.socket.destroy()
  }

  reset() {
    if (!this.socket.destroyed) this.socket.resetAndDestroy()
  }
}

export interface ShsClientState {
  state: handshake.HandshakeState
  msg1: Uint8Array
}

export function newClientHandshake(appKey: Uint8Array, serverKey: Uint8Array, local = randomKeyPair()): ShsClientState {
  const state = handshake.createHandshakeState({ crypto: shsCrypto, appKey, local, remotePublicKey: serverKey })
  return { state, msg1: handshake.createChallenge(state) }
}

export function randomKeyPair() {
  const seed = new Uint8Array(32)
  sodium.randombytes_buf(seed)
  return shsCrypto.signKeypairFromSeed(seed)
}

/**
 * Runs the client handshake on a raw peer. Returns the box-stream encoder
 * and decoder, or null if the server hung up or answered wrongly.
 */
export async function rawHandshake(peer: RawPeer, appKey: Uint8Array, serverKey: Uint8Array, timeout = 10_000) {
  const { state, msg1 } = newClientHandshake(appKey, serverKey)
  peer.write(msg1)
  const msg2 = await peer.read(64, timeout)
  if (!msg2) return null
  handshake.verifyChallenge(state, msg2, 'msg2')
  peer.write(handshake.clientCreateAuth(state))
  const msg4 = await peer.read(80, timeout)
  if (!msg4) return null
  handshake.clientVerifyAccept(state, msg4)
  const keys = handshake.sessionKeys(state)
  return {
    encoder: new BoxEncoder(shsCrypto, keys.encryptKey, keys.encryptNonce),
    decoder: new BoxDecoder(shsCrypto, keys.decryptKey, keys.decryptNonce),
  }
}

/**
 * msg1 with a valid HMAC (we know the app key) over an ephemeral key that is
 * a low-order Curve25519 point: the server must refuse before msg2, and
 * without crashing (npm secret-handshake crashed on the all-zero key).
 */
export const LOW_ORDER_POINTS: Record<string, Uint8Array> = {
  zero: new Uint8Array(32),
  one: Uint8Array.from([1, ...new Array(31).fill(0)]),
  order8a: Uint8Array.from([
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd,
    0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
  ]),
  order8b: Uint8Array.from([
    0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86,
    0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57,
  ]),
  pMinus1: Uint8Array.from([0xec, ...new Array(30).fill(0xff), 0x7f]),
  p: Uint8Array.from([0xed, ...new Array(30).fill(0xff), 0x7f]),
}

export function lowOrderMsg1(appKey: Uint8Array, point: Uint8Array): Uint8Array {
  const mac = new Uint8Array(32)
  sodium.crypto_auth(mac, point, appKey)
  const out = new Uint8Array(64)
  out.set(mac, 0)
  out.set(point, 32)
  return out
}
