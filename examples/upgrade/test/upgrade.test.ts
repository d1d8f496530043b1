import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DialError, NoTransportError, toBase64 } from '@ms/core'
import { expect, it } from 'vitest'
import { ask, askOnce, newClient, newKeys, oldClient, startUpgradingServer } from '../src/upgrade.js'
import { startNoiseServer } from '../src/server-noise.js'

it('old clients keep dialling shs, new ones prefer noise, one identity on both; switching shs off leaves noise and its connections alone', async () => {
  const keys = newKeys()
  const server = await startUpgradingServer(keys)
  try {
    const before = server.address()
    const [modern, legacy] = before.split(';')
    const id = toBase64(keys.publicKey)
    expect(modern).toBe(`${modern!.split('~')[0]}~noise:${id}`)
    expect(legacy).toBe(`${legacy!.split('~')[0]}~shs:${id}`)

    const old = oldClient(newKeys())
    const young = newClient(newKeys())
    // The old client cannot even plan the noise alternative; it dials only shs.
    expect(old.plan(before).map((p) => p.address)).toEqual([legacy])
    expect(await askOnce(old, before, 'hi')).toBe('v1 (shs): hi')
    expect(await askOnce(young, before, 'hi')).toBe('v2 (noise): hi')
    // Both see the same authenticated server key.
    const viaShs = await old.connect(before)
    const viaNoise = await young.connect(before)
    expect(toBase64(viaShs.info.shs!.publicKey)).toBe(id)
    expect(toBase64(viaNoise.info.noise!.publicKey)).toBe(id)
    await Promise.all([viaShs.close(), viaNoise.close()])

    const longLived = await young.connect(before)
    expect(await ask(longLived, 'one')).toBe('v2 (noise): one')

    await server.switchOffLegacy()
    const after = server.address()
    expect(after).toBe(modern)
    expect(await ask(longLived, 'two')).toBe('v2 (noise): two')
    expect(await askOnce(young, after, 'hi')).toBe('v2 (noise): hi')
    // Old clients: nothing they speak is advertised, and the old port is closed.
    await expect(askOnce(old, after, 'hi')).rejects.toBeInstanceOf(NoTransportError)
    await expect(askOnce(old, legacy!, 'hi')).rejects.toSatisfy((e) => e instanceof DialError && e.code === 'ECONNREFUSED')
    await longLived.close()
  } finally {
    await server.close()
  }
})

it('a new client still reaches a server that has not upgraded (shs only)', async () => {
  const server = await startUpgradingServer(newKeys(), { modern: false })
  try {
    expect(server.address().split(';')).toHaveLength(1)
    expect(await askOnce(newClient(newKeys()), server.address(), 'hi')).toBe('v1 (shs): hi')
  } finally {
    await server.close()
  }
})

it('after the switch-off the server needs no @ms/shs: its module imports none, and it serves new clients', async () => {
  const localImports = (file: string, seen = new Set<string>()): string[] => {
    if (seen.has(file)) return []
    seen.add(file)
    const source = readFileSync(fileURLToPath(new URL(`../src/${file}`, import.meta.url)), 'utf8')
    const specifiers = [...source.matchAll(/^(?:import|export)[^'"]*from '([^']+)'/gm)].map((m) => m[1]!)
    return specifiers.flatMap((s) => (s.startsWith('./') ? [s, ...localImports(s.slice(2).replace(/\.js$/, '.ts'), seen)] : [s]))
  }
  const imports = localImports('server-noise.ts')
  expect(imports).toContain('@ms/noise')
  expect(imports.filter((s) => s.includes('shs'))).toEqual([])

  const keys = newKeys()
  const server = await startNoiseServer(keys)
  try {
    expect(server.address).toMatch(new RegExp(`^net:127\\.0\\.0\\.1:\\d+~noise:${toBase64(keys.publicKey).replace(/[+/]/g, (c) => '\\' + c)}$`))
    expect(await askOnce(newClient(newKeys()), server.address, 'hi')).toBe('v2 (noise): hi')
    await expect(askOnce(oldClient(newKeys()), server.address, 'hi')).rejects.toBeInstanceOf(NoTransportError)
  } finally {
    await server.close()
  }
})

it('the walkthrough script runs to the end', async () => {
  const cwd = fileURLToPath(new URL('..', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@ms/source', 'src/main.ts'], { cwd, stdio: 'pipe' })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.resume()
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  expect(code).toBe(0)
  expect(stdout).toMatch(/an old client gets: v1 \(shs\): hello/)
  expect(stdout).toMatch(/a new client gets: {2}v2 \(noise\): hello/)
  expect(stdout).toMatch(/still answers: v2 \(noise\): second/)
  expect(stdout).toMatch(/old client with the new address: NoTransportError/)
  expect(stdout).toMatch(/@ms\/shs dropped from the server/)
}, 60_000)
