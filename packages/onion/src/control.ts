import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { isMsError } from '@ms/core'
import { describeError, dialSocket } from '@ms/core/node'
import { TorControlError } from './errors.js'

/**
 * How to reach and authenticate to a Tor control port (torrc `ControlPort`
 * or `ControlSocket`). Without `password` and `cookie`, the methods Tor
 * announces in PROTOCOLINFO decide: no authentication if it allows that,
 * else the cookie file it names (readable by us only if we may read it).
 */
export interface TorControlOptions {
  /** TCP control port. */
  port?: number
  /** Host of the control port. Default `127.0.0.1`. */
  host?: string
  /** A unix socket (torrc `ControlSocket`) instead of `port`. */
  path?: string
  /** For `HashedControlPassword`. */
  password?: string
  /** For `CookieAuthentication`: the cookie file's path, or its 32 bytes. */
  cookie?: string | Uint8Array
}

/** One complete reply: its status and the text of every line, data blocks included. */
export interface ControlReply {
  status: number
  lines: string[]
}

const SAFECOOKIE_SERVER = 'Tor safe cookie authentication server-to-controller hash'
const SAFECOOKIE_CLIENT = 'Tor safe cookie authentication controller-to-server hash'

/**
 * A minimal client for Tor's control protocol (control-spec.txt): commands
 * are answered in order; `650` replies are asynchronous events. Enough for
 * authentication, ADD_ONION, DEL_ONION and HS_DESC events.
 */
export class TorControl {
  /** Called with each asynchronous event (the lines of a `650` reply). */
  onEvent: ((lines: string[]) => void) | undefined
  /** Called once when the connection ends, unless we ended it with `close()`. */
  onClose: ((error: TorControlError) => void) | undefined

  readonly #socket: Socket
  readonly #where: string
  readonly #pending: { resolve: (r: ControlReply) => void; reject: (e: Error) => void; command: string }[] = []
  #buffer = ''
  #current: ControlReply | undefined
  #data: string[] | undefined
  #closed: TorControlError | undefined
  #closing = false

  private constructor(socket: Socket, where: string) {
    this.#socket = socket
    this.#where = where
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => this.#receive(chunk))
    socket.on('error', (error) => this.#end(error))
    socket.on('close', () => this.#end())
  }

  /** Connects to the control port; aborting `signal` destroys the socket. */
  static async connect(options: TorControlOptions, signal?: AbortSignal): Promise<TorControl> {
    const where = controlName(options)
    const connect = options.path !== undefined ? { path: options.path } : { host: options.host ?? '127.0.0.1', port: options.port! }
    try {
      return new TorControl(await dialSocket({ connect, address: where, target: `the Tor control port at ${where}`, signal }), where)
    } catch (error) {
      if (!isMsError(error, 'DialError')) throw error
      throw new TorControlError(`cannot reach the Tor control port at ${where}: ${describeError(error.cause)}`, {
        code: 'TOR_CONTROL_UNREACHABLE',
        cause: error.cause,
      })
    }
  }

  /**
   * Sends one command line and resolves with its reply when the status is
   * 2xx; rejects with a `TorControlError` otherwise, or when the
   * connection ends first.
   */
  command(line: string): Promise<ControlReply> {
    if (/[\r\n]/.test(line)) return Promise.reject(new TypeError('a control command is one line'))
    if (this.#closed) return Promise.reject(this.#closed)
    return new Promise<ControlReply>((resolve, reject) => {
      this.#pending.push({ resolve, reject, command: line.split(' ')[0]! })
      this.#socket.write(`${line}\r\n`)
    })
  }

  /** Authenticates with a password, a cookie, or whatever PROTOCOLINFO allows. */
  async authenticate(options: TorControlOptions): Promise<void> {
    const info = await this.command('PROTOCOLINFO 1')
    const authLine = info.lines.find((l) => l.startsWith('AUTH '))
    const methods = new Set((/METHODS=(\S+)/.exec(authLine ?? '')?.[1] ?? '').split(','))
    const cookieFile = authLine ? quotedValue(authLine, 'COOKIEFILE') : undefined
    const fail = (message: string, cause?: unknown) =>
      new TorControlError(`Tor control port ${this.#where}: ${message}`, { code: 'TOR_AUTH', cause })

    if (options.password !== undefined) {
      await this.#auth(`AUTHENTICATE ${quote(options.password)}`, 'the password was refused')
      return
    }
    if (options.cookie === undefined && methods.has('NULL')) {
      await this.#auth('AUTHENTICATE', 'authentication without credentials was refused')
      return
    }
    const cookieSource = options.cookie ?? cookieFile
    if (cookieSource === undefined || !(methods.has('COOKIE') || methods.has('SAFECOOKIE'))) {
      throw fail(`cannot authenticate: Tor offers ${[...methods].join(', ') || 'no methods'}; pass \`password\` or \`cookie\``)
    }
    let cookie: Uint8Array
    try {
      cookie = typeof cookieSource === 'string' ? await readFile(cookieSource) : cookieSource
    } catch (error) {
      throw fail(`cannot read the cookie file ${cookieSource as string}: ${(error as Error).message}`, error)
    }
    if (methods.has('SAFECOOKIE')) {
      // SAFECOOKIE proves we know the cookie without sending it, and
      // proves Tor knows it too, so a fake control port learns nothing.
      const clientNonce = randomBytes(32)
      const challenge = await this.#auth(`AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString('hex')}`, 'AUTHCHALLENGE was refused')
      const line = challenge.lines.find((l) => l.startsWith('AUTHCHALLENGE ')) ?? ''
      const serverHash = Buffer.from(/SERVERHASH=([0-9A-Fa-f]{64})/.exec(line)?.[1] ?? '', 'hex')
      const serverNonce = Buffer.from(/SERVERNONCE=([0-9A-Fa-f]{64})/.exec(line)?.[1] ?? '', 'hex')
      if (serverHash.length !== 32 || serverNonce.length !== 32) throw fail(`malformed AUTHCHALLENGE reply: ${line}`)
      const material = Buffer.concat([cookie, clientNonce, serverNonce])
      const expected = createHmac('sha256', SAFECOOKIE_SERVER).update(material).digest()
      if (!timingSafeEqual(expected, serverHash)) throw fail('the control port does not know our cookie (wrong cookie file?)')
      const clientHash = createHmac('sha256', SAFECOOKIE_CLIENT).update(material).digest('hex')
      await this.#auth(`AUTHENTICATE ${clientHash}`, 'the cookie was refused')
      return
    }
    await this.#auth(`AUTHENTICATE ${Buffer.from(cookie).toString('hex')}`, 'the cookie was refused')
  }

  async #auth(line: string, what: string): Promise<ControlReply> {
    try {
      return await this.command(line)
    } catch (error) {
      if (error instanceof TorControlError && error.code !== 'TOR_CONTROL_CLOSED') {
        throw new TorControlError(`Tor control port ${this.#where}: ${what} (${error.message})`, {
          code: 'TOR_AUTH',
          status: error.status,
          cause: error,
        })
      }
      throw error
    }
  }

  /** Sends QUIT (best effort) and closes the connection. Idempotent. */
  close(): Promise<void> {
    this.#closing = true
    if (this.#socket.destroyed) return Promise.resolve()
    return new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve())
      if (!this.#closed && this.#socket.writable) this.#socket.end('QUIT\r\n')
      // QUIT makes Tor close its side; don't wait for it for long.
      const timer = setTimeout(() => this.#socket.destroy(), 1000)
      timer.unref()
      this.#socket.once('close', () => clearTimeout(timer))
    })
  }

  /** Destroys the connection at once. */
  destroy(): void {
    this.#closing = true
    this.#socket.destroy()
  }

  #receive(chunk: string): void {
    this.#buffer += chunk
    let newline: number
    while ((newline = this.#buffer.indexOf('\r\n')) !== -1) {
      const line = this.#buffer.slice(0, newline)
      this.#buffer = this.#buffer.slice(newline + 2)
      this.#line(line)
    }
    // A runaway reply without line ends is a protocol violation; bound it.
    if (this.#buffer.length > 1 << 20) this.#end(new Error('control reply line too long'))
  }

  #line(line: string): void {
    if (this.#data) {
      if (line === '.') {
        this.#current!.lines.push(this.#data.join('\n'))
        this.#data = undefined
      } else this.#data.push(line.startsWith('..') ? line.slice(1) : line)
      return
    }
    const m = /^(\d{3})([ +-])(.*)$/.exec(line)
    if (!m) return this.#end(new Error(`malformed control reply line ${JSON.stringify(line)}`))
    const status = Number(m[1])
    this.#current ??= { status, lines: [] }
    if (m[2] === '+') {
      this.#data = [m[3]!]
      return
    }
    this.#current.lines.push(m[3]!)
    if (m[2] !== ' ') return
    const reply = this.#current
    this.#current = undefined
    if (reply.status === 650) return this.onEvent?.(reply.lines)
    const waiter = this.#pending.shift()
    if (!waiter) return
    if (reply.status >= 200 && reply.status < 300) waiter.resolve(reply)
    else {
      const text = reply.lines.join('; ')
      const code = /collision/i.test(text) ? 'TOR_COLLISION' : reply.status === 515 || reply.status === 514 ? 'TOR_AUTH' : `TOR_${reply.status}`
      waiter.reject(new TorControlError(`Tor refused ${waiter.command}: ${reply.status} ${text}`, { code, status: reply.status }))
    }
  }

  #end(cause?: Error): void {
    if (this.#closed) return
    const message = cause ? `the Tor control connection to ${this.#where} failed: ${cause.message}` : `the Tor control connection to ${this.#where} closed`
    this.#closed = new TorControlError(message, { code: 'TOR_CONTROL_CLOSED', cause })
    this.#socket.destroy()
    for (const waiter of this.#pending.splice(0)) waiter.reject(this.#closed)
    if (!this.#closing) this.onClose?.(this.#closed)
  }
}

/** `host:port` or the socket path of a control port, for messages. */
export function controlName(options: TorControlOptions): string {
  return options.path ?? `${options.host ?? '127.0.0.1'}:${options.port}`
}

/** A control-protocol QuotedString. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\r/g, '\\r').replace(/\n/g, '\\n')}"`
}

/** The unquoted value of `KEY="..."` in a reply line. */
export function quotedValue(line: string, key: string): string | undefined {
  const m = new RegExp(`${key}="((?:[^"\\\\]|\\\\.)*)"`).exec(line)
  return m ? m[1]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c)) : undefined
}
