// Adapter for npm multiserver 3.8.2 (its net, ws and shs plugins, pull-streams),
// wrapping each duplex in the same Conn interface as impl-ours.mjs.
import { createRequire } from 'node:module'
import http from 'node:http'
import netModule from 'node:net'

const require = createRequire(import.meta.url)
const MultiServer = require('multiserver')
const Net = require('multiserver/plugins/net')
const Ws = require('multiserver/plugins/ws')
const Shs = require('multiserver/plugins/shs')

const HOST = '127.0.0.1'
const allow = (_id, cb) => cb(null, true)

function toBuffers(keys) {
  return { publicKey: Buffer.from(keys.publicKey), secretKey: Buffer.from(keys.secretKey) }
}

// The original net plugin cannot listen on port 0 (it replaces 0 with a
// random port and advertises that), so borrow a free port from the kernel
// and hand it over; a lost race shows up as EADDRINUSE and is retried.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = netModule.createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function plugsFor(suite, keys, appKey, listening) {
  let transport
  let httpServer
  if (suite.startsWith('ws')) {
    if (listening) {
      // The ws plugin accepts a ready http server and advertises its real port.
      httpServer = http.createServer()
      await new Promise((resolve, reject) => {
        httpServer.once('error', reject)
        httpServer.listen(0, HOST, resolve)
      })
      transport = Ws({ server: httpServer, host: HOST })
    } else transport = Ws({})
  } else {
    transport = Net(listening ? { host: HOST, port: await freePort() } : { host: HOST })
  }
  const plugs = suite.endsWith('~shs') ? [transport, Shs({ keys: toBuffers(keys), appKey: Buffer.from(appKey), auth: allow })] : [transport]
  return { plugs, httpServer }
}

export async function listen(suite, keys, appKey, onConn, onError) {
  for (let attempt = 1; ; attempt++) {
    const { plugs, httpServer } = await plugsFor(suite, keys, appKey, true)
    const ms = MultiServer([plugs])
    try {
      let close
      await new Promise((resolve, reject) => {
        // The ws plugin reports "started" synchronously, before ms.server returns.
        close = ms.server(
          (stream) => onConn(wrap(stream)),
          (error) => onError?.(error),
          (error) => (error ? reject(error) : resolve()),
        )
      })
      return {
        address: ms.stringify('device'),
        close: () =>
          new Promise((resolve) => {
            close(() => resolve())
            httpServer?.close()
          }),
      }
    } catch (error) {
      httpServer?.close()
      if (error?.code !== 'EADDRINUSE' || attempt >= 5) throw error
    }
  }
}

export async function dialer(suite, keys, appKey) {
  const { plugs } = await plugsFor(suite, keys, appKey, false)
  const ms = MultiServer([plugs])
  return (address) =>
    new Promise((resolve, reject) => {
      ms.client(address, (error, stream) => (error ? reject(error) : resolve(wrap(stream))))
    })
}

/**
 * A pull-stream source fed on demand: queued jobs (a run of bytes, one
 * buffer, the end) are handed out only when the sink asks, so backpressure
 * comes from the sink exactly as with any pull-stream source. A trampoline
 * keeps synchronous sinks from recursing.
 */
function feeder() {
  const jobs = []
  let pending
  let serving = false
  let finished = false

  function serve() {
    if (serving) return
    serving = true
    while (pending && jobs.length) {
      const job = jobs[0]
      const cb = pending
      if (job.kind === 'end') {
        pending = undefined
        finished = true
        jobs.shift()
        job.resolve()
        cb(true)
        continue
      }
      const piece = job.remaining >= job.chunk.length ? job.chunk : job.chunk.subarray(0, job.remaining)
      job.remaining -= piece.length
      if (job.remaining <= 0) {
        jobs.shift()
        job.resolve()
      }
      pending = undefined
      cb(null, piece)
    }
    serving = false
  }

  function source(abort, cb) {
    if (abort) {
      finished = true
      for (const job of jobs.splice(0)) job.resolve()
      return cb(abort)
    }
    if (finished) return cb(true)
    pending = cb
    serve()
  }

  function push(job) {
    return new Promise((resolve) => {
      if (finished) return resolve()
      jobs.push({ ...job, resolve })
      serve()
    })
  }

  return {
    source,
    bytes: (n, chunk) => (n > 0 ? push({ kind: 'bytes', remaining: n, chunk }) : Promise.resolve()),
    end: () => push({ kind: 'end' }),
  }
}

/** Reads from a pull-stream source until `onData` returns true or the source ends. */
function readLoop(source, onData) {
  return new Promise((resolve, reject) => {
    let looping = false
    let inCall = false
    const answer = (end, data) => {
      if (end) return end === true ? resolve(false) : reject(end)
      if (onData(data)) return resolve(true)
      if (inCall) looping = true
      else next()
    }
    function next() {
      do {
        looping = false
        inCall = true
        source(null, answer)
        inCall = false
      } while (looping)
    }
    next()
  })
}

function wrap(duplex) {
  const out = feeder()
  duplex.sink(out.source)
  let ended = false
  return {
    write: (bytes) => out.bytes(bytes.length, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    pump: (n, chunk) => out.bytes(n, chunk),
    async readAtLeast(n) {
      let got = 0
      const reached = await readLoop(duplex.source, (data) => (got += data.length) >= n)
      if (!reached) throw new Error(`stream ended after ${got} of ${n} bytes`)
      return got
    },
    async readToEnd() {
      await readLoop(duplex.source, () => false)
      ended = true
    },
    idle() {
      duplex.source(null, () => {})
    },
    endWrite: () => out.end(),
    async close() {
      // A pull duplex has no close of its own: end what is still open.
      if (!ended) duplex.source(true, () => {})
      await out.end()
    },
  }
}
