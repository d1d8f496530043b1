#!/usr/bin/env node
// Runs npm multiserver's own tape files, unchanged, against @ms/compat's
// drop-in entry points, and counts the assertions that pass.
//
//   node packages/compat/scripts/original-tape.mjs <dir with plugs.js, multi.js, async-server-close.js>
//
// The files are not shipped in the npm package (and are not ours to copy
// into this repository): take them from a checkout of ssbc/multiserver at
// v3.8.2 (its test/ folder). The harness lays them out as in that repository,
// with the package's own files replaced by one-line shims that re-export
// @ms/compat (the whole migration a user makes), and runs each file in a
// fresh network namespace (`unshare -rn`) so their fixed ports (4848…) meet
// nothing else on the machine. Needs a built @ms/compat (`npx tsup`).
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const FILES = ['plugs.js', 'multi.js', 'async-server-close.js']
// What each file plans, counted in the original at v3.8.2 (89 in all).
const PLANNED = { 'plugs.js': 75, 'multi.js': 5, 'async-server-close.js': 9 }
const SHIMS = {
  'index.js': 'multiserver',
  'compose.js': 'compose',
  'plugins/net.js': 'plugins/net',
  'plugins/ws.js': 'plugins/ws',
  'plugins/shs.js': 'plugins/shs',
  'plugins/unix-socket.js': 'plugins/unix-socket',
  'plugins/noauth.js': 'plugins/noauth',
  'plugins/onion.js': 'plugins/onion',
}

export function runOriginalTape(testDir, { timeoutMs = 90_000 } = {}) {
  const compat = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const root = mkdtempSync(join(tmpdir(), 'ms-original-tape-'))
  try {
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'multiserver', version: '3.8.2', type: 'commonjs' }))
    mkdirSync(join(root, 'plugins'))
    for (const [file, entry] of Object.entries(SHIMS)) writeFileSync(join(root, file), `module.exports = require('@ms/compat/${entry}')\n`)
    mkdirSync(join(root, 'node_modules', '@ms'), { recursive: true })
    symlinkSync(compat, join(root, 'node_modules', '@ms', 'compat'))
    // tape, pull-stream, pull-pushable, chloride: compat's dev dependencies.
    for (const name of readdirSync(join(compat, 'node_modules'))) {
      if (!name.startsWith('@') && !name.startsWith('.')) symlinkSync(join(compat, 'node_modules', name), join(root, 'node_modules', name))
    }
    mkdirSync(join(root, 'test'))
    const results = {}
    for (const file of FILES) {
      cpSync(join(testDir, file), join(root, 'test', file))
      const run = spawnSync('unshare', ['-rn', 'sh', '-c', `ip link set lo up && exec node test/${file}`], {
        cwd: root,
        encoding: 'utf8',
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        env: { ...process.env, NODE_OPTIONS: '' },
      })
      const out = run.stdout ?? ''
      const passed = (out.match(/^ok \d+/gm) ?? []).length
      const failed = (out.match(/^not ok \d+/gm) ?? []).length
      results[file] = {
        planned: PLANNED[file],
        passed,
        failed,
        exit: run.status,
        timedOut: run.error?.code === 'ETIMEDOUT' || run.signal === 'SIGKILL',
        failures: out.split('\n').filter((l) => /^not ok /.test(l)),
        stderr: (run.stderr ?? '').split('\n').filter((l) => /Error|error/.test(l)).slice(0, 5),
      }
    }
    const total = { planned: 89, passed: Object.values(results).reduce((n, r) => n + r.passed, 0) }
    return { total, results }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2]
  if (!dir) {
    process.stderr.write('usage: original-tape.mjs <dir with the original test files>\n')
    process.exit(2)
  }
  const report = runOriginalTape(resolve(dir))
  process.stdout.write(JSON.stringify(report, null, 2) + '\n')
}
