/** What the ws transport tells about a connection, as `connection.info.ws`. */
export interface WsInfo {
  /** The path (and query) of the WebSocket request. */
  path: string
  /** True over TLS (`wss`). */
  secure: boolean
  /**
   * Inbound only: the `Origin` header as the client sent it. Browsers set
   * it truthfully; any other client can write anything there, so it is a
   * hint for logging and same-origin checks, never an identity.
   */
  origin?: string
  /** Inbound only: true when `remoteAddress` came from a trusted proxy's forwarding header. */
  forwarded?: boolean
}

declare module '@ms/core' {
  interface ConnectionInfo {
    ws?: WsInfo
  }
}

export {}
