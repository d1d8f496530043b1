import { createServer } from 'node:http'
import { createMultiServer } from '@ms/core'
import { describe, expect, it } from 'vitest'
import { ws } from '../src/index.js'

describe('ws configuredAddresses (advertising before listening)', () => {
  it('a fixed port is advertised from the options alone; port 0 only once bound', async () => {
    expect(createMultiServer([[ws({ port: 8989 })]]).stringify('device')).toBe('ws://127.0.0.1:8989')
    expect(createMultiServer([[ws({ host: 'localhost', port: 8989, scope: 'device' })]]).stringify('device')).toBe('ws://localhost:8989')
    expect(createMultiServer([[ws({ port: 8989, scope: 'public', external: 'example.com' })]]).stringify('public')).toBe('ws://example.com:8989')
    expect(createMultiServer([[ws({ port: 8989 })]]).stringify('public')).toBe('')
    const ms = createMultiServer([[ws()]])
    expect(ms.stringify()).toBe('')
    const listener = await ms.listen(() => {})
    try {
      expect(ms.stringify()).toMatch(/^ws:\/\/127\.0\.0\.1:[1-9][0-9]*$/)
    } finally {
      await listener.close()
    }
  })

  it('an attached server is advertised with its port once it is bound, before our listener starts', async () => {
    const server = createServer()
    const ms = createMultiServer([[ws({ server, host: '127.0.0.1' })]])
    expect(ms.stringify()).toBe('')
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve))
    try {
      const { port } = server.address() as { port: number }
      expect(ms.stringify()).toBe(`ws://127.0.0.1:${port}`)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
