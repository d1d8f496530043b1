// Bundles the soak programs (server, client, orchestrator, fault peers) with
// the workspace packages' TypeScript sources (the `@ms/source` condition),
// so `pnpm soak` needs no prior build of @ms/*. Third-party packages stay
// external (sodium-native is native; ws has optional native add-ons).
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
await build({
  absWorkingDir: root,
  entryPoints: ['src/soak.ts', 'src/server.ts', 'src/client.ts', 'src/fault-server.ts', 'src/fault-client.ts'],
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  conditions: ['@ms/source'],
  logLevel: 'warning',
  logOverride: { 'ignored-bare-import': 'silent' },
  plugins: [
    {
      name: 'external-third-party',
      setup(b) {
        // Bundle our workspace (@ms/*), the pure-JS @noble/* it depends on (the
        // soak does not, so node could not find them from dist/) and relative
        // imports; leave the rest to node.
        b.onResolve({ filter: /^[^./]/ }, (args) => (/^@(ms|noble)\//.test(args.path) ? undefined : { path: args.path, external: true }))
      },
    },
  ],
})
