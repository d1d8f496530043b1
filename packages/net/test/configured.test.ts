import { createMultiServer } from '@ms/core'
import { describe, expect, it } from 'vitest'
import { net } from '../src/index.js'
import { freePort } from './helpers.js'

describe('net configuredAddresses (advertising before listening)', () => {
  it('a fixed port is advertised from the options alone, per scope, external in public', () => {
    expect(net({ port: 8008 }).configuredAddresses!('device')).toEqual([{ name: 'net', data: ['127.0.0.1', '8008'] }])
    expect(net({ port: 8008 }).configuredAddresses!('public')).toEqual([])
    const pub = net({ host: '127.0.0.1', port: 8008, scope: ['device', 'public'], external: ['example.com', 'example.org'] })
    expect(pub.configuredAddresses!('public').map((s) => s.data.join(':'))).toEqual(['example.com:8008', 'example.org:8008'])
    expect(net({ host: '::1', port: 9 }).configuredAddresses!('device')).toEqual([{ name: 'net', data: ['', '', '1', '9'] }])
  })

  it('port 0: nothing before listening, the bound port once listening', async () => {
    const ms = createMultiServer([[net()]])
    expect(ms.stringify()).toBe('')
    const listener = await ms.listen(() => {})
    try {
      expect(ms.stringify()).toMatch(/^net:127\.0\.0\.1:[1-9][0-9]*$/)
    } finally {
      await listener.close()
    }
    expect(ms.stringify()).toBe('')
  })

  it('a MultiServer advertises the same address before and while listening on a fixed port', async () => {
    const port = await freePort()
    const ms = createMultiServer([[net({ port })]])
    const before = ms.stringify()
    expect(before).toBe(`net:127.0.0.1:${port}`)
    const listener = await ms.listen((c) => void c.close())
    try {
      expect(ms.stringify()).toBe(before)
      const c = await createMultiServer([[net()]]).connect(before)
      await c.close()
    } finally {
      await listener.close()
    }
  })
})
