import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

// Runs `pnpm bench:smoke` (one small run of every figure, against the
// packages' TypeScript sources) and checks that every figure came out as a
// positive number. Speeds are not asserted: CI machines are shared.
const bench = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = mkdtempSync(path.join(tmpdir(), 'ms-bench-smoke-'))
const json = path.join(dir, 'smoke.json')

afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Impl {
  median: number | null
  runs: (number | null)[]
  errors?: string[]
}
interface Figure {
  group: string
  mode: string
  metric: string
  ours?: Impl
  pull?: Impl
  theirs?: Impl
  raw?: Impl
  noise?: Impl
  ideal?: Impl
  oursOverTheirs: number | null
  fractionOfIdeal?: number | null
  noiseOverShs?: number | null
}
interface Results {
  meta: { smoke: boolean; errors: string[] }
  limits: {
    secretboxMiBs: number
    secretboxOpenMiBs: number
    boxstreamMiBs: number
    handshake: Record<string, number>
    handshakeLean: Record<string, number>
  }
  figures: Record<string, Figure>
  targets: { name: string; figure: string }[]
}

function runSmoke(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(bench, 'src', 'run.mjs'), '--smoke', '--source', '--json', json],
      { cwd: bench, timeout: 580_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

describe('pnpm bench:smoke', () => {
  it('measures every figure for ours, the original multiserver and the machine limits', async () => {
    const { code, stdout, stderr } = await runSmoke()
    expect(code, `bench failed:\n${stdout}\n${stderr}`).toBe(0)
    const results = JSON.parse(readFileSync(json, 'utf8')) as Results
    expect(results.meta.smoke).toBe(true)
    expect(results.meta.errors).toEqual([])

    const positive = (value: unknown, what: string) => {
      expect(typeof value, what).toBe('number')
      expect(Number.isFinite(value as number) && (value as number) > 0, `${what} = ${String(value)}`).toBe(true)
    }

    const expected: [string, string[]][] = [
      ['net-bulk | one-way', ['ours', 'theirs', 'raw']],
      ['net-bulk | both-ways', ['ours', 'theirs', 'raw']],
      ['unix-bulk | one-way', ['ours', 'theirs', 'raw']],
      ['unix-bulk | both-ways', ['ours', 'theirs', 'raw']],
      ['net-shs-bulk | one-way', ['ours', 'ideal', 'noise', 'theirs']],
      ['net-shs-bulk | both-ways', ['ours', 'ideal', 'noise', 'theirs']],
      ['ws-shs-bulk | one-way', ['ours', 'noise', 'theirs']],
      ['ws-shs-bulk | both-ways', ['ours', 'noise', 'theirs']],
      ['handshakes | 8 in flight', ['ours', 'ideal', 'noise', 'pull', 'theirs', 'raw']],
      ['handshakes | 64 in flight', ['ours', 'ideal', 'noise', 'pull', 'theirs', 'raw']],
      ['latency | connect', ['ours', 'ideal', 'noise', 'pull', 'theirs']],
    ]
    for (const [prefix, impls] of expected) {
      for (const mode of ['sep', 'same']) {
        const keys = Object.keys(results.figures).filter((k) => k.startsWith(`${prefix} | ${mode}`))
        expect(keys.length, `${prefix} | ${mode}`).toBeGreaterThan(0)
        for (const key of keys) {
          for (const impl of impls) positive(results.figures[key]![impl as 'ours']?.median, `${key} ${impl}`)
          positive(results.figures[key]!.oursOverTheirs, `${key} ours/theirs`)
          // @ms/noise next to @ms/shs in the same run.
          if (impls.includes('noise')) positive(results.figures[key]!.noiseOverShs, `${key} noise/shs`)
          // Ours as a fraction of the ideal implementation.
          if (impls.includes('ideal')) positive(results.figures[key]!.fractionOfIdeal, `${key} ours/ideal`)
        }
      }
    }
    // Over a 20 ms round trip (sep only): ours, noise and the original.
    for (const metric of ['median', 'p99']) {
      const key = `latency | connect, 20 ms RTT | sep | ${metric}`
      for (const impl of ['ours', 'ideal', 'noise', 'theirs'] as const) positive(results.figures[key]?.[impl]?.median, `${key} ${impl}`)
    }
    // Latency has both a median and a p99.
    expect(Object.keys(results.figures).filter((k) => k.startsWith('latency | connect | sep')).sort()).toEqual([
      'latency | connect | sep | median',
      'latency | connect | sep | p99',
    ])

    // Memory per connection is a difference of two RSS readings; the smoke
    // run opens enough connections (200) for it to stand above the noise.
    for (const mode of ['sep', 'same']) {
      const key = Object.keys(results.figures).find((k) => k.startsWith('memory |') && k.endsWith(`| ${mode}`))
      expect(key, `memory ${mode}`).toBeDefined()
      for (const metricKey of [key!, `${key} | heap`])
        for (const impl of ['ours', 'ideal', 'noise', 'pull', 'theirs'] as const) positive(results.figures[metricKey]?.[impl]?.median, `${metricKey} ${impl}`)
    }

    const l = results.limits
    positive(l.secretboxMiBs, 'secretbox limit')
    positive(l.secretboxOpenMiBs, 'secretbox open limit')
    positive(l.boxstreamMiBs, 'box-stream limit')
    for (const k of ['clientUs', 'serverUs', 'separatePerSecond', 'samePerSecond']) {
      positive(l.handshake[k], `handshake limit ${k}`)
      positive(l.handshakeLean[k], `lean handshake limit ${k}`)
    }
    // Issue 15's goals (plain net and unix bulk against the original, 8; memory, 4; pull CPU, 2), what must
    // stay no worse (7), ours against the ideal (bulk and its CPU both ways, 4; handshakes and their CPU, 4;
    // latency, 1) and noise against shs (8).
    expect(results.targets.filter((t) => !t.figure.startsWith('cluster |')).length).toBe(38)

    // node:cluster (issue 20): 1 worker and one per core, each with its CPU lines, and the two verdicts.
    const cores = availableParallelism()
    for (const workers of [...new Set([1, cores])]) {
      const key = `cluster | ${workers} worker${workers === 1 ? '' : 's'} | sep`
      for (const metric of ['', ' | cpu', ' | server cpu', ' | primary cpu']) positive(results.figures[key + metric]?.ours?.median, `${key}${metric}`)
      expect(results.figures[`${key} | others`]?.ours?.median, `${key} others`).toBeGreaterThanOrEqual(0)
    }
    if (cores > 1) expect(results.targets.filter((t) => t.figure.startsWith('cluster |')).length).toBe(2)
    expect(stdout).toContain('targets:')
  }, 600_000)
})
