import { StreamError, connectionFromChannel, type ByteChannel, type ChannelSink, type Connection, type MsError } from '@ms/core'
import type { PullEnd, PullSource } from '@ms/compat'
import pull from 'pull-stream'
import sodium from 'sodium-native'

/** A fresh Ed25519 key pair as Buffers, plus the ssb-keys string form. */
export function keyPair() {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES)
  sodium.crypto_sign_keypair(publicKey, secretKey)
  const id = '@' + publicKey.toString('base64') + '.ed25519'
  return {
    publicKey,
    secretKey,
    ssb: { curve: 'ed25519', public: publicKey.toString('base64') + '.ed25519', private: secretKey.toString('base64') + '.ed25519', id },
    id,
  }
}

export function randomAppKey(): string {
  const key = Buffer.alloc(32)
  sodium.randombytes_buf(key)
  return key.toString('base64')
}

/**
 * A Connection whose two sides are instrumented: every pull from the
 * readable side and every chunk that reaches the writable side is counted,
 * and the test decides when the writable side accepts a chunk.
 */
export function probeConnection(options: { remoteAddress?: string; info?: Connection['info'] } = {}) {
  const log = {
    pulls: 0,
    written: [] as Uint8Array[],
    closedWritable: false,
    abortedWritable: undefined as unknown,
    cancelled: undefined as unknown,
    cancelCalls: 0,
    closeCalls: [] as unknown[],
  }
  let readController!: ReadableStreamDefaultController<Uint8Array>
  let writeController!: WritableStreamDefaultController
  const pendingPulls: (() => void)[] = []
  let releaseWrite: (() => void) | undefined
  let failWrite: ((error: unknown) => void) | undefined
  let autoAccept = true
  const readable = new ReadableStream<Uint8Array>(
    {
      start: (c) => void (readController = c),
      pull: () => {
        log.pulls++
        return new Promise<void>((resolve) => pendingPulls.push(resolve))
      },
      cancel: (reason) => {
        log.cancelCalls++
        log.cancelled = reason ?? true
      },
    },
    { highWaterMark: 0 },
  )
  const writable = new WritableStream<Uint8Array>(
    {
      start: (c) => void (writeController = c),
      write: (chunk) => {
        log.written.push(chunk)
        if (autoAccept) return
        return new Promise<void>((resolve, reject) => {
          releaseWrite = resolve
          failWrite = reject
        })
      },
      close: () => void (log.closedWritable = true),
      abort: (reason) => void (log.abortedWritable = reason ?? true),
    },
    { highWaterMark: 1 },
  )
  let resolveClosed!: () => void
  const closed = new Promise<void>((r) => (resolveClosed = r))
  const connection: Connection = {
    readable,
    writable,
    remoteAddress: options.remoteAddress ?? 'mem:probe',
    direction: 'inbound',
    info: options.info ?? {},
    closed,
    close(reason?: unknown) {
      log.closeCalls.push(reason)
      try {
        readController.error(new StreamError('closed', { address: 'mem:probe' }))
      } catch {}
      try {
        writeController.error(new StreamError('closed', { address: 'mem:probe' }))
      } catch {}
      resolveClosed()
      return closed
    },
  }
  return {
    connection,
    log,
    /** Delivers a chunk to the reader (answering the oldest pending pull). */
    push(chunk: Uint8Array) {
      readController.enqueue(chunk)
      pendingPulls.shift()?.()
    },
    end() {
      readController.close()
      pendingPulls.shift()?.()
    },
    fail(error: Error) {
      readController.error(error)
      writeController.error(error)
      // A transport fails its write in flight too (fromNodeSocket rejects the drain wait).
      failWrite?.(error)
    },
    holdWrites() {
      autoAccept = false
    },
    acceptWrite() {
      const r = releaseWrite
      releaseWrite = undefined
      r?.()
    },
  }
}

export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms))

/** Calls a pull source once and resolves with what it called back. */
export function readOnce<T>(source: PullSource<T>, abort: PullEnd = null) {
  return new Promise<{ end: unknown; data?: T }>((resolve) => source(abort, (end, data) => resolve({ end, data })))
}

/**
 * A Connection that offers a scripted `ByteChannel` (as TCP and shs do):
 * the test plays the peer and the socket, and the log records what the
 * channel was asked to do.
 */
export function probeChannel(options: { remoteAddress?: string; halfClose?: boolean } = {}) {
  const remoteAddress = options.remoteAddress ?? 'net:probe'
  const log = {
    paused: false,
    resumes: 0,
    written: [] as Uint8Array[],
    ended: false,
    stoppedReading: false,
    destroyed: false,
    destroyedWith: undefined as unknown,
  }
  let sink: ChannelSink | undefined
  let full = false
  let resolveClosed!: () => void
  const closed = new Promise<void>((r) => (resolveClosed = r))
  const channel: ByteChannel = {
    start(s) {
      sink = s
    },
    pause() {
      log.paused = true
    },
    resume() {
      log.paused = false
      log.resumes++
    },
    write(chunk) {
      log.written.push(chunk)
      return !full
    },
    end() {
      log.ended = true
      return Promise.resolve()
    },
    stopReading() {
      log.stoppedReading = true
    },
    destroy(error) {
      log.destroyed = true
      log.destroyedWith = typeof error === 'function' ? error() : error
      resolveClosed()
    },
    closed,
    halfClose: options.halfClose ?? true,
  }
  const connection = connectionFromChannel(channel, { remoteAddress, direction: 'outbound' })
  const started = () => {
    if (!sink) throw new Error('the channel was not taken and started')
    return sink
  }
  return {
    connection,
    log,
    get taken() {
      return sink !== undefined
    },
    /** The peer's bytes (delivered even while paused, as one socket read can be). */
    push: (chunk: Uint8Array) => started().data(chunk),
    end: () => started().end(),
    readFail: (error: MsError) => started().readError(error),
    fail: (error: MsError) => {
      started().error(error)
      resolveClosed()
    },
    /** `write` answers `false` (over the high-water mark) until `drain()`. */
    fill: () => void (full = true),
    drain: () => {
      full = false
      started().drain()
    },
    /** The resource is released (both directions finished). */
    release: () => resolveClosed(),
  }
}

/** Everything a pull source yields, once it ends. */
export function collect<T>(source: PullSource<T>): Promise<T[]> {
  return new Promise((resolve, reject) => pull(source, pull.collect((err: unknown, items: T[]) => (err ? reject(err) : resolve(items)))))
}

/** A pull source of `n` chunks that counts how often it was read. */
export function countingSource(n: number, size = 16) {
  const state = { reads: 0, aborted: undefined as unknown }
  const source: PullSource<Uint8Array> = (abort, cb) => {
    if (abort) {
      state.aborted = abort
      return cb(abort)
    }
    if (state.reads >= n) return cb(true)
    state.reads++
    cb(null, new Uint8Array(size).fill(state.reads % 256))
  }
  return { source, state }
}
