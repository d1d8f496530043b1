import { createServer } from 'node:net'
import pull from 'pull-stream'
import sodium from 'sodium-native'

/** sha256, as the original tests' `chloride.crypto_hash_sha256`. */
export function sha256(text: string): Buffer {
  const out = Buffer.alloc(sodium.crypto_hash_sha256_BYTES)
  sodium.crypto_hash_sha256(out, Buffer.from(text))
  return out
}

/** `chloride.crypto_sign_seed_keypair`. */
export function seedKeypair(seed: Buffer) {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  return { publicKey, secretKey }
}

/**
 * A port nothing listens on now (bound to 0 on loopback and released), for
 * the cases that are about knowing an address before listening.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** The original tests' echo: upper-cases what it receives. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function echo(stream: any) {
  pull(
    stream,
    pull.map((data: Buffer) => Buffer.from(data.toString().toUpperCase())),
    stream,
  )
}

/** Sends `text` through a client stream and collects the reply. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function roundTrip(stream: any, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    pull(
      pull.values([Buffer.from(text)]),
      stream,
      pull.collect((err: unknown, ary: Buffer[]) => (err ? reject(err) : resolve(Buffer.concat(ary).toString()))),
    )
  })
}

/** A callback as a promise: resolves with the value, rejects with the error. */
export function callback<T = unknown>(): { cb: (err?: Error | null, value?: T) => void; promise: Promise<T> } {
  let cb!: (err?: Error | null, value?: T) => void
  const promise = new Promise<T>((resolve, reject) => {
    cb = (err, value) => (err ? reject(err) : resolve(value as T))
  })
  return { cb, promise }
}

/** A callback that resolves with its arguments, errors included. */
export function settled<T = unknown>(): { cb: (err?: Error | null, value?: T) => void; promise: Promise<{ err: Error | null | undefined; value: T | undefined }> } {
  let cb!: (err?: Error | null, value?: T) => void
  const promise = new Promise<{ err: Error | null | undefined; value: T | undefined }>((resolve) => {
    cb = (err, value) => resolve({ err, value })
  })
  return { cb, promise }
}
