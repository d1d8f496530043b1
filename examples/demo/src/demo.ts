// The first thing a newcomer runs: one MultiServer, a client per suite,
// a message each way, round-trip times. (Grows as protocol packages land.)
import { createMultiServer, memory, utf8, type Connection } from '@ms/core'

async function echo(connection: Connection) {
  await connection.readable.pipeTo(connection.writable).catch(() => connection.close())
}

const server = createMultiServer([[memory()]])
const listener = await server.listen((c) => void echo(c))
const address = server.stringify('device')
console.log(`server listening at ${address}`)

const client = createMultiServer([[memory()]])
for (const alternative of address.split(';')) {
  const started = performance.now()
  const connection = await client.connect(alternative)
  const writer = connection.writable.getWriter()
  await writer.write(utf8.encode('hello'))
  await writer.close()
  const reader = connection.readable.getReader()
  let reply = ''
  for (let r = await reader.read(); !r.done; r = await reader.read()) reply += utf8.decode(r.value)
  console.log(`${alternative}: sent "hello", got "${reply}" back in ${(performance.now() - started).toFixed(1)} ms`)
}
await listener.close()
console.log('done')
