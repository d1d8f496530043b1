// The `@ms/source` export condition points the workspace's own tools
// (vitest, tsc, tsx, esbuild) at TypeScript sources. It means nothing to a
// user and must not reach the registry, so `pnpm pack` / `pnpm publish`
// (which `changeset publish` runs) drop it from the packed package.json.
// scripts/pack-check.mjs verifies the tarballs.
'use strict'

const PRIVATE_CONDITION = '@ms/source'

function stripCondition(value) {
  if (Array.isArray(value)) return value.map(stripCondition)
  if (value === null || typeof value !== 'object') return value
  const out = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === PRIVATE_CONDITION) continue
    out[key] = stripCondition(inner)
  }
  return out
}

module.exports = {
  hooks: {
    beforePacking(pkg) {
      if (pkg.exports !== undefined) pkg.exports = stripCondition(pkg.exports)
      if (pkg.imports !== undefined) pkg.imports = stripCondition(pkg.imports)
      return pkg
    },
  },
}
