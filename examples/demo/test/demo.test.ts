import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

// Runs the demo exactly as `pnpm demo` does (tsx on the sources), so CI
// notices the moment the README's first command breaks.
it('pnpm demo connects over net~shs, ws~shs and unix~noauth and exits 0', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@ms/source', 'src/demo.ts'], { cwd: root, stdio: 'pipe' })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  expect(stderr).toBe('')
  expect(code).toBe(0)
  const serverId = /^server identity +(@\S+\.ed25519)$/m.exec(stdout)?.[1]
  expect(serverId).toBeDefined()
  for (const suite of ['net~shs', 'ws~shs', 'unix~noauth']) {
    expect(stdout).toMatch(new RegExp(`^${suite} +connected in [\\d.]+ ms, "hello over ${suite}" echoed in [\\d.]+ ms$`, 'm'))
  }
  // Both shs suites name the server's identity as the peer.
  expect(stdout.split(`peer: ${serverId} (proved by secret-handshake)`)).toHaveLength(3)
  expect(stdout).toMatch(/all three work/)
}, 90_000)
