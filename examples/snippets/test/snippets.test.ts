import { afterEach, expect, it, vi } from 'vitest'

// The README's snippets must not only compile (typecheck) but run.
afterEach(() => {
  vi.restoreAllMocks()
})

function captureLog(): unknown[][] {
  const lines: unknown[][] = []
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args))
  return lines
}

it('quickstart: listens, dials itself over net~shs, prints the address and the peer key', async () => {
  const lines = captureLog()
  await import('../src/quickstart.js')
  const [address, key] = lines[0] as [string, Uint8Array]
  expect(address).toMatch(/^net:127\.0\.0\.1:\d+~shs:[A-Za-z0-9+/]{43}=$/)
  expect(Buffer.from(key).toString('base64')).toBe(address.split('~shs:')[1])
})

it('address: the parse results the comments promise', async () => {
  const lines = captureLog()
  await import('../src/address.js')
  expect(lines[0]![0]).toEqual([
    { name: 'net', data: ['10.0.0.5', '8008'] },
    { name: 'shs', data: ['KEY'] },
  ])
  expect(lines[1]![0]).toEqual(['/tmp/a;b.sock'])
  expect(lines[2]![0]).toBe(true)
})

it('suites: advertises per scope', async () => {
  const lines = captureLog()
  await import('../src/suites.js')
  const device = lines[0]![0] as string
  expect(device.split(';').map((a) => a.replace(/:[^~]*/g, ''))).toEqual(['net~shs', 'ws~shs', 'unix~noauth'])
  for (const scoped of [lines[1]![0], lines[2]![0]] as string[]) {
    expect(scoped).not.toMatch(/127\.0\.0\.1|unix:/)
  }
})
