import type { Segment } from './address.js'
import { DialError, ListenError, StreamError } from './errors.js'
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

/** One direction of a connection: bytes written on one end come out of the other. */
function pipe(highWaterMark: number) {
  let controller!: TransformStreamDefaultController<Uint8Array>
  const size = (chunk: Uint8Array) => chunk.byteLength
  let ended!: () => void
  const done = new Promise<void>((resolve) => (ended = resolve))
  const stream = new TransformStream<Uint8Array, Uint8Array>(
    {
      start: (c) => void (controller = c),
      transform(chunk, c) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError('write Uint8Array chunks only')
        // Copy: the writer may reuse its buffer once the write resolves.
        if (chunk.byteLength > 0) c.enqueue(chunk.slice())
      },
      flush: () => ended(),
    },
    { highWaterMark, size },
    { highWaterMark, size },
  )
  const reset = (reason: unknown) => {
    try {
      controller.error(reason)
    } catch {
      // already closed or errored
    }
    ended()
  }
  return {
    readable: stream.readable,
    writable: abortable(stream.writable, reset, { highWaterMark, size }),
    done,
    /** Errors both ends regardless of locks: a reset. */
    reset,
  }
}

/**
 * The TransformStream's writable, wrapped so that `abort()` settles even
 * while a write waits for a reader that never comes: WHATWG abort waits for
 * the write in flight, and a TransformStream's write waits for its readable
 * to be read, so on its own an abort would hang. Aborting resets the pipe
 * (the reader gets a StreamError), which releases the waiting write.
 */
function abortable(inner: WritableStream<Uint8Array>, reset: (reason: unknown) => void, strategy: QueuingStrategy<Uint8Array>): WritableStream<Uint8Array> {
  const writer = inner.getWriter()
  const abortedBy = (reason: unknown) => new StreamError('the writer aborted the connection', { cause: reason })
  return new WritableStream<Uint8Array>(
    {
      write: (chunk, controller) => writeOrAbort(writer.write(chunk), controller, (reason) => reset(abortedBy(reason))),
      close: () => writer.close(),
      abort(reason) {
        reset(abortedBy(reason))
      },
    },
    // Byte-counted like the pipe, so that `ready` stays resolved while the
    // pipe keeps up instead of flipping after every write.
    strategy,
  )
}

function endpoint(
  outgoing: ReturnType<typeof pipe>,
  incoming: ReturnType<typeof pipe>,
  remoteAddress: string,
  direction: 'inbound' | 'outbound',
  peer: () => Connection,
): Connection & { resetFromPeer(): void } {
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve))
  void Promise.all([outgoing.done, incoming.done]).then(() => resolveClosed())
  let isClosed = false
  const teardown = (reason: unknown) => {
    if (isClosed) return
    isClosed = true
    const error = new StreamError('connection reset', { address: remoteAddress, cause: reason })
    outgoing.reset(error)
    incoming.reset(error)
    resolveClosed()
  }
  return {
    readable: incoming.readable,
    writable: outgoing.writable,
    remoteAddress,
    direction,
    info: {},
    closed,
    close(reason?: unknown) {
      teardown(reason)
      ;(peer() as Connection & { resetFromPeer?: () => void }).resetFromPeer?.()
      return closed
    },
    resetFromPeer() {
      teardown(new Error('peer closed the connection'))
    },
  }
}

/** Creates a connected pair of in-memory connections. */
export function memoryPair(options: { highWaterMark?: number; clientAddress?: string; serverAddress?: string } = {}) {
  const hwm = options.highWaterMark ?? 64 * 1024
  const up = pipe(hwm)
  const down = pipe(hwm)
  const client: Connection = endpoint(up, down, options.serverAddress ?? 'mem:server', 'outbound', () => server)
  const server: Connection = endpoint(down, up, options.clientAddress ?? 'mem:client', 'inbound', () => client)
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
