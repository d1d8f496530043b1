/**
 * The short soak (`pnpm soak:short`, 60 s of mixed good, hostile and flood
 * traffic against one server process) with its must-conditions as
 * assertions. The soak itself runs in child processes; this test builds
 * them, runs the orchestrator and checks its report.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SoakResult } from '../src/soak.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const DURATION = Number(process.env.SOAK_DURATION ?? 60)
let result: SoakResult
let output = ''
const dir = mkdtempSync(join(tmpdir(), 'ms-soak-'))

describe('soak (short)', () => {
  beforeAll(async () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' })
    const json = join(dir, 'report.json')
    const child = spawn(process.execPath, [join(root, 'dist', 'soak.js'), '--duration', String(DURATION), '--json', json, '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    // 0: all must-conditions hold; 1: some failed (the report says which); 2 or a signal: the harness broke.
    expect(code === 0 || code === 1, `soak exited with ${code}:\n${output}`).toBe(true)
    result = JSON.parse(readFileSync(json, 'utf8')) as SoakResult
    console.log(JSON.stringify(result.figures, null, 2))
  }, (DURATION + 240) * 1000)

  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const must = [
    'server did not crash',
    'every client process reported',
    'good-net: every started transfer completed and verified',
    'good-ws: every started transfer completed and verified',
    'no client operation hung (60 s watchdog)',
    'good clients saw no server-caused errors',
    'no good transfer abandoned',
    'server reported only typed errors',
    'server verified every transfer it completed',
    'hostile peers never got a low-order or wrong-key handshake through',
    'no handshake outlived the handshake timeout (+1 s + the largest event-loop stall)',
    'connections all closed after the clients left',
    'open handles back to the start level',
    'file descriptors back to the start level',
    'heap back to the start level after GC (+8 MiB)',
    'buffers and native allocations back to the start level (+4 MiB)',
    'RSS back near the start level (+192 MiB)',
    'peers that stop reading do not make the server buffer without bound (< 4 MiB each)',
    'the flood was served (handshakes completed during it)',
  ]
  for (const name of must) {
    it(name, () => {
      const check = result.checks.find((c) => c.name === name)
      expect(check, `the soak report has no check named "${name}"`).toBeDefined()
      expect(check!.ok, check!.detail).toBe(true)
    })
  }

  it('moved real data: a few MiB per good transfer, in both directions', () => {
    const good = result.figures.good as { verified: number; mibSent: number; mibReceived: number }
    expect(good.verified).toBeGreaterThan(0)
    expect(good.mibSent / good.verified).toBeGreaterThanOrEqual(1)
    expect(good.mibReceived / good.verified).toBeGreaterThanOrEqual(1)
  })

  it('every check passed', () => {
    expect(result.checks.filter((c) => !c.ok)).toEqual([])
    expect(result.ok).toBe(true)
  })
})
