import type { Segment } from './address.js'
import { DialError, ListenError, StreamError, type MsError } from './errors.js'
import { raceSignal, throwIfAborted, writeOrAbort } from './signal.js'
import type { CanonicalScope, Connection, Transport, TransportListener } from './types.js'

/**
 * An in-memory transport: connections are pairs of WHATWG streams inside
 * one JavaScript realm. Address `mem:<id>`. Useful for tests, for demos,
 * and as the reference implementation of the Transport contract.
 */
export interface MemoryTransportOptions {
  /** Listen under this id (default: a fresh one). */
  id?: string
  /** Where listeners are found; transports sharing a hub reach each other. Default: one per process. */
  hub?: MemoryHub
  /** Bytes buffered per direction before the writer waits. Default 64 KiB. */
  highWaterMark?: number
  /** Scopes this listener advertises in. Default `device`. */
  scope?: CanonicalScope | CanonicalScope[]
}

export type MemoryHub = Map<string, (client: Connection) => Connection>

const defaultHub: MemoryHub = new Map()
let counter = 0

const byteLength = (chunk: Uint8Array) => chunk.byteLength

/**
 * One direction of a connection: bytes written on one end come out of the
 * other. Plain streams rather than a TransformStream, whose cancel would
 * error the writer and whose abort would wait for a reader.
 */
class Pipe {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
  rc!: ReadableStreamDefaultController<Uint8Array>
  wc!: WritableStreamDefaultController
  /** No more bytes will be enqueued (ended, errored or cancelled). */
  readerDone = false
  /** The writing end is closed or errored. */
  writerDone = false
  /** The reader cancelled: writes succeed and their bytes are dropped. */
  cancelled = false
  /** A write waiting for the reader to make room. */
  waiter: { resolve: () => void; reject: (error: unknown) => void } | undefined
  #finished = false
  #resolveDone!: () => void
  readonly done = new Promise<void>((resolve) => (this.#resolveDone = resolve))

  constructor(
    highWaterMark: number,
    /** Our writable was aborted (or gave up a blocked write): a reset of the whole connection. */
    onAbort: (reason: unknown) => void,
    /** The reader cancelled, or the writer closed: the ends may now be done with the connection. */
    onChange: () => void,
  ) {
    const strategy = { highWaterMark, size: byteLength }
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (this.rc = c),
        pull: () => this.#release(),
        cancel: () => {
          this.cancelled = true
          this.readerDone = true
          this.#release()
          this.#check()
          onChange()
        },
      },
      strategy,
    )
    this.writable = new WritableStream<Uint8Array>(
      {
        start: (c) => void (this.wc = c),
        write: (chunk, controller) => {
          if (!(chunk instanceof Uint8Array)) throw new TypeError('write Uint8Array chunks only')
          if (this.readerDone) return // cancelled by the reader (dropped), or ended by a close whose error is on its way
          // Copy: the written chunk stays the writer's, the read one is the reader's.
          if (chunk.byteLength > 0) this.rc.enqueue(new Uint8Array(chunk)) // a copy even of a Buffer (whose slice() is a view)
          if ((this.rc.desiredSize ?? 1) > 0) return
          // A peer that never reads must not hold an abort: WHATWG abort
          // waits for the write in flight, so the abort cuts the wait short.
          const room = new Promise<void>((resolve, reject) => (this.waiter = { resolve, reject }))
          return writeOrAbort(room, controller, onAbort)
        },
        close: () => {
          this.writerDone = true
          this.#closeReader()
          this.#check()
          onChange()
        },
        abort: onAbort,
      },
      // Byte-counted like the readable, so that `ready` stays resolved
      // while the reader keeps up instead of flipping after every write.
      strategy,
    )
  }

  #release(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.resolve()
  }

  #closeReader(): void {
    if (this.readerDone) return
    this.readerDone = true
    try {
      this.rc.close()
    } catch {
      // already closed or errored
    }
  }

  #check(): void {
    if (this.#finished || !this.readerDone || !this.writerDone) return
    this.#finished = true
    this.#resolveDone()
  }

  /** Ends the reader's side (after what is queued) and fails the writer's. */
  end(writerError: MsError): void {
    this.#closeReader()
    this.failWriter(writerError)
  }

  /** Errors both sides; `writerError` undefined when the writable is being aborted (it errors itself). */
  reset(readerError: MsError, writerError: MsError | undefined): void {
    if (!this.readerDone) {
      this.readerDone = true
      try {
        this.rc.error(readerError)
      } catch {
        // already closed or errored
      }
    }
    this.failWriter(writerError)
  }

  failWriter(error: MsError | undefined): void {
    if (!this.writerDone) {
      this.writerDone = true
      // Not while the stream aborts: Node's controller.error() then drops
      // the abort algorithm it is about to call.
      if (error) {
        try {
          this.wc.error(error)
        } catch {
          // already errored
        }
      }
    }
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.reject(error ?? new StreamError('the writer aborted the connection'))
    this.#check()
  }
}

/**
 * One end of a pair. `close()` is an orderly goodbye: the peer's readable
 * ends and its writable fails; an abort of our writable is a reset: both
 * ends' streams error (see the `Connection` contract).
 */
class Endpoint implements Connection {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
  readonly info = {}
  readonly closed: Promise<void>
  outgoing!: Pipe
  incoming!: Pipe
  peer!: Endpoint

  constructor(
    readonly remoteAddress: string,
    readonly direction: 'inbound' | 'outbound',
    outgoing: Pipe,
    incoming: Pipe,
  ) {
    this.outgoing = outgoing
    this.incoming = incoming
    this.readable = incoming.readable
    this.writable = outgoing.writable
    this.closed = Promise.all([outgoing.done, incoming.done]).then(() => {})
  }

  // An own property, not a method: wrappers written as `{ ...connection }` keep it.
  readonly close = (reason?: unknown): Promise<void> => {
    const local = new StreamError('connection closed locally', { address: this.remoteAddress, cause: reason })
    const gone = new StreamError('the peer closed the connection', { address: this.peer.remoteAddress })
    // Outgoing: the peer reads what is queued, then the end; our writable fails.
    this.outgoing.end(local)
    // Incoming: our readable fails, the peer's writable too.
    this.incoming.reset(local, gone)
    return this.closed
  }

  /** Our writable was aborted: a reset of both directions, seen by both ends. */
  reset(reason: unknown): void {
    const local = new StreamError('the writer aborted the connection', { address: this.remoteAddress, cause: reason })
    const remote = new StreamError('the peer aborted the connection', { address: this.peer.remoteAddress, cause: reason })
    // Our writable is erroring with the abort already: leave it to that.
    this.outgoing.reset(remote, undefined)
    this.incoming.reset(local, remote)
  }

  #released = false
  /** We cancelled our readable and finished writing: nothing is left, release as close() does. */
  maybeRelease(): void {
    if (this.#released || !this.incoming.cancelled || !this.outgoing.writerDone) return
    this.#released = true
    void this.close()
  }
}

/** Creates a connected pair of in-memory connections. */
export function memoryPair(options: { highWaterMark?: number; clientAddress?: string; serverAddress?: string } = {}): {
  client: Connection
  server: Connection
} {
  const hwm = options.highWaterMark ?? 64 * 1024
  let client!: Endpoint
  let server!: Endpoint
  const changed = () => {
    client.maybeRelease()
    server.maybeRelease()
  }
  const up = new Pipe(hwm, (reason) => client.reset(reason), changed)
  const down = new Pipe(hwm, (reason) => server.reset(reason), changed)
  client = new Endpoint(options.serverAddress ?? 'mem:server', 'outbound', up, down)
  server = new Endpoint(options.clientAddress ?? 'mem:client', 'inbound', down, up)
  client.peer = server
  server.peer = client
  return { client, server }
}

export function memory(options: MemoryTransportOptions = {}): Transport<{ id: string }> {
  const hub = options.hub ?? defaultHub
  const hwm = options.highWaterMark ?? 64 * 1024
  const scopes: CanonicalScope[] = options.scope === undefined ? ['device'] : ([] as CanonicalScope[]).concat(options.scope)

  return {
    name: 'mem',
    parse(segment: Segment) {
      if (segment.name !== 'mem' || segment.data.length !== 1 || !segment.data[0]) return null
      return { id: segment.data[0] }
    },
    stringify: ({ id }) => ({ name: 'mem', data: [id] }),
    async dial({ id }, { signal } = {}) {
      const address = `mem:${id}`
      throwIfAborted(signal, address)
      // A real transport's dial takes time; yield once so abort-during-dial is observable.
      await raceSignal(new Promise((resolve) => setTimeout(resolve, 0)), signal, undefined, address)
      const accept = hub.get(id)
      if (!accept) throw new DialError(`nothing listens on ${address}`, { address, code: 'ECONNREFUSED' })
      const clientId = `client-${++counter}`
      const { client, server } = memoryPair({ highWaterMark: hwm, clientAddress: `mem:${clientId}`, serverAddress: address })
      accept(server)
      return client
    },
    async listen(onConnection): Promise<TransportListener> {
      const id = options.id ?? `${Math.random().toString(36).slice(2, 8)}-${(++counter).toString(36)}`
      if (hub.has(id)) throw new ListenError(`mem:${id} is already in use`, { address: `mem:${id}`, code: 'EADDRINUSE' })
      hub.set(id, (server) => {
        onConnection(server)
        return server
      })
      let closed = false
      return {
        addresses: (scope) => (scopes.includes(scope) && !closed ? [{ name: 'mem', data: [id] }] : []),
        async close() {
          if (closed) return
          closed = true
          hub.delete(id)
        },
      }
    },
  }
}
