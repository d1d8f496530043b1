import { describe, expect, it } from 'vitest'
import { HandshakeError, StreamError } from '@ms/core'
import { backends } from './backends.js'
import { boxStreamC, shs1 } from './vectors.js'

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

describe.each(backends)('known-answer vectors ($name)', ({ mod }) => {
  const { handshake: h, shsCrypto: crypto, BoxEncoder, BoxDecoder } = mod

  it('reproduces the shs1-crypto handshake byte for byte', () => {
    const client = h.createHandshakeState({
      crypto,
      appKey: shs1.network_identifier,
      local: { publicKey: shs1.client_longterm_pk, secretKey: shs1.client_longterm_sk },
      remotePublicKey: shs1.server_longterm_pk,
      ephemeral: { publicKey: shs1.client_ephemeral_pk, secretKey: shs1.client_ephemeral_sk },
    })
    const server = h.createHandshakeState({
      crypto,
      appKey: shs1.network_identifier,
      local: { publicKey: shs1.server_longterm_pk, secretKey: shs1.server_longterm_sk },
      ephemeral: { publicKey: shs1.server_ephemeral_pk, secretKey: shs1.server_ephemeral_sk },
    })
    const msg1 = h.createChallenge(client)
    expect(msg1).toEqual(shs1.msg1)
    h.verifyChallenge(server, msg1, 'msg1')
    const msg2 = h.createChallenge(server)
    expect(msg2).toEqual(shs1.msg2)
    h.verifyChallenge(client, msg2, 'msg2')
    const msg3 = h.clientCreateAuth(client)
    expect(msg3).toEqual(shs1.msg3)
    expect(h.serverVerifyAuth(server, msg3)).toEqual(shs1.client_longterm_pk)
    const msg4 = h.serverCreateAccept(server)
    expect(msg4).toEqual(shs1.msg4)
    h.clientVerifyAccept(client, msg4)
    const c = h.sessionKeys(client)
    const s = h.sessionKeys(server)
    expect(c).toEqual({
      encryptKey: shs1.clientOutcome.encryption_key,
      encryptNonce: shs1.clientOutcome.encryption_nonce,
      decryptKey: shs1.clientOutcome.decryption_key,
      decryptNonce: shs1.clientOutcome.decryption_nonce,
    })
    expect(s).toEqual({
      encryptKey: shs1.serverOutcome.encryption_key,
      encryptNonce: shs1.serverOutcome.encryption_nonce,
      decryptKey: shs1.serverOutcome.decryption_key,
      decryptNonce: shs1.serverOutcome.decryption_nonce,
    })
  })

  it('rejects each handshake message with one flipped bit, with the right stage', () => {
    const fresh = () => {
      const client = h.createHandshakeState({
        crypto,
        appKey: shs1.network_identifier,
        local: { publicKey: shs1.client_longterm_pk, secretKey: shs1.client_longterm_sk },
        remotePublicKey: shs1.server_longterm_pk,
        ephemeral: { publicKey: shs1.client_ephemeral_pk, secretKey: shs1.client_ephemeral_sk },
      })
      const server = h.createHandshakeState({
        crypto,
        appKey: shs1.network_identifier,
        local: { publicKey: shs1.server_longterm_pk, secretKey: shs1.server_longterm_sk },
        ephemeral: { publicKey: shs1.server_ephemeral_pk, secretKey: shs1.server_ephemeral_sk },
      })
      return { client, server }
    }
    const flip = (m: Uint8Array, i: number) => {
      const c = m.slice()
      c[i]! ^= 1
      return c
    }
    const stageOf = (fn: () => void) => {
      try {
        fn()
      } catch (e) {
        expect(e).toBeInstanceOf(HandshakeError)
        return (e as HandshakeError).stage
      }
      return 'passed'
    }
    for (const i of [0, 31, 32, 63]) {
      expect(stageOf(() => h.verifyChallenge(fresh().server, flip(shs1.msg1, i), 'msg1'))).toBe('msg1')
      expect(stageOf(() => h.verifyChallenge(fresh().client, flip(shs1.msg2, i), 'msg2'))).toBe('msg2')
    }
    for (const i of [0, 16, 50, 111]) {
      const { client, server } = fresh()
      h.verifyChallenge(server, shs1.msg1, 'msg1')
      expect(stageOf(() => h.serverVerifyAuth(server, flip(shs1.msg3, i)))).toBe('msg3')
      void client
    }
    for (const i of [0, 16, 79]) {
      const { client } = fresh()
      h.verifyChallenge(client, shs1.msg2, 'msg2')
      h.clientCreateAuth(client)
      expect(stageOf(() => h.clientVerifyAccept(client, flip(shs1.msg4, i)))).toBe('msg4')
    }
  })

  it('encrypts the box-stream-c vectors byte for byte', () => {
    const enc = new BoxEncoder(crypto, boxStreamC.key, boxStreamC.nonce)
    expect(enc.encode(boxStreamC.plain1)).toEqual(concat(boxStreamC.header1, boxStreamC.packet1))
    expect(enc.encode(boxStreamC.plain2)).toEqual(concat(boxStreamC.header2, boxStreamC.packet2))
    expect(enc.goodbye()).toEqual(boxStreamC.finalHeader)
  })

  it('decrypts the box-stream-c vectors, whole and one byte at a time', () => {
    const wire = concat(boxStreamC.header1, boxStreamC.packet1, boxStreamC.header2, boxStreamC.packet2, boxStreamC.finalHeader)
    const whole = new BoxDecoder(crypto, boxStreamC.key, boxStreamC.nonce)
    expect(whole.push(wire)).toEqual(concat(boxStreamC.plain1, boxStreamC.plain2))
    expect(whole.ended).toBe(true)
    const bytewise = new BoxDecoder(crypto, boxStreamC.key, boxStreamC.nonce)
    const got: number[] = []
    for (const byte of wire) got.push(...bytewise.push(Uint8Array.of(byte)))
    expect(Uint8Array.from(got)).toEqual(concat(boxStreamC.plain1, boxStreamC.plain2))
    expect(bytewise.ended).toBe(true)
  })

  it('rejects the box-stream-c corrupted packet without releasing plaintext', () => {
    const dec = new BoxDecoder(crypto, boxStreamC.key, boxStreamC.nonce)
    expect(dec.push(boxStreamC.header1)).toHaveLength(0)
    expect(() => dec.push(boxStreamC.corruptPacket1)).toThrow(StreamError)
    // The decoder stays failed.
    expect(() => dec.push(boxStreamC.header2)).toThrow(StreamError)
  })

  it('carries the nonce across byte boundaries (box-stream-c boundary test)', () => {
    const key = crypto.randomBytes(32)
    const enc = new BoxEncoder(crypto, key, boxStreamC.boundaryNonce)
    const dec = new BoxDecoder(crypto, key, boxStreamC.boundaryNonce)
    for (let i = 0; i < 1000; i++) {
      const plain = crypto.randomBytes(8)
      expect(dec.push(enc.encode(plain))).toEqual(plain)
    }
  })
})
