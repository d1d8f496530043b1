import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { createMultiServer } from '@ms/core'
import { net } from '@ms/net'
import * as noble from '@ms/shs/noble'
import { readAll } from '@ms/compliance'
import { freePort, jsonLines, stopChild } from '../../net/test/processes.js'

// The cluster pattern of the README's "Running at scale": a MultiServer in
// each worker of node:cluster (test/fixtures/cluster-server.mjs, run from the
// built dist/), one identity on one port, restarted worker by worker while
// clients keep connecting.

const fixture = fileURLToPath(new URL('./fixtures/cluster-server.mjs', import.meta.url))
const dists = ['core', 'net', 'shs'].map((p) => fileURLToPath(new URL(`../../${p}/dist/index.js`, import.meta.url)))

let primary: ChildProcess | undefined
afterAll(async () => {
  if (primary) await stopChild(primary, 10_000)
})

describe('node:cluster: one MultiServer per worker, same identity', () => {
  it('a rolling restart of both workers drops no client: every connection made during it is served', async () => {
    for (const dist of dists) if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`pnpm build\` first (the workers run the built packages)`)
    const appKey = randomBytes(32).toString('base64')
    const seed = randomBytes(32)
    const port = await freePort()
    const child = spawn(process.execPath, [fixture, JSON.stringify({ seed: seed.toString('base64'), appKey, port, workers: 2 })], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    primary = child
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t))
    const out = jsonLines(child, () => `stderr: ${stderr}`)
    const next = (key: string) => out.waitFor((m) => key in m, key, 60_000)

    const started = await next('listening')
    const key = Buffer.from(noble.shsCrypto.signKeypairFromSeed(new Uint8Array(seed)).publicKey).toString('base64')
    expect(started.listening).toBe(`net:127.0.0.1:${port}~shs:${key}`)
    const before = started.pids as number[]

    const client = createMultiServer([[net(), noble.shs({ keys: noble.shsCrypto.signKeypairFromSeed(new Uint8Array(randomBytes(32))), appKey })]])
    const served: { pid: number; at: number }[] = []
    const failures: unknown[] = []
    let stop = false
    const loop = async () => {
      while (!stop) {
        try {
          const connection = await client.connect(String(started.listening), { timeout: 20_000 })
          const pid = Number(new TextDecoder().decode(await readAll(connection.readable)))
          await connection.close()
          served.push({ pid, at: Date.now() })
        } catch (error) {
          failures.push(error)
        }
      }
    }
    const loops = Array.from({ length: 4 }, loop)
    await expect.poll(() => served.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(8)
    const rollStart = Date.now()
    child.stdin!.write('roll\n')
    const rolled = await next('rolled')
    const rollEnd = Date.now()
    const after = rolled.pids as number[]
    const servedBefore = served.length
    await expect.poll(() => served.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(servedBefore + 8)
    stop = true
    await Promise.all(loops)

    expect(failures).toEqual([])
    expect(after).toHaveLength(2)
    expect(after.some((pid) => before.includes(pid))).toBe(false)
    const pids = new Set(served.map((s) => s.pid))
    // Both old workers served before the roll, both new ones after it.
    for (const pid of [...before, ...after]) expect(pids.has(pid)).toBe(true)
    // Clients kept connecting and being served while it ran.
    expect(served.filter((s) => s.at >= rollStart && s.at <= rollEnd).length).toBeGreaterThan(0)
  }, 120_000)
})
