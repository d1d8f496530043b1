import type { LegacyStream, PullDuplex } from '../pull.js'

/** A callback as the original plugins take them. */
export type Callback<T = unknown> = (error?: Error | null, value?: T) => void

/** `close(cb?)` as the original's servers return it. */
export type CloseServer = (cb?: (error?: Error | null) => void) => void

/** A stream as the original plugins pass it: a pull-stream duplex with `address` (and `remote`, `auth`, `meta`). */
export type OriginalStream = PullDuplex<unknown, unknown> & { address?: string; remote?: Uint8Array; auth?: unknown; meta?: unknown } & Partial<LegacyStream>

/** An original-style transport plugin (`require('multiserver/plugins/net')(opts)`). */
export interface OriginalTransport {
  name: string
  scope(): unknown
  /** `(onConnect, startedCb)`; a composed plugin takes `(onConnect, onError, startedCb)`. */
  server(onConnect: (stream: OriginalStream) => void, ...rest: never[]): CloseServer | undefined | void
  client(options: unknown, cb: Callback<OriginalStream>): unknown
  parse(text: string): unknown
  stringify(scope?: string): string | null | undefined
}

/** An original-style transform plugin (`require('multiserver/plugins/shs')(opts)`). */
export interface OriginalTransform {
  name: string
  /** With options (from `parse`): the client side. Without: the server side. */
  create(options?: unknown): (stream: OriginalStream, cb: Callback<OriginalStream>) => void
  parse(text: string): unknown
  stringify(scope?: string): string | null | undefined
}

/** What `compose([transport, ...transforms])` returns. */
export interface ComposedPlugin {
  name: string
  scope(): unknown
  client(address: unknown, cb: Callback<OriginalStream>): unknown
  server(onConnect: (stream: OriginalStream) => void, onError?: ((error: Error & { address?: string }) => void) | null, startedCb?: Callback): CloseServer
  parse(text: string): unknown[] | null
  stringify(scope?: string): string | undefined
}
