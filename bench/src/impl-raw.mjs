// The machine's limit for plain TCP and unix sockets: bare Node net.Socket,
// no streams adapter, no framing. The same Conn interface as the other adapters.
import net from 'node:net'
import { pumpSocket } from './socket-pump.mjs'
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
  // Incoming bytes are counted as they come; readers wait for a threshold.
  let received = 0
  let consumed = 0
  let ended = false
  let failure
  let waiter
  const check = () => {
    if (!waiter) return
    if (failure) return waiter.reject(failure)
    if (received >= waiter.n || ended) {
      const w = waiter
      waiter = undefined
      w.resolve()
    }
  }
  socket.on('data', (chunk) => {
    received += chunk.length
    check()
  })
  socket.on('end', () => {
    ended = true
    check()
  })
  socket.on('error', (error) => {
    failure = error
    check()
  })
  const until = (n) =>
    new Promise((resolve, reject) => {
      waiter = { n, resolve, reject }
      check()
    })

  return {
    write: (bytes) => new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
    pump: (n, chunk) => pumpSocket(socket, n, chunk),
    async readAtLeast(n) {
      const target = consumed + n
      await until(target)
      if (received < target) throw new Error(`stream ended after ${received} bytes`)
      const got = received - consumed
      consumed = received
      return got
    },
    async readToEnd() {
      await until(Infinity)
      consumed = received
    },
    idle() {},
    endWrite: () => new Promise((resolve) => socket.end(resolve)),
    close() {
      socket.destroy()
      return Promise.resolve()
    },
  }
}
