import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, expect, it } from 'vitest'
import type { Connection } from '@ms/core'
import { unix } from '../src/index.js'

/*
 * Issue 19, item 2, over unix sockets (the other suites are in
 * soak/test/retention.test.ts): a peer writing 1-byte and 64 KiB chunks to
 * an application that holds a reader and never reads is paused (the bytes
 * its kernel takes stop growing) while the server's queue holds a bounded
 * amount. The queue counts each chunk's bytes plus 256, so it pauses the
 * socket after at most 256 KiB and about 1,000 chunks.
 */

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

it('a peer that never lets the application read is paused', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-unix-retention-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  const held: Connection[] = []
  let accepted!: () => void
  const connected = new Promise<void>((resolve) => (accepted = resolve))
  const listener = await unix({ path: join(dir, 's') }).listen!((connection) => {
    held.push(connection)
    // A reader that never reads: the stream still fills its queue.
    connection.readable.getReader()
    accepted()
  }, {})
  cleanup.push(() => listener.close())
  cleanup.push(() => Promise.all(held.map((c) => c.close())))
  const path = listener.addresses('device')[0]!.data.join(':')
  const socket: Socket = createConnection({ path, allowHalfOpen: true })
  cleanup.push(() => socket.destroy())
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  await connected

  const small = new Uint8Array(1)
  const large = new Uint8Array(64 * 1024)
  let written = 0
  let taken = 0
  let last = -1
  let lastChange = Date.now()
  const start = Date.now()
  for (let i = 0; ; ) {
    while (written - taken < 256 * 1024) {
      const chunk = i++ % 64 === 0 ? large : small
      written += chunk.length
      socket.write(chunk, (error) => {
        if (!error) taken += chunk.length
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
    if (taken !== last) {
      last = taken
      lastChange = Date.now()
    } else if (Date.now() - lastChange > 750) break
    // Unix socket buffers are small (some 200 KiB each way): a server that
    // keeps reading takes everything in far less time than this.
    expect(Date.now() - start, `the server never stopped reading (${taken} bytes taken)`).toBeLessThan(20_000)
  }
  expect(socket.destroyed).toBe(false)
})

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
function retained(): number {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

it('an application writing 1-byte chunks to a peer that never reads is held back early', { timeout: 60_000 }, async () => {
  // The socket's write queue counts each chunk's bytes plus 256: counted in
  // bytes alone, its 1 MiB mark let a million 1-byte writes (some 150 MB of
  // Node's write requests) pile up before `writer.ready` waited.
  const dir = mkdtempSync(join(tmpdir(), 'ms-unix-retention-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  let written = 0
  let lastWrite = Date.now()
  let failed: unknown
  let server: Connection | undefined
  let accepted!: () => void
  const connected = new Promise<void>((resolve) => (accepted = resolve))
  const listener = await unix({ path: join(dir, 's') }).listen!((connection) => {
    server = connection
    accepted()
  }, {})
  cleanup.push(() => listener.close())
  cleanup.push(() => server?.close())
  const path = listener.addresses('device')[0]!.data.join(':')
  const socket: Socket = createConnection({ path, allowHalfOpen: true })
  cleanup.push(() => socket.destroy())
  socket.on('error', () => {})
  // The peer never reads.
  socket.pause()
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  await connected
  const before = retained()
  const writer = server!.writable.getWriter()
  const one = Uint8Array.of(1)
  const writing = (async () => {
    // A well-behaved writer: waits for `ready` before each write.
    for (;;) {
      await writer.ready
      writer.write(one).catch(() => {})
      written++
      lastWrite = Date.now()
    }
  })().catch((error: unknown) => (failed = error))
  const start = Date.now()
  while (Date.now() - lastWrite < 750) {
    expect(Date.now() - start, `the writer was never held back (${written} writes)`).toBeLessThan(30_000)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const growth = retained() - before
  expect(failed).toBeUndefined()
  expect(growth, `${written} writes, growth ${growth} bytes`).toBeLessThan(4 * 1024 * 1024)
  socket.destroy()
  await writing
})
