import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import Compose from '@ms/compat/compose'
import MultiServer from '@ms/compat/multiserver'
import Net from '@ms/compat/plugins/net'
import Noauth from '@ms/compat/plugins/noauth'
import Shs from '@ms/compat/plugins/shs'
import Unix from '@ms/compat/plugins/unix-socket'
import Ws from '@ms/compat/plugins/ws'
import { net } from '@ms/net'
import { shs as msShs } from '@ms/shs'
import { describe, expect, it } from 'vitest'
import { callback, echo, roundTrip, seedKeypair, sha256 } from './original-helpers.js'
import { selfSignedCertificate } from '../../ws/test/cert.js'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const keys = seedKeypair(sha256('TESTSEED'))
const appKey = sha256('TEST')

describe('drop-in options', () => {
  it('options of the original that ms cannot honour are rejected, naming them', () => {
    expect(() => Net({ pauseOnConnect: true })).toThrow(/"pauseOnConnect"/)
    expect(() => Unix({ pauseOnConnect: true })).toThrow(/"pauseOnConnect"/)
    expect(() => Ws({ handler: () => {} })).toThrow(/"handler"/)
    expect(() => Ws({ verifyClient: () => true } as never)).toThrow(/"verifyClient"/)
    expect(() => Ws({ perMessageDeflate: true } as never)).toThrow(/"perMessageDeflate"/)
    expect(() => Net({ port: 'eighty' })).toThrow(/"port"/)
    expect(() => Shs({ appKey } as never)).toThrow(/"keys"/)
    expect(() => Noauth({} as never)).toThrow(/"keys"/)
  })

  it('string ports, a seed instead of keys, secret-stack extras (ignored) are taken as the original takes them', () => {
    expect(Net({ port: '8008', transform: 'shs' } as never).stringify('device')).toBe('net:localhost:8008')
    expect(Shs({ seed: sha256('TESTSEED'), appKey: appKey.toString('base64'), auth: (_k, cb) => cb(null, true) }).stringify()).toBe(
      'shs:' + keys.publicKey.toString('base64'),
    )
  })

  it('parse returns the original shapes', () => {
    expect(Net({}).parse('net:localhost:8008')).toEqual({ name: 'net', host: 'localhost', port: 8008 })
    expect(Net({}).parse('net:fe80::1:8008')).toEqual({ name: 'net', host: 'fe80::1', port: 8008 })
    expect(Net({}).parse('ws://localhost:8008')).toBe(null)
    const shs = Shs({ keys, appKey })
    const parsed = shs.parse('shs:' + keys.publicKey.toString('base64'))!
    expect(Buffer.isBuffer(parsed.key) && parsed.key.equals(keys.publicKey)).toBe(true)
    expect(parsed.seed).toBe(undefined)
    expect(Ws({}).parse('ws://localhost:8989')).toMatchObject({ protocol: 'ws:', hostname: 'localhost', port: '8989', host: 'localhost:8989', pathname: '/' })
    expect(Ws({}).parse('wss://example.com/path?x=1')).toMatchObject({ protocol: 'wss:', hostname: 'example.com', port: null, pathname: '/path', search: '?x=1' })
    expect(Unix({ path: '/tmp/x' }).parse('unix:/tmp/x/socket')).toEqual({ name: '', path: '/tmp/x/socket' })
    expect(Noauth({ keys }).parse('noauth')).toEqual({})
  })
})

describe('drop-in MultiServer and compose take ms plugins, reject anything else', () => {
  it('a TypeError names a plug that is neither a suite, an ms transport nor an original-style plugin', () => {
    expect(() => MultiServer([{}])).toThrow(TypeError)
    expect(() => MultiServer([{ name: 'x' }])).toThrow(/plug 0/)
    expect(() => MultiServer([42])).toThrow(TypeError)
    expect(() => MultiServer([Shs({ keys, appKey })])).toThrow(/transform/)
    expect(() => Compose([Net({}), {}])).toThrow(/not a transform/)
    expect(() => Compose([{ create() {} }])).toThrow(/not a transport/)
  })

  it('an ms transport and transform inside the drop-in compose, talking to drop-in plugins', async () => {
    const server = Compose([net({ host: '127.0.0.1' }), msShs({ keys, appKey })])
    const started = callback()
    const close = server.server(echo, null, started.cb)
    try {
      await started.promise
      const address = server.stringify('device')!
      expect(address).toMatch(/^net:127\.0\.0\.1:\d+~shs:/)
      const client = Compose([Net({}), Shs({ keys, appKey })])
      const { cb, promise } = callback()
      client.client(address, cb)
      expect(await roundTrip(await promise, 'mixed')).toBe('MIXED')
    } finally {
      await new Promise((resolve) => close(resolve as () => void))
    }
  })

  it('noauth refuses a stream that is not local, accepts a loopback one', async () => {
    const transform = Noauth({ keys }).create()
    const refused = callback()
    transform({ source: () => {}, sink: () => {}, address: 'net:203.0.113.5:8008' } as never, refused.cb)
    await expect(refused.promise).rejects.toThrow(/noauth refuses/)
    const accepted = callback<{ address: string; remote: Buffer }>()
    transform({ source: () => {}, sink: () => {}, address: 'net:127.0.0.1:8008' } as never, accepted.cb as never)
    const stream = await accepted.promise
    expect(stream.address).toBe('noauth:' + keys.publicKey.toString('base64'))
    expect(stream.remote.equals(keys.publicKey)).toBe(true)
  })
})

describe('drop-in ws with key and cert paths, and MultiServer wrap', () => {
  it('reads key and cert from paths when the server starts, serves TLS and advertises wss', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-compat-wss-'))
    try {
      const { key, cert } = selfSignedCertificate()
      writeFileSync(join(dir, 'key.pem'), key)
      writeFileSync(join(dir, 'cert.pem'), cert)
      const w = Ws({ host: '127.0.0.1', key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') })
      const started = callback()
      const close = w.server(() => {}, started.cb)
      try {
        await started.promise
        const address = w.stringify('device')!
        expect(address).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
        const port = Number(address.split(':').pop())
        const secured = await new Promise<boolean>((resolve, reject) => {
          const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
            socket.destroy()
            resolve(true)
          })
          socket.once('error', reject)
        })
        expect(secured).toBe(true)
      } finally {
        await new Promise((resolve) => close(resolve as () => void))
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('wrap(stream) sees every transport stream, on both ends, before the transforms', async () => {
    const wrapped: string[] = []
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const wrap = (stream: any) => {
      wrapped.push(stream.address)
      return stream
    }
    const shs = Shs({ keys, appKey, auth: (_k, cb) => cb(null, true) })
    const ms = MultiServer([[Net({ host: '127.0.0.1' }), shs]], wrap)
    const started = callback()
    const close = ms.server(echo, null, started.cb)
    try {
      await started.promise
      const { cb, promise } = callback()
      ms.client(ms.stringify(), cb)
      expect(await roundTrip(await promise, 'wrapped')).toBe('WRAPPED')
      expect(wrapped).toHaveLength(2)
      for (const address of wrapped) expect(address).toMatch(/^net:127\.0\.0\.1:\d+$/)
    } finally {
      await new Promise((resolve) => close(resolve as () => void))
    }
  })
})

describe('entry points from Node (built dist)', () => {
  const built = existsSync(join(packageDir, 'dist', 'plugins', 'net.js'))
  it.runIf(built)('require() and import of every drop-in path give the original factory', () => {
    const paths = ['multiserver', 'compose', 'plugins/net', 'plugins/ws', 'plugins/shs', 'plugins/unix-socket', 'plugins/noauth', 'plugins/onion']
    const script = `for (const p of ${JSON.stringify(paths)}) { const m = require('@ms/compat/' + p); if (typeof m !== 'function') throw new Error(p + ': ' + typeof m) }
      if (require('@ms/compat/plugins/net')({ port: 8008 }).stringify('device') !== 'net:localhost:8008') throw new Error('net')
      console.log('ok')`
    const cjs = spawnSync(process.execPath, ['-e', script], { cwd: packageDir, encoding: 'utf8' })
    expect(cjs.stderr).toBe('')
    expect(cjs.stdout.trim()).toBe('ok')
    const esm = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `for (const p of ${JSON.stringify(paths)}) { const m = await import('@ms/compat/' + p); if (typeof m.default !== 'function') throw new Error(p) } console.log('ok')`],
      { cwd: packageDir, encoding: 'utf8' },
    )
    expect(esm.stderr).toBe('')
    expect(esm.stdout.trim()).toBe('ok')
  })
})
