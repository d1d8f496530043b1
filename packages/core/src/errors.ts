/**
 * Marks every MsError. `Symbol.for` gives the same symbol to every copy of
 * @ms/core loaded in one process (two versions under different plugins, a
 * bundle and node_modules), where `instanceof` fails: the classes differ.
 */
const BRAND = Symbol.for('@ms/core.MsError')

/**
 * Every error the library throws or reports is an `MsError` subclass with a
 * stable `name` and, where one is concerned, the `address` it is about.
 * Users branch on `err.name`, `isMsError(err, 'DialError')` or
 * `DialError.is(err)`; these work across copies of @ms/core, `instanceof`
 * does not. Messages are for people.
 */
export class MsError extends Error {
  /** The address (or address fragment) this error concerns, if any. */
  readonly address: string | undefined

  /**
   * Whether `value` is an error of this class or a subclass, from any copy
   * of @ms/core: `DialError.is(err)`. Matches by the pinned class names
   * (`nameError`) along the prototype chain, so a subclass defined in
   * another package (e.g. `SocksReplyError extends DialError`) is a
   * `DialError` too.
   */
  static is<T extends MsError>(this: abstract new (...args: never[]) => T, value: unknown): value is T {
    return value instanceof this || isMsError(value, classErrorName(this))
  }

  constructor(message: string, options: { address?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    // Minifiers rename classes, so `new.target.name` alone is not stable in
    // browser bundles: prefer a name pinned on the prototype (see nameError).
    const proto = new.target.prototype as { name?: unknown }
    this.name = Object.prototype.hasOwnProperty.call(proto, 'name') && typeof proto.name === 'string' ? proto.name : new.target.name
    this.address = options.address
  }
}

/** A multiserver address (or one transport's segment) does not parse. */
export class AddressError extends MsError {
  /** Zero-based character offset where parsing failed, when known. */
  readonly position: number | undefined
  constructor(message: string, options: { address?: string; position?: number; cause?: unknown } = {}) {
    super(message, options)
    this.position = options.position
  }
}

/** No suite of this MultiServer understands any alternative of the address. */
export class NoTransportError extends MsError {
  /** The suite names (e.g. `net~shs`) this MultiServer knows. */
  readonly suites: string[]
  constructor(address: string, suites: string[]) {
    super(
      `no suite understands ${quoteInput(address)}; this MultiServer knows: ${suites.join(', ') || '(none)'}`,
      { address },
    )
    this.suites = suites
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends MsError {
  constructor(message = 'the operation was aborted', options: { address?: string; cause?: unknown } = {}) {
    super(message, options)
  }
}

/** The operation took longer than its timeout. */
export class TimeoutError extends MsError {
  readonly timeout: number
  constructor(timeout: number, options: { address?: string; what?: string; cause?: unknown } = {}) {
    super(`${options.what ?? 'operation'} timed out after ${timeout} ms`, options)
    this.timeout = timeout
  }
}

/** A dial failed at the transport level (refused, unreachable, DNS, ...). */
export class DialError extends MsError {
  /** A short machine-readable reason, e.g. `ECONNREFUSED`, `ENOTFOUND`. */
  readonly code: string | undefined
  constructor(message: string, options: { address?: string; code?: string; cause?: unknown } = {}) {
    super(message, options)
    this.code = options.code
  }
}

/** Starting a listener failed (port in use, address not available, bad host). */
export class ListenError extends MsError {
  readonly code: string | undefined
  constructor(message: string, options: { address?: string; code?: string; cause?: unknown } = {}) {
    super(message, options)
    this.code = options.code
  }
}

/** A transform (encryption, authentication) failed to upgrade a connection. */
export class HandshakeError extends MsError {
  /** Which step failed, e.g. `msg1`, `authorize`; transform-specific. */
  readonly stage: string | undefined
  constructor(message: string, options: { address?: string; stage?: string; cause?: unknown } = {}) {
    super(message, options)
    this.stage = options.stage
  }
}

/**
 * An established connection broke: reset, corrupted, truncated, or its
 * framing was violated. `code` is the errno code (e.g. `ECONNRESET`) when
 * the cause was a socket error.
 */
export class StreamError extends MsError {
  readonly code: string | undefined
  constructor(message: string, options: { address?: string; code?: string; cause?: unknown } = {}) {
    super(message, options)
    this.code = options.code
  }
}

/**
 * `JSON.stringify(text)` for an error message, cut to its first `max`
 * characters (then `…` and the length) when longer: input may be hostile,
 * and a message must not repeat a megabyte of it.
 */
export function quoteInput(text: string, max = 80): string {
  if (text.length <= max) return JSON.stringify(text)
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`
}

/** Every alternative of an address failed; `errors` holds each cause in order. */
export class ConnectError extends MsError {
  readonly errors: { address: string; error: unknown }[]
  constructor(address: string, errors: { address: string; error: unknown }[]) {
    const lines = errors.map((e) => `  ${e.address}: ${describe(e.error)}`)
    super(`could not connect to any alternative:\n${lines.join('\n')}`, { address })
    this.errors = errors
  }
}

/** A limit (connections, handshakes in progress, frame size) was exceeded. */
export class LimitError extends MsError {}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}

/** The classes of @ms/core by their `name`, for `isMsError(value, name)`. */
export interface MsErrorsByName {
  MsError: MsError
  AddressError: AddressError
  NoTransportError: NoTransportError
  AbortError: AbortError
  TimeoutError: TimeoutError
  DialError: DialError
  ListenError: ListenError
  HandshakeError: HandshakeError
  StreamError: StreamError
  ConnectError: ConnectError
  LimitError: LimitError
}

/**
 * Whether `value` is an MsError (from any copy of @ms/core) and, given a
 * name, of that class or a subclass of it: `isMsError(err, 'AbortError')`.
 * Use it instead of `instanceof`, which fails when an app ends up with two
 * copies of core (e.g. a plugin that pins an older one).
 */
export function isMsError<N extends keyof MsErrorsByName>(value: unknown, name: N): value is MsErrorsByName[N]
export function isMsError(value: unknown, name?: string): value is MsError
export function isMsError(value: unknown, name?: string): value is MsError {
  if (value === null || typeof value !== 'object' || (value as { [BRAND]?: unknown })[BRAND] !== true) return false
  if (name === undefined || name === 'MsError') return true
  for (let proto: unknown = Object.getPrototypeOf(value); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const own = Object.getOwnPropertyDescriptor(proto, 'name')
    if (own !== undefined && own.value === name) return true
  }
  return false
}

/** The name `nameError` pinned on a class (minifier-proof), else its own name. */
function classErrorName(errorClass: abstract new (...args: never[]) => unknown): string {
  const own = Object.getOwnPropertyDescriptor(errorClass.prototype, 'name')
  return typeof own?.value === 'string' ? own.value : errorClass.name
}

/** Turns a signal's abort reason into our AbortError (or TimeoutError). */
export function abortReason(signal: AbortSignal, address?: string): Error {
  const reason: unknown = signal.reason
  if (isMsError(reason)) return reason
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new TimeoutError(0, { address, cause: reason })
  }
  return new AbortError(undefined, { address, cause: reason })
}

/**
 * Pins an error class's `name` so that it survives minification. Every
 * MsError subclass, including those in other packages, should call it once:
 * `nameError(ProxyUnreachableError, 'ProxyUnreachableError')`.
 */
export function nameError(errorClass: { prototype: Error }, name: string): void {
  Object.defineProperty(errorClass.prototype, 'name', { value: name, writable: true, configurable: true, enumerable: false })
}

Object.defineProperty(MsError.prototype, BRAND, { value: true, writable: false, configurable: false, enumerable: false })
nameError(MsError, 'MsError')
nameError(AddressError, 'AddressError')
nameError(NoTransportError, 'NoTransportError')
nameError(AbortError, 'AbortError')
nameError(TimeoutError, 'TimeoutError')
nameError(DialError, 'DialError')
nameError(ListenError, 'ListenError')
nameError(HandshakeError, 'HandshakeError')
nameError(StreamError, 'StreamError')
nameError(ConnectError, 'ConnectError')
nameError(LimitError, 'LimitError')
