import * as esbuild from 'esbuild'
import { gzipSync } from 'node:zlib'
import { writeFileSync } from 'node:fs'
writeFileSync('bund-entry.ts', `import { createMultiServer, isMsError } from '@ms/core'
import { ws } from '@ms/ws'
import { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'
const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const client = createMultiServer([[ws(), shs({ keys, appKey: SSB_APP_KEY })]])
export async function dial(address) { try { return await client.connect(address) } catch (error) { if (isMsError(error, 'DialError')) return error.code; throw error } }
`)
const r = await esbuild.build({ entryPoints: ['bund-entry.ts'], bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true, write: false, metafile: true, logLevel: 'silent', conditions: ['browser'] })
const code = r.outputFiles[0].contents
console.log('total min', code.length, 'gz', gzipSync(code, { level: 9 }).length)
writeFileSync('/tmp/bundle.js', code)
const out = Object.values(r.metafile.outputs)[0]
const rows = Object.entries(out.inputs).map(([k, v]) => [v.bytesInOutput, k]).sort((a, b) => b[0] - a[0])
for (const [b, k] of rows.slice(0, 8)) console.log(String(b).padStart(7), k)
