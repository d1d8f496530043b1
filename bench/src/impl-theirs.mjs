// Adapter for npm multiserver 3.8.2 (its net, unix-socket, ws and shs plugins, pull-streams),
// wrapping each duplex in the same Conn interface as impl-ours.mjs.
import { createRequire } from 'node:module'
import http from 'node:http'
import netModule from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { wrapPullDuplex as wrap } from './pull-conn.mjs'
import { socketPath } from './socket-path.mjs'

const require = createRequire(import.meta.url)
const MultiServer = require('multiserver')
const Net = require('multiserver/plugins/net')
const Ws = require('multiserver/plugins/ws')
const Shs = require('multiserver/plugins/shs')
const Unix = require('multiserver/plugins/unix-socket')

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
  } else if (suite.startsWith('unix')) {
    // The plugin listens on `socket` inside `path` (a fresh directory of its
    // own in tmpdir when none is given, even for a client, which dials the
    // path of the address instead: give it one). It listens once per process
    // at most, which is all a bench worker needs.
    transport = Unix({ path: listening ? path.dirname(socketPath('ms-bench-theirs-')) : tmpdir() })
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
