import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DialError, NoTransportError } from '@ms/core'
import { expect, it } from 'vitest'
import { ask, askOnce, newClient, newKeys, oldClient, startUpgradingServer } from '../src/upgrade.js'

it('old and new clients each find their suite; switching legacy off leaves v2 and its connections alone', async () => {
  const server = await startUpgradingServer(newKeys())
  try {
    const before = server.address()
    const [modern, legacy] = before.split(';')
    expect(modern).toMatch(/^net:127\.0\.0\.1:\d+~shs:\S+~deflate$/)
    expect(legacy).toMatch(/^net:127\.0\.0\.1:\d+~shs:[^~]+$/)

    const old = oldClient(newKeys())
    const young = newClient(newKeys())
    // The old client cannot even plan the v2 alternative; it dials only v1.
    expect(old.plan(before).map((p) => p.address)).toEqual([legacy])
    expect(await askOnce(old, before, 'hi')).toBe('v1: hi')
    expect(await askOnce(young, before, 'hi')).toBe('v2: hi')

    const longLived = await young.connect(before)
    expect(await ask(longLived, 'one')).toBe('v2: one')

    await server.switchOffLegacy()
    const after = server.address()
    expect(after).toBe(modern)
    // Untouched: the open v2 connection and new v2 connections.
    expect(await ask(longLived, 'two')).toBe('v2: two')
    expect(await askOnce(young, after, 'hi')).toBe('v2: hi')
    // Old clients: nothing they speak is advertised, and the old port is closed.
    await expect(askOnce(old, after, 'hi')).rejects.toBeInstanceOf(NoTransportError)
    await expect(askOnce(old, legacy!, 'hi')).rejects.toSatisfy((e) => e instanceof DialError && e.code === 'ECONNREFUSED')
    await longLived.close()
  } finally {
    await server.close()
  }
})

it('a new client still reaches a server that has not upgraded', async () => {
  const server = await startUpgradingServer(newKeys(), { modern: false })
  try {
    expect(server.address().split(';')).toHaveLength(1)
    expect(await askOnce(newClient(newKeys()), server.address(), 'hi')).toBe('v1: hi')
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
  expect(stdout).toMatch(/an old client gets: v1: hello/)
  expect(stdout).toMatch(/a new client gets: {2}v2: hello/)
  expect(stdout).toMatch(/still answers: v2: second/)
  expect(stdout).toMatch(/old client with the new address: NoTransportError/)
}, 60_000)
