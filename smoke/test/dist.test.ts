import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const script = fileURLToPath(new URL('../src/dist-smoke.mjs', import.meta.url))

function runSmoke(): Promise<{ code: number | null; output: string }> {
  // No NODE_OPTIONS: nothing may add the @ms/source condition to the child.
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { env, timeout: 240_000, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` })
    })
  })
}

describe('the built dist of every package, in plain node', () => {
  it('covers every published package in the workspace', () => {
    const published = readdirSync(`${root}/packages`, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .filter((d) => !JSON.parse(readFileSync(`${root}/packages/${d.name}/package.json`, 'utf8')).private)
      .map((d) => `@ms/${d.name}`)
      .sort()
    const smokePackage = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }
    expect(Object.keys(smokePackage.dependencies).sort()).toEqual(published)
    const listed = /const PACKAGES = (\[[^\]]*\])/.exec(readFileSync(script, 'utf8'))![1]!
    expect((JSON.parse(listed.replace(/'/g, '"')) as string[]).map((p) => `@ms/${p}`).sort()).toEqual(published)
  })

  it('imports every entry point from dist and does real round trips (pnpm test builds first)', async () => {
    const { code, output } = await runSmoke()
    expect(output, output).toContain('all checks passed')
    expect(output).not.toMatch(/^FAIL /m)
    for (const name of ['net echo', 'unix echo', 'ws echo', 'net~shs echo', 'net~noise echo', 'net~noise echo with ssb-keys from @ms/identity', 'unix~noauth echo', "compat's pull adapter over net", 'the ms bin prints its version']) {
      expect(output).toContain(`ok ${name}\n`)
    }
    expect(code).toBe(0)
  }, 300_000)
})
