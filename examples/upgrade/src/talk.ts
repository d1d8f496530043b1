// Protocol-neutral pieces of the example: the line-based answering service
// and the client's ask. Nothing here imports a transform.
import { utf8, type Connection, type MultiServer } from '@ms/core'

/** Replies `<generation>: <message>` to each line, so the caller sees which suite answered. */
export function answer(generation: string) {
  return async (connection: Connection) => {
    try {
      let message = ''
      const reader = connection.readable.getReader()
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        message += utf8.decode(r.value)
        let newline: number
        while ((newline = message.indexOf('\n')) >= 0) {
          const line = message.slice(0, newline)
          message = message.slice(newline + 1)
          const writer = connection.writable.getWriter()
          await writer.write(utf8.encode(`${generation}: ${line}\n`))
          writer.releaseLock()
        }
      }
      await connection.writable.close()
    } catch {
      await connection.close()
    }
  }
}

/** Sends one line over `connection` and reads one line back. */
export async function ask(connection: Connection, line: string): Promise<string> {
  const writer = connection.writable.getWriter()
  await writer.write(utf8.encode(line + '\n'))
  writer.releaseLock()
  const reader = connection.readable.getReader()
  let text = ''
  try {
    while (!text.includes('\n')) {
      const r = await reader.read()
      if (r.done) break
      text += utf8.decode(r.value)
    }
  } finally {
    reader.releaseLock()
  }
  return text.trimEnd()
}

/** Connects, asks once, closes; also says whose key the transform authenticated. */
export async function askOnce(client: MultiServer, address: string, line: string): Promise<string> {
  const connection = await client.connect(address, { timeout: 10_000 })
  try {
    return await ask(connection, line)
  } finally {
    await connection.close()
  }
}
