/**
 * Exit codes of every `ms` command (documented in the README):
 * 0 success; 1 the operation failed (could not connect, handshake failed,
 * the connection broke); 2 bad usage or input (flags, address syntax, key
 * file); 3 `ms connect`/`ms serve --stdio` only: the peer closed its side
 * before our input ended.
 */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, PEER_CLOSED: 3 } as const

/** An error meant for the user: its message is printed as is, then the process exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode: number = EXIT.FAILURE) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}
