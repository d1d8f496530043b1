import { describe, expect, it } from 'vitest'
import { ComplianceError, runChecks, transformChecks, type CheckResult } from '../src/index.js'
import { catalogue, xorTransform, type Breakage } from './catalogue.js'

// Small sizes keep a run short; the bound on each event is what makes a
// broken plugin fail fast (seconds), and is what this file exercises.
const sizes = { largeBytes: 1024 * 1024, parallel: 4 }

function run(broken: Breakage, eventTimeout: number): Promise<CheckResult[]> {
  return runChecks(transformChecks({ name: 'xor', server: () => [xorTransform(broken)], client: () => [xorTransform(broken)], ...sizes, eventTimeout }))
}

const summary = (results: CheckResult[]) =>
  results.map((r) => `${r.passed ? 'pass' : 'FAIL'}  ${r.name}${r.passed ? '' : `: ${String((r.error as Error)?.message ?? r.error)}`}`).join('\n')

describe('the suite passes a correct transform', () => {
  it('xor passes every check', { timeout: 120_000 }, async () => {
    const results = await run({}, 5000)
    expect(results.length).toBeGreaterThan(20)
    expect(results.filter((r) => !r.passed), summary(results)).toEqual([])
  })
})

describe('the suite fails deliberately broken transforms, naming the behaviour', () => {
  for (const entry of catalogue) {
    it(`${entry.name}: fails "${entry.caughtBy.join('" and "')}"`, { timeout: 180_000 }, async () => {
      const started = Date.now()
      const results = await run(entry.broken, 1500)
      for (const name of entry.caughtBy) {
        const result = results.find((r) => r.name.startsWith(name))
        expect(result, `no check named ${JSON.stringify(name)}:\n${summary(results)}`).toBeDefined()
        expect(result!.passed, `${entry.name} passed ${JSON.stringify(result!.name)}:\n${summary(results)}`).toBe(false)
        // A failure says what was missing, rather than timing out in the runner.
        expect(result!.error, summary(results)).toBeInstanceOf(ComplianceError)
      }
      // Every check settles on its own bounds: the whole run of a broken
      // plugin takes seconds per failing check, not a runner's timeout each.
      const failed = results.filter((r) => !r.passed).length
      expect(Date.now() - started).toBeLessThan(20_000 + failed * 6_000)
    })
  }
})
