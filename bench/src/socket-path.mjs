// A fresh unix socket path for one listener, in its own private directory.
// Bench workers end with process.exit (listeners are never closed), so the
// directory is removed when the process exits.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** `<tmpdir>/<prefix>XXXXXX/socket`; the directory goes when this process exits. */
export function socketPath(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'socket')
}
