import { describe, it } from 'vitest'
import { transportChecks, type ComplianceCheck } from './checks.js'
import { resolve, type TransportSuiteSetup } from './harness.js'
import { transformChecks, type TransformSuiteSetup } from './transform-checks.js'

/**
 * The shared behaviour every transport (with or without transforms on top)
 * must show: one vitest test per check. Call at the top level of a test file.
 */
export function transportSuite(setup: TransportSuiteSetup): void {
  register(`compliance: ${setup.name}`, transportChecks(setup), resolve(setup).timeout)
}

/**
 * The transport suite run over transforms (by default on the in-memory
 * transport), plus the checks that need the inner connection: the segment,
 * close and abort reaching it, and the upgrade's signal.
 */
export function transformSuite(setup: TransformSuiteSetup): void {
  register(`compliance: ${setup.name} (transform)`, transformChecks(setup), resolve(setup).timeout)
}

function register(name: string, checks: ComplianceCheck[], timeout: number): void {
  describe(name, () => {
    for (const check of checks) it(check.name, { timeout }, () => check.run())
  })
}

export interface CheckResult {
  name: string
  passed: boolean
  /** Why it failed. */
  error?: unknown
}

/**
 * Runs checks one after the other, outside any test runner, and reports
 * each (for tooling, and for the suite's own tests, which show that broken
 * plugins fail the named checks).
 */
export async function runChecks(checks: ComplianceCheck[], options: { only?: (name: string) => boolean } = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  for (const check of checks) {
    if (options.only && !options.only(check.name)) continue
    try {
      await check.run()
      results.push({ name: check.name, passed: true })
    } catch (error) {
      results.push({ name: check.name, passed: false, error })
    }
  }
  return results
}

export type { TransportSuiteSetup, TransformSuiteSetup, ComplianceCheck }
