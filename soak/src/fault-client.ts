/**
 * A client for the fault tests, run inside its own network namespace. Takes
 * commands over IPC:
 *   { cmd: 'transfer', id, address, size, deadline }  one transfer, bounded by `deadline` ms
 *   { cmd: 'idle', id, address }                      connect, then sit idle until the connection dies
 *   { cmd: 'close', id }                              close an idle connection
 * and answers each with { type: 'result', id, ok, ms, error? } (plus
 * { type: 'connected', id } for idle ones).
 */
import { TimeoutError, createMultiServer, isMsError, type Connection } from '@ms/core'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import { ws } from '@ms/ws'
import { runTransfer } from './protocol.js'
import { randomKeyPair } from './raw.js'
import { keyPairFromSeed } from './shared.js'

const config = JSON.parse(process.env.SOAK_CONFIG ?? '{}') as { appKey: string; handshakeTimeout: number; maxSize: number; idleSeed: string }
const send = (m: unknown) => process.send?.(m)
const appKey = Buffer.from(config.appKey, 'base64')
const transform = (keys = randomKeyPair()) => shs({ keys, appKey, timeout: config.handshakeTimeout })
const ms = createMultiServer([
  [net({ connectTimeout: 5000, keepAlive: 2000 }), transform()],
  [ws({ keepAlive: 2000 }), transform()],
])
// Idle peers authenticate with a key the server knows, so it leaves them idle instead of starting a transfer.
const idleKeys = keyPairFromSeed(config.idleSeed)
const msIdle = createMultiServer([
  [net({ connectTimeout: 5000, keepAlive: 2000 }), transform(idleKeys)],
  [ws({ keepAlive: 2000 }), transform(idleKeys)],
])

const describe = (error: unknown) => ({
  typed: isMsError(error),
  name: (error as Error)?.name,
  code: (error as { code?: string }).code,
  stage: (error as { stage?: string }).stage,
  message: String((error as Error)?.message ?? error),
  cause: (error as { cause?: Error }).cause?.name,
})

const idle = new Map<number, Connection>()

type Command = { cmd: 'transfer'; id: number; address: string; size: number; deadline: number } | { cmd: 'idle'; id: number; address: string } | { cmd: 'close'; id: number } | { cmd: 'exit' }

process.on('message', (m: Command) => {
  if (m.cmd === 'transfer') void transfer(m)
  else if (m.cmd === 'idle') void sitIdle(m)
  else if (m.cmd === 'close') void idle.get(m.id)?.close()
  else if (m.cmd === 'exit') {
    for (const c of idle.values()) void c.close()
    process.disconnect?.()
  }
})

async function transfer({ id, address, size, deadline }: { id: number; address: string; size: number; deadline: number }) {
  const t0 = Date.now()
  let connection: Connection | undefined
  let timedOut = false
  // The application's own bound on the whole transfer: past it, the connection is torn down.
  const timer = setTimeout(() => {
    timedOut = true
    void connection?.close(new TimeoutError(deadline, { address, what: 'transfer' }))
  }, deadline)
  try {
    connection = await ms.connect(address, { timeout: Math.min(deadline, 10_000) })
    if (timedOut) throw new TimeoutError(deadline, { address, what: 'transfer' })
    const r = await runTransfer(connection, size, config.maxSize)
    send({ type: 'result', id, ok: r.receivedOk && r.serverVerdict, ms: Date.now() - t0, received: r.received })
  } catch (error) {
    send({ type: 'result', id, ok: false, ms: Date.now() - t0, timedOut, error: describe(error) })
  } finally {
    clearTimeout(timer)
    await connection?.close()
  }
}

async function sitIdle({ id, address }: { id: number; address: string }) {
  let connection: Connection
  try {
    connection = await msIdle.connect(address, { timeout: 10_000 })
  } catch (error) {
    return send({ type: 'result', id, ok: false, ms: 0, error: describe(error) })
  }
  idle.set(id, connection)
  const t0 = Date.now()
  send({ type: 'connected', id })
  // Read (nothing is expected) so a broken connection surfaces as an error.
  const reader = connection.readable.getReader()
  try {
    const r = await reader.read()
    send({ type: 'result', id, ok: r.done, ms: Date.now() - t0, error: r.done ? undefined : { message: 'unexpected data' } })
  } catch (error) {
    send({ type: 'result', id, ok: false, ms: Date.now() - t0, error: describe(error) })
  } finally {
    idle.delete(id)
    await connection.close()
  }
}

send({ type: 'ready' })
