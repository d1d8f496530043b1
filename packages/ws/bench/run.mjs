// Bundles bench/bulk.ts (TypeScript sources through the @ms/source
// condition) with esbuild and runs it: no build of the packages needed.
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const dir = mkdtempSync(join(here, '.tmp-'))
try {
  const outfile = join(dir, 'bulk.mjs')
  await build({
    entryPoints: [join(here, 'bulk.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@ms/source'],
    // Our packages are bundled from source; everything from npm stays external.
    plugins: [
      {
        name: 'externals',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.path.startsWith('@ms/') || args.pluginData?.inner) return undefined
            // Resolved where it was imported (a dependency of another workspace package), then left external.
            const resolved = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: { inner: true } })
            return { path: resolved.path, external: true }
          })
        },
      },
    ],
    outfile,
    logLevel: 'error',
  })
  // NODE_FLAGS (e.g. `--cpu-prof`) go to the benchmark process.
  const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean)
  const result = spawnSync(process.execPath, [...flags, outfile, ...process.argv.slice(2)], { stdio: 'inherit', cwd: here })
  process.exitCode = result.status ?? 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
