// The machine's limit for plain TCP and unix sockets: bare Node net.Socket,
// no streams adapter, no framing. The same Conn interface as the other adapters.
import net from 'node:net'
import { pumpSocket, receivedCounter } from './socket-pump.mjs'
import { socketPath } from './socket-path.mjs'

const HOST = '127.0.0.1'

function checkSuite(suite) {
  if (suite !== 'net' && suite !== 'unix') throw new Error(`raw sockets only measure plain net and unix, not ${suite}`)
}

export async function listen(suite, _keys, _appKey, onConn, onError) {
  checkSuite(suite)
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => onConn(wrap(socket)))
  server.on('error', (error) => onError?.(error))
  const file = suite === 'unix' ? socketPath('ms-bench-raw-') : undefined
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    if (file) server.listen(file, resolve)
    else server.listen(0, HOST, resolve)
  })
  const address = file ? `unix:${file}` : `net:${HOST}:${server.address().port}`
  return { address, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

export async function dialer(suite) {
  checkSuite(suite)
  return (address) =>
    new Promise((resolve, reject) => {
      const [name, ...rest] = address.split(':')
      const socket =
        name === 'unix'
          ? net.connect({ path: rest.join(':'), allowHalfOpen: true })
          : net.connect({ host: rest[0], port: Number(rest[1]), allowHalfOpen: true, noDelay: true })
      socket.once('error', reject)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(wrap(socket))
      })
    })
}

function wrap(socket) {
  const counter = receivedCounter()
  socket.on('data', (chunk) => counter.add(chunk.length))
  socket.on('end', () => counter.end())
  socket.on('error', (error) => counter.fail(error))

  return {
    write: (bytes) => new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
    pump: (n, chunk) => pumpSocket(socket, n, chunk),
    readAtLeast: (n) => counter.readAtLeast(n),
    readToEnd: () => counter.readToEnd(),
    idle() {},
    endWrite: () => new Promise((resolve) => socket.end(resolve)),
    close() {
      socket.destroy()
      return Promise.resolve()
    },
  }
}
