import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
