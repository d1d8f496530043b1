#!/usr/bin/env node
// Installs what we publish, the way a user gets it, and uses it.
//
// 1. `pnpm pack` every public package (needs `pnpm build` first) and checks
//    each tarball's manifest: no workspace-only `@ms/source` condition, no
//    `workspace:` ranges, LICENSE and README present, README links absolute,
//    every file the exports map names present.
// 2. A Node project OUTSIDE the workspace (a temp dir) installs every tarball
//    with npm (third-party dependencies come from the registry) plus
//    sodium-native, and runs the README's Quick start as ES module and as
//    CommonJS (require of ESM), type-checks a file that imports every entry
//    point under module node16, nodenext and bundler (strict, no
//    skipLibCheck), runs the `ms` CLI, and runs a third-party transform
//    (the README's rot13) against the packed compliance suite with vitest.
// 3. A browser-only project installs core, ws, shs and noise alone (with
//    @ms/identity, their dependency, from its tarball too): no native
//    package may arrive (sodium-native, bufferutil), the Node entry points
//    fall back to @noble and say so, the browser client (core+ws+shs)
//    bundles with esbuild without Node built-ins within 35 KiB gzipped, and
//    browser TypeScript (DOM lib, no @types/node) compiles both documented
//    ways: `customConditions: ["browser"]`, or the `@ms/ws/browser` and
//    `@ms/shs/noble` entry points.
//
// Usage: node scripts/pack-check.mjs [--keep]   (--keep leaves the temp dir)
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const keep = process.argv.includes('--keep')
const BUNDLE_BUDGET = 35 * 1024
const started = Date.now()
const failures = []

function step(name) {
  process.stdout.write(`pack-check: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
}
function fail(message) {
  failures.push(message)
  process.stdout.write(`  FAIL ${message}\n`)
}
function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...options })
  } catch (error) {
    const out = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim()
    throw new Error(`${command} ${args.join(' ')} failed in ${options.cwd ?? root}:\n${out.slice(-6000)}`)
  }
}
function check(name, fn) {
  try {
    fn()
  } catch (error) {
    fail(`${name}: ${error.message}`)
  }
}
const writeJson = (path, value) => writeFileSync(path, JSON.stringify(value, null, 2) + '\n')

// The workspace's own tools drive the checks; what they check is installed from the tarballs.
const workspaceRequire = createRequire(join(root, 'packages/ws/package.json'))
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
const esbuild = await import(workspaceRequire.resolve('esbuild'))

const work = mkdtempSync(join(tmpdir(), 'ms-pack-check-'))
const tarballs = join(work, 'tarballs')
mkdirSync(tarballs)
step(`working in ${work}`)

// ---- 1. pack and inspect -------------------------------------------------
const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({ dir: join(root, 'packages', dir), pkg: JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private)
const tarballOf = new Map()
for (const { dir, pkg } of packages) {
  if (!existsSync(join(dir, 'dist'))) throw new Error(`${pkg.name} has no dist/: run \`pnpm build\` first`)
  const out = run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: dir })
  const file = out.trim().split('\n').findLast((line) => line.endsWith('.tgz'))
  tarballOf.set(pkg.name, file)
}
step(`packed ${tarballOf.size} packages`)

for (const [name, file] of tarballOf) {
  const files = run('tar', ['-tzf', file]).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''))
  const manifestText = run('tar', ['-xzOf', file, 'package/package.json'])
  const manifest = JSON.parse(manifestText)
  check(`${name} manifest`, () => {
    if (manifestText.includes('@ms/source')) throw new Error('the private @ms/source condition is in the packed package.json')
    if (manifestText.includes('workspace:')) throw new Error('a workspace: range is in the packed package.json')
    if (manifest.license !== 'MIT') throw new Error(`license is ${manifest.license}`)
    if (!manifest.repository?.url || !manifest.repository?.directory) throw new Error('repository { url, directory } missing')
    if (!manifest.homepage || !manifest.bugs) throw new Error('homepage or bugs missing')
    if (manifest.engines?.node !== '^20.19.0 || >=22.12.0') throw new Error(`engines.node is ${manifest.engines?.node}; require() of ESM needs ^20.19.0 || >=22.12.0`)
    if (!files.includes('LICENSE')) throw new Error('LICENSE is not in the tarball')
    if (!files.includes('README.md')) throw new Error('README.md is not in the tarball')
    if (name !== '@ms/core' && name !== '@ms/cli' && !manifest.peerDependencies?.['@ms/core']) throw new Error('@ms/core is not a peer dependency')
    if (name !== '@ms/cli' && manifest.dependencies?.['@ms/core']) throw new Error('@ms/core is a dependency (a second copy of core per plugin); make it a peer')
    for (const native of ['sodium-native', 'bufferutil', 'utf-8-validate']) {
      if (manifest.dependencies?.[native] || manifest.optionalDependencies?.[native]) {
        if (name !== '@ms/cli') throw new Error(`${native} is installed with it (native code in a browser-only install); make it an optional peer`)
      }
    }
    const targets = []
    const collect = (value) => {
      if (typeof value === 'string') targets.push(value)
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect)
    }
    collect(manifest.exports ?? {})
    for (const target of targets) {
      const path = target.replace(/^\.\//, '')
      if (!path.includes('*') && !files.includes(path)) throw new Error(`exports names ${target}, which is not in the tarball`)
    }
  })
  check(`${name} README`, () => {
    const readme = run('tar', ['-xzOf', file, 'package/README.md'])
    const relative = [...readme.matchAll(/\]\((?!https?:|#|mailto:)([^)]+)\)/g)].map((m) => m[1])
    if (relative.length > 0) throw new Error(`relative links break on the registry page: ${relative.join(', ')}`)
  })
}
step('inspected the tarballs')

// ---- 2. a Node project ---------------------------------------------------
const node = join(work, 'node-app')
mkdirSync(node)
writeJson(join(node, 'package.json'), {
  name: 'ms-pack-check-node',
  private: true,
  type: 'module',
  dependencies: {
    ...Object.fromEntries([...tarballOf].map(([name, file]) => [name, `file:${file}`])),
    'sodium-native': '^5.1.0',
  },
  devDependencies: { '@types/node': '^20.19.0', vitest: '^3.2.4' },
})
run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefer-offline'], { cwd: node })
step('npm installed every tarball into a fresh Node project')
check('one copy of @ms/core', () => {
  const nested = readdirSync(join(node, 'node_modules/@ms')).filter((name) => existsSync(join(node, 'node_modules/@ms', name, 'node_modules/@ms/core')))
  if (nested.length > 0) throw new Error(`a second @ms/core under ${nested.join(', ')}`)
})

const quickstart = `const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const ms = createMultiServer([[net({ port: 0 }), shs({ keys, appKey: SSB_APP_KEY })]])
const listener = await ms.listen((c) => void c.readable.pipeTo(c.writable).catch(() => c.close()))
const address = ms.stringify()
const conn = await ms.connect(address)
const writer = conn.writable.getWriter()
await writer.write(new TextEncoder().encode('hello'))
const reader = conn.readable.getReader()
const { value } = await reader.read()
if (new TextDecoder().decode(value) !== 'hello') throw new Error('no echo')
if (shsCrypto.name !== 'sodium') throw new Error('sodium-native is installed but the backend is ' + shsCrypto.name)
await Promise.all([conn.close(), listener.close()])
`
writeFileSync(
  join(node, 'quickstart.mjs'),
  `import { createMultiServer } from '@ms/core'\nimport { net } from '@ms/net'\nimport { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'\n${quickstart}console.log('ok')\n`,
)
writeFileSync(
  join(node, 'quickstart.cjs'),
  `const { createMultiServer } = require('@ms/core')\nconst { net } = require('@ms/net')\nconst { shs, shsCrypto, SSB_APP_KEY } = require('@ms/shs')\nasync function main() {\n${quickstart}}\nmain().then(() => console.log('ok'), (error) => { console.error(error); process.exit(1) })\n`,
)
check('Quick start as ES module', () => {
  if (run('node', ['quickstart.mjs'], { cwd: node }).trim() !== 'ok') throw new Error('did not print ok')
})
check('Quick start as CommonJS (require of ESM)', () => {
  if (run('node', ['quickstart.cjs'], { cwd: node }).trim() !== 'ok') throw new Error('did not print ok')
})
check('the ms CLI', () => {
  const bin = join(node, 'node_modules/.bin/ms')
  const version = run(bin, ['--version'], { cwd: node }).trim()
  if (version !== JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')).version) throw new Error(`ms --version printed ${version}`)
  run(bin, ['parse', 'net:127.0.0.1:8008~shs:ppjlw3EGGD4GwcbVmHSfTA2e7U37TKu9UNbq5QeNTSo='], { cwd: node })
})
step('ran the Quick start (ESM, CommonJS) and the CLI')

// Every entry point of every package, type-checked as a user's project would.
const entryImports = []
for (const [name, file] of tarballOf) {
  const manifest = JSON.parse(run('tar', ['-xzOf', file, 'package/package.json']))
  for (const subpath of Object.keys(manifest.exports ?? { '.': null })) {
    if (subpath === './package.json') continue
    entryImports.push(`${name}${subpath.slice(1)}`)
  }
}
const entriesTs =
  entryImports.map((spec, i) => `import * as entry${i} from '${spec}'`).join('\n') +
  `\nexport const entries = [${entryImports.map((_, i) => `entry${i}`).join(', ')}]\n`
writeFileSync(join(node, 'entries.ts'), entriesTs)
writeFileSync(
  join(node, 'quickstart.ts'),
  `import { createMultiServer, isMsError, type Connection } from '@ms/core'\nimport { net } from '@ms/net'\nimport { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'\n${quickstart}const peer: Connection = conn\nconst key: Uint8Array | undefined = peer.info.shs?.publicKey\nexport const kinds = [isMsError(new Error('x'), 'DialError'), key]\n`,
)
const tsBase = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2022'], types: ['node'], exactOptionalPropertyTypes: false }
for (const [label, options] of [
  ['node16', { module: 'node16', moduleResolution: 'node16' }],
  ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }],
  ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
]) {
  writeJson(join(node, `tsconfig.${label}.json`), { compilerOptions: { ...tsBase, ...options }, files: ['quickstart.ts', 'entries.ts'] })
  check(`TypeScript (${label}, strict, no skipLibCheck, Node types only)`, () => run('node', [tsc, '-p', `tsconfig.${label}.json`], { cwd: node }))
}
step(`type-checked ${entryImports.length} entry points under node16, nodenext, bundler`)

// A third-party transform against the packed compliance suite.
writeFileSync(join(node, 'rot13.ts'), readFileSync(join(root, 'examples/snippets/src/rot13.ts'), 'utf8'))
mkdirSync(join(node, 'test'))
writeFileSync(
  join(node, 'test/rot13.test.ts'),
  `import { transformSuite } from '@ms/compliance'\nimport { rot13 } from '../rot13.ts'\n\ntransformSuite({ name: 'rot13 (third party)', server: () => [rot13()], client: () => [rot13()] })\n`,
)
writeFileSync(join(node, 'vitest.config.mjs'), `export default { test: { include: ['test/**/*.test.ts'], testTimeout: 30000 } }\n`)
check('a third-party transform passes the packed compliance suite', () => {
  const out = run(join(node, 'node_modules/.bin/vitest'), ['run', '--reporter=dot'], { cwd: node, env: { ...process.env, CI: '1', NO_COLOR: '1', FORCE_COLOR: '0' } })
  const passed = out.match(/Tests\s+(\d+) passed/)
  if (!passed || Number(passed[1]) < 10) throw new Error(`unexpected vitest output:\n${out.slice(-2000)}`)
})
step('ran rot13 against the packed compliance suite')

// ---- 3. a browser-only project ------------------------------------------
const web = join(work, 'browser-app')
mkdirSync(web)
writeJson(join(web, 'package.json'), {
  name: 'ms-pack-check-browser',
  private: true,
  type: 'module',
  dependencies: Object.fromEntries(['@ms/core', '@ms/ws', '@ms/shs', '@ms/noise', '@ms/identity'].filter((name) => tarballOf.has(name)).map((name) => [name, `file:${tarballOf.get(name)}`])),
})
run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefer-offline'], { cwd: web })
step('npm installed core, ws, shs and noise into a browser-only project')

check('a browser-only install has no native packages', () => {
  // What npm actually put on disk (`npm ls` also lists optional peers it did not install).
  const installed = []
  const walk = (dir) => {
    if (!existsSync(dir)) return
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.')) continue
      if (entry.startsWith('@')) {
        for (const scoped of readdirSync(join(dir, entry))) installed.push(`${entry}/${scoped}`), walk(join(dir, entry, scoped, 'node_modules'))
      } else installed.push(entry), walk(join(dir, entry, 'node_modules'))
    }
  }
  walk(join(web, 'node_modules'))
  const native = installed.filter((name) => ['sodium-native', 'bufferutil', 'utf-8-validate', 'node-gyp-build', 'require-addon'].includes(name))
  if (native.length > 0) throw new Error(`installed: ${native.join(', ')}`)
})
check('Node without sodium-native falls back to @noble and says so', () => {
  const script = `import { createMultiServer } from '@ms/core'
import { ws } from '@ms/ws'
import { shs, shsCrypto, sodiumCrypto, sodiumLoadError, SSB_APP_KEY } from '@ms/shs'
if (shsCrypto.name !== 'noble' || sodiumCrypto !== undefined || sodiumLoadError === undefined) throw new Error('no fallback: ' + shsCrypto.name)
const noise = await import('@ms/noise').catch(() => undefined)
if (noise && (noise.noiseCrypto.name !== 'noble' || noise.sodiumLoadError === undefined)) throw new Error('no noise fallback: ' + noise.noiseCrypto.name)
const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const ms = createMultiServer([[ws({ host: '127.0.0.1', port: 0 }), shs({ keys, appKey: SSB_APP_KEY })]])
const listener = await ms.listen((c) => void c.readable.pipeTo(c.writable).catch(() => c.close()))
const conn = await ms.connect(ms.stringify('device'))
await conn.writable.getWriter().write(new TextEncoder().encode('hi'))
const { value } = await conn.readable.getReader().read()
if (new TextDecoder().decode(value) !== 'hi') throw new Error('no echo')
await Promise.all([conn.close(), listener.close()])
console.log('ok')
`
  writeFileSync(join(web, 'fallback.mjs'), script)
  if (run('node', ['fallback.mjs'], { cwd: web }).trim() !== 'ok') throw new Error('did not print ok')
})

writeFileSync(
  join(web, 'client.ts'),
  `import { createMultiServer, isMsError, type Connection } from '@ms/core'
import { ws } from '@ms/ws'
import { shs, shsCrypto, SSB_APP_KEY } from '@ms/shs'

const keys = shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const client = createMultiServer([[ws(), shs({ keys, appKey: SSB_APP_KEY })]])
export async function dial(address: string): Promise<Connection | string> {
  try {
    return await client.connect(address)
  } catch (error) {
    if (isMsError(error, 'DialError')) return error.code ?? 'dial failed'
    throw error
  }
}
`,
)
check(`the browser client bundles without Node built-ins within ${BUNDLE_BUDGET / 1024} KiB gzipped`, () => {
  const result = esbuild.buildSync({
    absWorkingDir: web,
    entryPoints: ['client.ts'],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const inputs = Object.keys(result.metafile.inputs)
  const nodeish = inputs.filter((input) => /(^|\/)(node:|sodium-native|bufferutil|ws\/lib)/.test(input))
  if (nodeish.length > 0) throw new Error(`Node-only modules in the bundle: ${nodeish.join(', ')}`)
  const code = result.outputFiles[0].contents
  const text = Buffer.from(code).toString('utf8')
  if (/from\s*"node:|require\("node:|import\("node:/.test(text)) throw new Error('the bundle imports a node: built-in')
  const gzipped = gzipSync(code, { level: 9 }).length
  step(`browser bundle core+ws+shs: ${(code.length / 1024).toFixed(1)} KiB minified, ${(gzipped / 1024).toFixed(1)} KiB gzipped`)
  if (gzipped > BUNDLE_BUDGET) throw new Error(`${(gzipped / 1024).toFixed(1)} KiB gzipped is over the budget`)
})

// Browser TypeScript: DOM lib, no @types/node installed at all.
const browserTs = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [], module: 'esnext', moduleResolution: 'bundler', allowImportingTsExtensions: true }
writeJson(join(web, 'tsconfig.browser-condition.json'), { compilerOptions: { ...browserTs, customConditions: ['browser'] }, files: ['client.ts'] })
writeFileSync(join(web, 'client-entries.ts'), readFileSync(join(web, 'client.ts'), 'utf8').replace("from '@ms/ws'", "from '@ms/ws/browser'").replace("from '@ms/shs'", "from '@ms/shs/noble'"))
writeJson(join(web, 'tsconfig.browser-entries.json'), { compilerOptions: browserTs, files: ['client-entries.ts'] })
check('browser TypeScript with customConditions ["browser"]', () => run('node', [tsc, '-p', 'tsconfig.browser-condition.json'], { cwd: web }))
check('browser TypeScript without the condition, through @ms/ws/browser and @ms/shs/noble', () => run('node', [tsc, '-p', 'tsconfig.browser-entries.json'], { cwd: web }))
step('checked the browser-only project')

if (!keep) rmSync(work, { recursive: true, force: true })
step(failures.length === 0 ? 'all passed' : `${failures.length} failed`)
process.exitCode = failures.length === 0 ? 0 : 1
