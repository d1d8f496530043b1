import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMultiServer } from '@ms/core'
import { describe, expect, it } from 'vitest'
import { unix } from '../src/index.js'

describe('unix configuredAddresses (advertising before listening)', () => {
  it('a given path is advertised in device before listening; the default one only once bound', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ms-unix-cfg-'))
    try {
      const path = join(dir, 'socket')
      const ms = createMultiServer([[unix({ path })]])
      expect(ms.stringify('device')).toBe(`unix:${path}`)
      expect(ms.stringify('local')).toBe('')
      const listener = await ms.listen((c) => void c.close())
      expect(ms.stringify('device')).toBe(`unix:${path}`)
      await listener.close()

      const own = createMultiServer([[unix()]])
      expect(own.stringify('device')).toBe('')
      const l2 = await own.listen(() => {})
      expect(own.stringify('device')).toMatch(/^unix:.*socket$/)
      await l2.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
