// The "ideal" implementation: secret-handshake v1 and box-stream written
// straight on sodium-native and bare net.Sockets, with nothing between them:
// no framework, no WHATWG or pull streams, no promises on the byte path, no
// per-frame allocation. It speaks the real protocol (interoperable with
// @ms/shs and npm secret-handshake / pull-box-stream, checked by
// test/ideal.test.ts), so it pays for everything the protocol needs and
// nothing else: what a zero-overhead implementation reaches on this machine,
// measured in the same run as ours (README.md, "The ideal implementation").
//
// Crypto choices are the cheapest correct ones, as in @ms/shs: the ephemeral
// key from crypto_box_keypair (one fixed-base scalar multiplication), our
// long-term curve25519 secret converted once, peers' curve25519 public keys
// cached by their Ed25519 key.
//
// Only `net~shs` (for bulk, handshakes and latency). The same Conn interface
// as the other adapters (workloads.mjs).
import net from 'node:net'
import { pumpSocket, receivedCounter } from './socket-pump.mjs'
import sodium from 'sodium-native'

const HOST = '127.0.0.1'
const MAX_BODY = 4096
const HEADER_BOX = 34
const HEADER_PLAIN = 18
const ZERO_NONCE = Buffer.alloc(24)
const GOODBYE = Buffer.alloc(HEADER_PLAIN)

const alloc = (n) => Buffer.alloc(n)

/** Adds one to box-stream's 24-byte big-endian nonce counter (libsodium's sodium_increment is little-endian). */
function increment(nonce) {
  for (let i = 23; i >= 0; i--) if ((nonce[i] = (nonce[i] + 1) & 0xff) !== 0) return
}
function sha256(...parts) {
  const out = alloc(32)
  sodium.crypto_hash_sha256(out, parts.length === 1 ? parts[0] : Buffer.concat(parts))
  return out
}
function hmac(message, key) {
  const out = alloc(32)
  sodium.crypto_auth(out, message, key)
  return out
}
function scalarmult(sk, pk) {
  const out = alloc(32)
  sodium.crypto_scalarmult(out, sk, pk)
  return out
}
function sign(message, sk) {
  const out = alloc(64)
  sodium.crypto_sign_detached(out, message, sk)
  return out
}
function box(plain, key) {
  const out = alloc(plain.length + 16)
  sodium.crypto_secretbox_easy(out, plain, ZERO_NONCE, key)
  return out
}
function unbox(boxed, key) {
  const out = alloc(boxed.length - 16)
  return sodium.crypto_secretbox_open_easy(out, boxed, ZERO_NONCE, key) ? out : null
}
const fail = (what) => {
  throw new Error(`ideal shs: ${what}`)
}

/** Our long-term keys with the curve25519 secret converted once, and a cache of peers' curve keys. */
function identity(keys, appKey) {
  const publicKey = Buffer.from(keys.publicKey)
  const secretKey = Buffer.from(keys.secretKey)
  const curveSecret = alloc(32)
  sodium.crypto_sign_ed25519_sk_to_curve25519(curveSecret, secretKey)
  const curves = new Map()
  return {
    appKey: Buffer.from(appKey),
    publicKey,
    secretKey,
    curveSecret,
    curveOf(edPublic) {
      const id = edPublic.toString('base64')
      let curve = curves.get(id)
      if (!curve) {
        curve = alloc(32)
        sodium.crypto_sign_ed25519_pk_to_curve25519(curve, edPublic)
        curves.set(id, curve)
      }
      return curve
    },
  }
}

function ephemeral(me) {
  const publicKey = alloc(32)
  const secretKey = alloc(32)
  sodium.crypto_box_keypair(publicKey, secretKey)
  const mac = hmac(publicKey, me.appKey)
  return { publicKey, secretKey, mac, hello: Buffer.concat([mac, publicKey]) }
}

/** Verifies msg1/msg2 (HMAC of the peer's ephemeral key under the app key); returns [mac, ephemeral key]. */
function verifyChallenge(me, msg) {
  const mac = msg.subarray(0, 32)
  const theirs = msg.subarray(32, 64)
  if (!sodium.crypto_auth_verify(mac, theirs, me.appKey)) fail('wrong app key')
  return [Buffer.from(mac), Buffer.from(theirs)]
}

/**
 * Session keys as npm secret-handshake derives them: each side encrypts with
 * sha256(sha256(msg4 key) || remote long-term key) and the first 24 bytes of
 * the remote's challenge HMAC as nonce, decrypts with the mirror image.
 */
function sessionKeys(msg4Key, localPublic, remotePublic, localMac, remoteMac) {
  const root = sha256(msg4Key)
  return {
    encryptKey: sha256(root, remotePublic),
    encryptNonce: Buffer.from(remoteMac.subarray(0, 24)),
    decryptKey: sha256(root, localPublic),
    decryptNonce: Buffer.from(localMac.subarray(0, 24)),
  }
}

/**
 * Runs `steps` over a socket's first bytes: each step gets exactly the
 * number of bytes it asked for and returns the next [length, step], or
 * `done(rest)` with the session and any bytes that came after the handshake.
 */
function handshake(socket, first, onDone, onError) {
  let [need, step] = first
  let buffered = []
  let have = 0
  let finished = false
  const finish = (error, session, rest) => {
    if (finished) return
    finished = true
    socket.off('data', onData)
    socket.off('error', onFail)
    socket.off('end', onEnd)
    socket.off('close', onEnd)
    if (error) {
      socket.destroy()
      onError(error)
    } else onDone(session, rest)
  }
  const onData = (chunk) => {
    buffered.push(chunk)
    have += chunk.length
    try {
      while (have >= need) {
        const all = buffered.length === 1 ? buffered[0] : Buffer.concat(buffered)
        const msg = all.subarray(0, need)
        const rest = all.subarray(need)
        buffered = rest.length ? [rest] : []
        have = rest.length
        const next = step(msg)
        if (next.session) return finish(null, next.session, rest)
        ;[need, step] = next
      }
    } catch (error) {
      finish(error)
    }
  }
  const onFail = (error) => finish(error)
  const onEnd = () => finish(new Error('ideal shs: connection closed during the handshake'))
  socket.on('data', onData)
  socket.on('error', onFail)
  socket.on('end', onEnd)
  socket.on('close', onEnd)
}

function serverHandshake(socket, me, onDone, onError) {
  const eph = ephemeral(me)
  let remoteMac, remoteEph, ab, abHash
  handshake(
    socket,
    [
      64,
      (msg1) => {
        ;[remoteMac, remoteEph] = verifyChallenge(me, msg1)
        socket.write(eph.hello)
        ab = scalarmult(eph.secretKey, remoteEph)
        abHash = sha256(ab)
        return [
          112,
          (msg3) => {
            const aB = scalarmult(me.curveSecret, remoteEph)
            const hello = unbox(msg3, sha256(me.appKey, ab, aB)) ?? fail('msg3 does not open')
            const clientPublic = hello.subarray(64, 96)
            if (!sodium.crypto_sign_verify_detached(hello.subarray(0, 64), Buffer.concat([me.appKey, me.publicKey, abHash]), clientPublic)) fail('msg3 signature')
            const Ab = scalarmult(eph.secretKey, me.curveOf(clientPublic))
            const msg4Key = sha256(me.appKey, ab, aB, Ab)
            socket.write(box(sign(Buffer.concat([me.appKey, hello, abHash]), me.secretKey), msg4Key))
            return { session: sessionKeys(msg4Key, me.publicKey, clientPublic, eph.mac, remoteMac) }
          },
        ]
      },
    ],
    onDone,
    onError,
  )
}

function clientHandshake(socket, me, serverPublic, onDone, onError) {
  const eph = ephemeral(me)
  socket.write(eph.hello)
  handshake(
    socket,
    [
      64,
      (msg2) => {
        const [remoteMac, remoteEph] = verifyChallenge(me, msg2)
        const ab = scalarmult(eph.secretKey, remoteEph)
        const abHash = sha256(ab)
        const aB = scalarmult(eph.secretKey, me.curveOf(serverPublic))
        const hello = Buffer.concat([sign(Buffer.concat([me.appKey, serverPublic, abHash]), me.secretKey), me.publicKey])
        socket.write(box(hello, sha256(me.appKey, ab, aB)))
        return [
          80,
          (msg4) => {
            const Ab = scalarmult(me.curveSecret, remoteEph)
            const msg4Key = sha256(me.appKey, ab, aB, Ab)
            const signature = unbox(msg4, msg4Key) ?? fail('msg4 does not open')
            if (!sodium.crypto_sign_verify_detached(signature, Buffer.concat([me.appKey, hello, abHash]), serverPublic)) fail('msg4 signature')
            return { session: sessionKeys(msg4Key, me.publicKey, serverPublic, eph.mac, remoteMac) }
          },
        ]
      },
    ],
    onDone,
    onError,
  )
}

/** Box-stream encryption of `data` into one fresh buffer: per ≤4096-byte body, a 34-byte header box then the body. */
function encode(tx, data) {
  const frames = Math.ceil(data.length / MAX_BODY)
  const out = Buffer.allocUnsafe(data.length + frames * HEADER_BOX)
  const { key, headerNonce, bodyNonce, header, mac } = tx
  let op = 0
  for (let ip = 0; ip < data.length; ip += MAX_BODY) {
    const n = Math.min(MAX_BODY, data.length - ip)
    sodium.crypto_secretbox_detached(out.subarray(op + HEADER_BOX, op + HEADER_BOX + n), mac, data.subarray(ip, ip + n), bodyNonce, key)
    header[0] = n >>> 8
    header[1] = n & 0xff
    sodium.crypto_secretbox_easy(out.subarray(op, op + HEADER_BOX), header, headerNonce, key)
    increment(headerNonce)
    increment(headerNonce)
    increment(bodyNonce)
    increment(bodyNonce)
    op += HEADER_BOX + n
  }
  return out
}

function goodbye(tx) {
  const out = alloc(HEADER_BOX)
  sodium.crypto_secretbox_easy(out, GOODBYE, tx.headerNonce, tx.key)
  return out
}

/**
 * Box-stream decryption of one received chunk, in place (the chunk is ours:
 * Node hands each 'data' buffer out once). Frames split across chunks are
 * gathered in the decoder's own buffers. Returns the plaintext byte count;
 * `rx.ended` turns true at the goodbye.
 */
function decode(rx, chunk) {
  const { key, nonce, header, mac } = rx
  let plain = 0
  let p = 0
  while (p < chunk.length && !rx.ended) {
    if (rx.bodyLength < 0) {
      let boxed
      if (rx.headerFill === 0 && chunk.length - p >= HEADER_BOX) {
        boxed = chunk.subarray(p, p + HEADER_BOX)
        p += HEADER_BOX
      } else {
        const take = Math.min(HEADER_BOX - rx.headerFill, chunk.length - p)
        chunk.copy(rx.headerBox, rx.headerFill, p, p + take)
        rx.headerFill += take
        p += take
        if (rx.headerFill < HEADER_BOX) break
        rx.headerFill = 0
        boxed = rx.headerBox
      }
      if (!sodium.crypto_secretbox_open_easy(header, boxed, nonce, key)) fail('box-stream header does not open')
      increment(nonce)
      if (sodium.sodium_is_zero(header)) {
        rx.ended = true
        break
      }
      rx.bodyLength = header.readUInt16BE(0)
      if (rx.bodyLength > MAX_BODY) fail('box-stream body too long')
    }
    const n = rx.bodyLength
    if (rx.bodyFill === 0 && chunk.length - p >= n) {
      const body = chunk.subarray(p, p + n)
      if (!sodium.crypto_secretbox_open_detached(body, body, mac, nonce, key)) fail('box-stream body does not open')
      p += n
    } else {
      const take = Math.min(n - rx.bodyFill, chunk.length - p)
      // Only a frame split across chunks needs it: an idle connection does without.
      rx.body ??= Buffer.allocUnsafe(MAX_BODY)
      chunk.copy(rx.body, rx.bodyFill, p, p + take)
      rx.bodyFill += take
      p += take
      if (rx.bodyFill < n) break
      rx.bodyFill = 0
      const body = rx.body.subarray(0, n)
      if (!sodium.crypto_secretbox_open_detached(body, body, mac, nonce, key)) fail('box-stream body does not open')
    }
    increment(nonce)
    plain += n
    rx.bodyLength = -1
  }
  return plain
}

/** The Conn interface (workloads.mjs) over an established box-stream. */
function wrap(socket, session, rest) {
  const txBody = Buffer.from(session.encryptNonce)
  increment(txBody)
  const tx = { key: session.encryptKey, headerNonce: Buffer.from(session.encryptNonce), bodyNonce: txBody, header: alloc(HEADER_PLAIN), mac: null }
  tx.mac = tx.header.subarray(2)
  const header = alloc(HEADER_PLAIN)
  const rx = {
    key: session.decryptKey,
    nonce: Buffer.from(session.decryptNonce),
    header,
    mac: header.subarray(2),
    headerBox: alloc(HEADER_BOX),
    headerFill: 0,
    body: undefined,
    bodyFill: 0,
    bodyLength: -1,
    ended: false,
  }
  // Plaintext is counted as it is verified; readers wait for a threshold.
  const counter = receivedCounter()
  let sentGoodbye = false
  // Both goodbyes exchanged: the box-stream is over, so is the socket.
  const maybeEnd = () => sentGoodbye && rx.ended && socket.end()
  const onData = (chunk) => {
    try {
      counter.add(decode(rx, chunk))
    } catch (error) {
      counter.fail(error)
      socket.destroy()
    }
    if (rx.ended) {
      maybeEnd()
      counter.end()
    }
  }
  socket.on('data', onData)
  socket.on('end', () => {
    if (!rx.ended) counter.fail(new Error('ideal shs: connection ended without a goodbye'))
  })
  socket.on('error', (error) => counter.fail(error))
  socket.on('close', () => {
    if (!rx.ended) counter.fail(new Error('ideal shs: connection closed'))
  })
  if (rest.length) onData(rest)
  const send = (data) => new Promise((resolve, reject) => socket.write(encode(tx, data), (error) => (error ? reject(error) : resolve())))

  return {
    write: send,
    pump: (n, chunk) => pumpSocket(socket, n, chunk, (piece) => encode(tx, piece)),
    readAtLeast: (n) => counter.readAtLeast(n),
    readToEnd: () => counter.readToEnd(),
    idle() {},
    endWrite() {
      if (sentGoodbye) return Promise.resolve()
      sentGoodbye = true
      return new Promise((resolve, reject) => {
        socket.write(goodbye(tx), (error) => (error ? reject(error) : resolve()))
        maybeEnd()
      })
    },
    close() {
      // After both goodbyes the socket is already ending; otherwise this is an abort.
      if (!(sentGoodbye && rx.ended)) socket.destroy()
      return Promise.resolve()
    },
  }
}

function checkSuite(suite) {
  if (suite !== 'net~shs') throw new Error(`the ideal implementation only measures net~shs, not ${suite}`)
}

export async function listen(suite, keys, appKey, onConn, onError) {
  checkSuite(suite)
  const me = identity(keys, appKey)
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => {})
    serverHandshake(socket, me, (session, rest) => onConn(wrap(socket, session, rest)), (error) => onError?.(error))
  })
  server.on('error', (error) => onError?.(error))
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, resolve)
  })
  const address = `net:${HOST}:${server.address().port}~shs:${me.publicKey.toString('base64')}`
  return { address, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

export async function dialer(suite, keys, appKey) {
  checkSuite(suite)
  const me = identity(keys, appKey)
  return (address) =>
    new Promise((resolve, reject) => {
      const m = /^net:([^:]+):(\d+)~shs:([A-Za-z0-9+/=]+)$/.exec(address) ?? fail(`not a net~shs address: ${address}`)
      const serverPublic = Buffer.from(m[3], 'base64')
      const socket = net.connect({ host: m[1], port: Number(m[2]), allowHalfOpen: true, noDelay: true })
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        socket.on('error', () => {})
        clientHandshake(socket, me, serverPublic, (session, rest) => resolve(wrap(socket, session, rest)), reject)
      })
    })
}
