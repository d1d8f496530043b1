import { createServer, type Server, type Socket } from 'node:net'
import { chmod, link, lstat, mkdtemp, rm, stat, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve as resolvePath } from 'node:path'
import {
  isMsError,
  ListenError,
  throwIfAborted,
  canonicalScope,
  escapeData,
  stringifySegment,
  type CanonicalScope,
  type Connection,
  type DialOptions,
  type ListenOptions,
  type Segment,
  type Transport,
  type TransportListener,
} from '@ms/core'
import { checkSocketOptions, connectionLimit, describeError, dialSocket, errorCode, fromNodeSocket, listenServer, reportAcceptErrors } from '@ms/core/node'

export interface UnixOptions {
  /**
   * The socket file to listen on. Default: `socket` inside a fresh private
   * directory `<os.tmpdir()>/ms-unix-XXXXXX/`, created on listen and removed
   * on close, so every listener gets its own path.
   */
  path?: string
  /** Milliseconds a dial may take before it fails with `TimeoutError`. Default: none. */
  connectTimeout?: number
  /** Maximum open inbound connections; excess ones are closed at once and reported as `LimitError`. */
  maxConnections?: number
}

/** What `parse` returns and `dial` takes. */
export interface UnixAddress {
  path: string
}

/** Parses a `unix` segment. Colons in the path are data separators in the grammar, so the parts are joined back. */
export function parseUnixSegment(segment: Segment): UnixAddress | null {
  if (segment?.name !== 'unix' || !Array.isArray(segment.data) || segment.data.length === 0) return null
  const path = segment.data.join(':')
  if (path === '' || path.includes('\0')) return null
  return { path }
}

/**
 * Writes a `unix` segment. Colons stay raw (`unix:/a:b`), as the original
 * `multiserver` writes them; other special characters are escaped by the
 * address grammar.
 */
export function unixSegment(path: string): Segment {
  return { name: 'unix', data: path.split(':') }
}

/**
 * `unix:<path>` as an address (what `remoteAddress` and errors carry):
 * escaped by the grammar, so `;`, `~` and `!` in a path survive a parse.
 * Characters the grammar cannot carry at all (spaces, non-ASCII) leave the
 * path as it is: such a path cannot be advertised, but errors still name it.
 */
function unixAddress(path: string): string {
  try {
    return stringifySegment(unixSegment(path))
  } catch {
    return `unix:${path}`
  }
}

/** The outcome of connecting to an existing socket file. */
function probe(path: string, signal: AbortSignal | undefined): Promise<'live' | 'stale'> {
  return dialSocket({ connect: { path }, address: unixAddress(path), signal }).then(
    (socket) => {
      socket.destroy()
      return 'live'
    },
    (error: unknown) => {
      if (!isMsError(error, 'DialError')) throw error
      // ECONNREFUSED: a socket file nobody listens on, the sign of a dead
      // process. Anything else (permissions, not a socket) we must not touch.
      return error.code === 'ECONNREFUSED' ? 'stale' : 'live'
    },
  )
}

/**
 * The unix-socket transport. Only ever advertised in the `device` scope;
 * the socket file is created with mode 0600.
 */
export function unix(options: UnixOptions = {}): Transport<UnixAddress> {
  const { connectTimeout, maxConnections } = options
  checkSocketOptions('unix', { connectTimeout, maxConnections })
  if (options.path !== undefined) {
    if (typeof options.path !== 'string' || options.path === '') throw new TypeError('unix: path must be a non-empty string')
    // Fail now rather than when the address is first written.
    for (const part of options.path.split(':')) escapeData(part)
  }

  async function dial({ path }: UnixAddress, { signal }: DialOptions = {}): Promise<Connection> {
    const address = unixAddress(path)
    const socket = await dialSocket({ connect: { path, allowHalfOpen: true }, address, signal, timeout: connectTimeout })
    return fromNodeSocket(socket, { remoteAddress: address, direction: 'outbound' })
  }

  async function listen(onConnection: (connection: Connection) => void, { signal, onError }: ListenOptions = {}): Promise<TransportListener> {
    throwIfAborted(signal, `unix:${options.path ?? join(tmpdir(), 'ms-unix-*')}`)
    // Our own private directory when no path was given; removed on close.
    let ownDir: string | undefined
    if (options.path === undefined) {
      try {
        ownDir = await mkdtemp(join(tmpdir(), 'ms-unix-'))
      } catch (error) {
        const where = join(tmpdir(), 'ms-unix-*')
        throw new ListenError(`could not create a directory for the socket (${where}): ${describeError(error)}`, { address: `unix:${where}`, code: errorCode(error), cause: error })
      }
    }
    const path = ownDir !== undefined ? join(ownDir, 'socket') : resolvePath(options.path!)
    const address = unixAddress(path)
    const listenError = (message: string, code: string | undefined, cause?: unknown) =>
      new ListenError(`could not listen on ${address}: ${message}`, { address, code, cause })

    const admit = connectionLimit(maxConnections, onError)
    const server: Server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
      if (!admit(socket, address)) return
      // A unix peer has no address of its own; it reached us at ours.
      onConnection(fromNodeSocket(socket, { remoteAddress: address, direction: 'inbound' }))
    })

    // Race-free mode 0600: bind inside a fresh directory that mkdtemp creates
    // with mode 0700 (so nobody else can reach the socket while we chmod it),
    // then hard-link the finished socket to its public path. link() never
    // replaces an existing file, so a live socket someone else owns is never
    // clobbered, and no one can ever connect to a world-accessible socket.
    // umask is not an option: it is process-wide, shared with concurrent
    // async work, and not settable in worker threads. The staging directory
    // sits next to the target so link() stays on one filesystem.
    let staging: string | undefined
    let ino: number | undefined
    // Every step checks the signal: an abort during the bind, the chmod,
    // the link or the probe of a stale socket ends the listen at once.
    const step = async <T>(promise: Promise<T>): Promise<T> => {
      const value = await promise
      throwIfAborted(signal, address)
      return value
    }
    try {
      throwIfAborted(signal, address)
      // A short name: socket paths are limited to about 107 bytes.
      staging = await mkdtemp(join(dirname(path), '.ms-')).catch((error: unknown) => {
        throw listenError(`cannot create a directory next to the socket: ${describeError(error)}`, errorCode(error), error)
      })
      throwIfAborted(signal, address)
      const temp = join(staging, 's')
      await listenServer(server, { listen: { path: temp }, address, signal })
      await step(chmod(temp, 0o600))
      const publish = () => link(temp, path)
      try {
        await publish()
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw listenError(describeError(error), errorCode(error), error)
        const existing = await step(lstat(path))
        if (!existing.isSocket()) throw listenError('a file that is not a socket is in the way', 'EADDRINUSE')
        if ((await step(probe(path, signal))) === 'live') throw listenError('a live socket is there (another process listens, or we may not probe it)', 'EADDRINUSE')
        // Stale: left by a dead process. Replace it; if someone else won the
        // race to replace it first, link() fails again and so do we.
        await unlink(path).catch(() => {})
        await publish().catch((again: unknown) => {
          throw listenError(describeError(again), errorCode(again) === 'EEXIST' ? 'EADDRINUSE' : errorCode(again), again)
        })
      }
      ino = (await stat(path)).ino
      throwIfAborted(signal, address)
    } catch (error) {
      server.close()
      if (ino !== undefined) await unlink(path).catch(() => {})
      if (ownDir) await rm(ownDir, { recursive: true, force: true })
      throw error
    } finally {
      if (staging) await rm(staging, { recursive: true, force: true })
    }

    reportAcceptErrors(server, address, onError)

    let closed = false
    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= (async () => {
        closed = true
        signal?.removeEventListener('abort', onSignal)
        // Stops accepting at once; the callback would wait for accepted
        // sockets, which belong to the MultiServer.
        server.close()
        // Remove the file only if it is still ours: another process may have
        // replaced it after deciding ours was stale.
        const now = await stat(path).catch(() => undefined)
        if (now?.ino === ino) await unlink(path).catch(() => {})
        if (ownDir) await rm(ownDir, { recursive: true, force: true })
      })()
      return closing
    }
    const onSignal = () => void close()
    signal?.addEventListener('abort', onSignal, { once: true })

    return {
      addresses(scope: CanonicalScope): Segment[] {
        // The path never leaves this machine.
        return !closed && canonicalScope(scope) === 'device' ? [unixSegment(path)] : []
      },
      close,
    }
  }

  return {
    name: 'unix',
    parse: parseUnixSegment,
    stringify: ({ path }) => unixSegment(path),
    dial,
    listen,
    // A given path is known before listening; the default one is made at listen.
    configuredAddresses: (scope: CanonicalScope) =>
      options.path !== undefined && canonicalScope(scope) === 'device' ? [unixSegment(resolvePath(options.path))] : [],
  }
}

export default unix
