import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { legacyPlugin } from '@ms/compat'
import { net } from '@ms/net'
import { shs } from '@ms/shs'
import pull from 'pull-stream'
import { it } from 'vitest'
import { keyPair, randomAppKey } from './helpers.js'
const require = createRequire(import.meta.url)
const MS = require('multiserver')
const Net = require('multiserver/plugins/net')
const Shs = require('multiserver/plugins/shs')
const appKey = randomAppKey()
async function port() { const s = createServer(); await new Promise<void>(r => s.listen(0, '127.0.0.1', r)); const p = (s.address() as any).port; await new Promise(r => s.close(r)); return p }
const stockShs = (k: any) => Shs({ keys: { publicKey: k.publicKey, secretKey: k.secretKey }, appKey, auth: (_p: any, cb: any) => cb(null, true), timeout: 5000 })
async function run(label: string, serverSuite: any[], clientSuite: any[]) {
  const server = MS([serverSuite])
  const close = await new Promise<any>((res, rej) => { const c = server.server((s: any) => pull(pull.count(9999), pull.map((i: number) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(40) }))), s.sink), () => {}, (e: any) => e ? rej(e) : setImmediate(() => res(c))) })
  const client = MS([clientSuite])
  const t0 = performance.now()
  const stream: any = await new Promise((res, rej) => client.client(server.stringify('device'), (e: any, s: any) => e ? rej(e) : res(s)))
  const t1 = performance.now()
  let n = 0
  await new Promise<void>((res, rej) => pull(stream.source, pull.drain((b: Buffer) => { n += b.length }, (e: any) => e ? rej(e) : res())))
  const t2 = performance.now()
  console.log(label, 'connect', (t1 - t0).toFixed(0), 'ms; 10k chunks', (t2 - t1).toFixed(0), 'ms', n)
  pull(pull.empty(), stream.sink)
  await new Promise(r => close(r))
}
it('perf', async () => {
  const k1 = keyPair(), k2 = keyPair()
  await run('stock->stock', [Net({ host: '127.0.0.1', port: await port() }), stockShs(k1)], [Net({}), stockShs(k2)])
  await run('ours->ours', [legacyPlugin(net({ host: '127.0.0.1' })), legacyPlugin(shs({ keys: k1, appKey }))], [legacyPlugin(net()), legacyPlugin(shs({ keys: k2, appKey }))])
  await run('ours srv, stock cli', [legacyPlugin(net({ host: '127.0.0.1' })), legacyPlugin(shs({ keys: k1, appKey }))], [Net({}), stockShs(k2)])
  await run('stock srv, ours cli', [Net({ host: '127.0.0.1', port: await port() }), stockShs(k1)], [legacyPlugin(net()), legacyPlugin(shs({ keys: k2, appKey }))])
  await run('ours net, stock shs', [legacyPlugin(net({ host: '127.0.0.1' })), stockShs(k1)], [legacyPlugin(net()), stockShs(k2)])
}, 120000)
