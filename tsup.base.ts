import { defineConfig, type Options } from 'tsup'

/**
 * The one build every package shares: ESM, declarations, sourcemaps, one
 * output file per entry. A package's own `tsup.config.ts` is one line that
 * names its entries.
 */
export function packageConfig(entry: Options['entry'] = ['src/index.ts'], extra: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    ...extra,
  })
}
