#!/usr/bin/env node
// The design promise: a protocol is a package you can leave out. This check
// copies the workspace to a temp dir, deletes one protocol package (default
// `shs`) and shows that the other packages still install (offline, from the
// pnpm store), build, type-check and pass their own tests.
//
// What legitimately goes with the dropped package is removed with it, and
// listed:
// - test files that import it (cross-package integration tests such as
//   ws~shs compliance or the Tor test over onion~shs);
// - source files that import it, but only when they are a separate entry
//   point of their package (e.g. `@ms/compat/plugins/shs`, whose peer
//   dependency on @ms/shs is optional): the entry leaves tsup's config and
//   the exports map. A non-entry source file that imports it fails the check;
// - packages that depend on it outright: the CLI (it offers shs), the
//   examples, bench and soak (they demonstrate and measure it).
//
// Usage: node scripts/drop-protocol-check.mjs [package-folder] [--keep] [--no-tests]
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const dropped = args.find((a) => !a.startsWith('--')) ?? 'shs'
const keep = args.includes('--keep')
const tests = !args.includes('--no-tests')
const droppedName = `@ms/${dropped}`
const started = Date.now()
const log = (line) => process.stdout.write(`drop-check: ${line} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
function run(command, argv, cwd) {
  try {
    return execFileSync(command, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
  } catch (error) {
    throw new Error(`${command} ${argv.join(' ')} failed:\n${`${error.stdout ?? ''}${error.stderr ?? ''}`.slice(-8000)}`)
  }
}

const work = mkdtempSync(join(tmpdir(), `ms-drop-${dropped}-`))
// Tracked and untracked-but-not-ignored files: the workspace as a fresh clone would have it.
const files = run('git', ['ls-files', '-co', '--exclude-standard', '-z'], root).split('\0').filter(Boolean)
const archive = execFileSync('tar', ['-cf', '-', '--null', '-T', '-'], { cwd: root, input: files.join('\0'), maxBuffer: 1 << 30 })
execFileSync('tar', ['-xf', '-'], { cwd: work, input: archive })
log(`copied the workspace to ${work}`)

const removed = []
const remove = (path, why) => {
  rmSync(join(work, path), { recursive: true, force: true })
  removed.push(`${path}: ${why}`)
}
remove(`packages/${dropped}`, 'the dropped protocol')

const readJson = (path) => JSON.parse(readFileSync(join(work, path), 'utf8'))
const writeJson = (path, value) => writeFileSync(join(work, path), JSON.stringify(value, null, 2) + '\n')
const walk = (dir) =>
  existsSync(dir)
    ? readdirSync(dir).flatMap((entry) => {
        const path = join(dir, entry)
        return statSync(path).isDirectory() ? (entry === 'node_modules' || entry === 'dist' ? [] : walk(path)) : [path]
      })
    : []
// An import or require of the dropped package (not a mention in a comment).
// Also the entry points of other packages removed with it (`@ms/compat/plugins/shs`).
const droppedSpecifiers = [droppedName]
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
const importsDropped = (file) => {
  if (!/\.(ts|mts|js|mjs|cjs)$/.test(file)) return false
  const specifiers = droppedSpecifiers.map((spec, i) => (i === 0 ? `${escape(spec)}(/[^'"]*)?` : escape(spec))).join('|')
  const importPattern = new RegExp(`(\\bfrom\\s*|\\bimport\\s*\\(?\\s*|\\brequire\\(\\s*)['"](${specifiers})['"]`)
  return readFileSync(file, 'utf8')
    .split('\n')
    .some((line) => !/^\s*(\*|\/\/)/.test(line) && importPattern.test(line))
}

// Workspace packages that depend on it outright go with it.
// The workspace's packages, from pnpm-workspace.yaml (`dir` or `dir/*` entries).
const globs = [...(readFileSync(join(work, 'pnpm-workspace.yaml'), 'utf8').match(/^packages:\n((?:[ \t]+.*\n?)*)/m)?.[1] ?? '').matchAll(/^\s+-\s+['"]?([^'"\s]+)['"]?\s*$/gm)].map((m) => m[1])
const workspaceDirs = globs.flatMap((glob) =>
  glob.endsWith('/*') ? (existsSync(join(work, glob.slice(0, -2))) ? readdirSync(join(work, glob.slice(0, -2))).map((d) => `${glob.slice(0, -2)}/${d}`) : []) : [glob],
)
for (const dir of workspaceDirs) {
  if (!existsSync(join(work, dir, 'package.json'))) continue
  const pkg = readJson(`${dir}/package.json`)
  const optionalPeer = pkg.peerDependenciesMeta?.[droppedName]?.optional === true
  if (pkg.dependencies?.[droppedName] || (pkg.peerDependencies?.[droppedName] && !optionalPeer)) {
    remove(dir, `${pkg.name} depends on ${droppedName}`)
  }
}
// Examples depend on each other (upgrade on deflate); drop dependents of what is gone.
for (let changed = true; changed; ) {
  changed = false
  const gone = new Set(removed.map((r) => r.split(':')[0]))
  for (const dir of workspaceDirs) {
    if (gone.has(dir) || !existsSync(join(work, dir, 'package.json'))) continue
    const pkg = readJson(`${dir}/package.json`)
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })
    const missing = deps.filter((dep) => dep.startsWith('@ms/') && dep !== droppedName && ![...workspaceDirs].some((d) => !gone.has(d) && existsSync(join(work, d, 'package.json')) && readJson(`${d}/package.json`).name === dep))
    if (missing.length > 0) {
      remove(dir, `depends on ${missing.join(', ')}, removed above`)
      changed = true
    }
  }
}

// The remaining packages: drop the dev/optional-peer links, and the files that go with it.
const kept = workspaceDirs.filter((dir) => existsSync(join(work, dir, 'package.json')))
for (const dir of kept) {
  const pkg = readJson(`${dir}/package.json`)
  let touched = false
  for (const field of ['devDependencies', 'peerDependencies', 'peerDependenciesMeta', 'optionalDependencies']) {
    if (pkg[field]?.[droppedName]) {
      delete pkg[field][droppedName]
      touched = true
    }
  }
  const sources = walk(join(work, dir, 'src')).filter(importsDropped)
  for (const file of sources) {
    const rel = relative(join(work, dir), file)
    const tsupPath = join(work, dir, 'tsup.config.ts')
    const tsup = existsSync(tsupPath) ? readFileSync(tsupPath, 'utf8') : ''
    const line = tsup.split('\n').find((l) => l.includes(`'${rel}'`))
    const entry = line?.match(/^\s*'?([\w/.-]+)'?\s*:/)?.[1]
    if (!entry) throw new Error(`${dir}/${rel} imports ${droppedName} but is not an entry point of its own: ${pkg.name} cannot do without ${droppedName}`)
    writeFileSync(tsupPath, tsup.replace(`${line}\n`, ''))
    delete pkg.exports?.[`./${entry}`]
    droppedSpecifiers.push(`${pkg.name}/${entry}`)
    remove(`${dir}/${rel}`, `the ${pkg.name}/${entry} entry point, which needs ${droppedName}`)
    touched = true
  }
  if (touched) writeJson(`${dir}/package.json`, pkg)
}
// Tests, benchmarks and other files outside src/ that use it or a removed entry point (e.g. ws's bench of ws~shs).
for (const dir of kept) {
  const name = readJson(`${dir}/package.json`).name
  const outsideSrc = readdirSync(join(work, dir)).filter((entry) => !['src', 'node_modules', 'dist'].includes(entry))
  for (const file of outsideSrc.flatMap((entry) => (statSync(join(work, dir, entry)).isDirectory() ? walk(join(work, dir, entry)) : [join(work, dir, entry)]))) {
    if (importsDropped(file)) remove(relative(work, file), `a test or benchmark of ${name} with ${droppedName}`)
  }
}
// Nothing left may still import it.
for (const dir of kept) {
  for (const file of walk(join(work, dir))) {
    if (importsDropped(file)) throw new Error(`${relative(work, file)} still imports ${droppedSpecifiers.join(' or ')}`)
  }
}
for (const line of removed) log(`removed ${line}`)

try {
  run('pnpm', ['install', '--offline', '--no-frozen-lockfile', '--config.confirmModulesPurge=false'], work)
  log('installed offline from the pnpm store')
} catch {
  // Re-resolving the smaller lockfile can need registry metadata the store's cache lacks.
  run('pnpm', ['install', '--prefer-offline', '--no-frozen-lockfile', '--config.confirmModulesPurge=false'], work)
  log('installed from the pnpm store (--prefer-offline: some registry metadata was not cached)')
}
const names = kept.filter((d) => d.startsWith('packages/')).map((d) => readJson(`${d}/package.json`).name)
const filters = names.flatMap((name) => ['--filter', name])
run('pnpm', [...filters, '--workspace-concurrency=1', 'run', 'build'], work)
log(`built ${names.join(', ')}`)
run('pnpm', [...filters, 'run', 'typecheck'], work)
log('type-checked')
if (tests) {
  const projects = kept.filter((d) => d.startsWith('packages/')).flatMap((d) => ['--project', d.split('/')[1]])
  const out = run('npx', ['vitest', 'run', ...projects, '--reporter=dot'], work)
  const summary = out.split('\n').filter((l) => /Test Files|Tests /.test(l)).join('; ')
  log(`tests passed: ${summary.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, ' ')}`)
}
if (!keep) rmSync(work, { recursive: true, force: true })
log(`${droppedName} can be dropped: ${names.join(', ')} install, build, type-check${tests ? ' and pass their tests' : ''} without it`)
