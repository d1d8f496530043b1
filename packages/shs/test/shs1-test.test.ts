import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

// npm shs1-test 1.1.1, the cross-language secret-handshake suite: it spawns
// an adapter (test/adapters/*.mjs, running our built dist) 45 times per role,
// good and misbehaving peers, and exits 0 only when every case passed.
const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, '..')
const require = createRequire(import.meta.url)
const suiteDir = dirname(require.resolve('shs1-test/package.json'))

function run(file: string, args: string[], cwd: string, timeout: number) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = execFile(process.execPath, [file, ...args], { cwd, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` })
    })
    child.stdin?.end()
  })
}

beforeAll(async () => {
  // The adapters import dist/, so build it once for this file.
  const tsup = require.resolve('tsup/dist/cli-default.js', { paths: [pkg] })
  const { code, output } = await run(tsup, [], pkg, 120_000)
  if (code !== 0) throw new Error(`tsup failed:\n${output}`)
}, 150_000)

describe.each(['sodium', 'noble'])('shs1-test 1.1.1 against @ms/shs (%s)', (backend) => {
  it.each(['server', 'client'])('%s role passes the whole suite', async (role) => {
    const seed = randomBytes(8).toString('hex')
    const script = join(suiteDir, role === 'server' ? 'test-server.js' : 'test-client.js')
    const adapter = join(here, 'adapters', `${role}-${backend}.mjs`)
    const { code, output } = await run(script, [adapter, seed], pkg, 280_000)
    expect(output).toContain(role === 'server' ? 'Passed the server test suite' : 'Passed the client test suite')
    expect(code, `seed ${seed}\n${output}`).toBe(0)
  }, 300_000)
})
