import { readdirSync, existsSync } from 'node:fs'
import { defineConfig } from 'vitest/config'

// One root config; every workspace package with tests is a project.
// Tests live next to the code (`src/**/*.test.ts`) or in `test/`.
const groups = ['packages', 'examples']
const projects = groups.flatMap((group) =>
  existsSync(group)
    ? readdirSync(group, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => `${group}/${d.name}`)
    : [],
)
// Top-level workspace packages with tests of their own (the hostile-network soak, the bench smoke run,
// the smoke run of every package's built dist).
for (const single of ['soak', 'bench', 'smoke']) if (existsSync(single)) projects.push(single)

export default defineConfig({
  // Resolve workspace packages to their TypeScript sources (the `@ms/source`
  // export condition), so tests never need a build first.
  resolve: { conditions: ['@ms/source', 'module', 'browser', 'development|production'] },
  ssr: { resolve: { conditions: ['@ms/source', 'module', 'node', 'development|production'] } },
  test: {
    projects: projects.map((root) => ({
      extends: true,
      test: {
        name: root.split('/').at(-1),
        root,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 120_000,
      },
    })),
  },
})
