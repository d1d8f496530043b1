#!/usr/bin/env node
// Checks the pending changesets against our release policy (docs/RELEASING.md):
// - an unreleased package (version `x.y.z-0`) must be released by them, or
//   `changeset publish` would publish the prerelease version itself;
// - no private package (examples, bench, soak) is versioned;
// - a package that goes major takes its dependents (`dependencies`) major
//   with it: changesets alone gives them a patch, which understates a wire
//   change of a protocol the dependent speaks (the CLI and shs).
// Prints the plan. Usage: node scripts/check-release-plan.mjs
import { createRequire } from 'node:module'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const changesets = createRequire(createRequire(join(root, 'package.json')).resolve('@changesets/cli/package.json'))
const getReleasePlan = changesets('@changesets/get-release-plan').default

const plan = await getReleasePlan(root)
const releases = new Map(plan.releases.filter((r) => r.type !== 'none').map((r) => [r.name, r]))
const packages = ['packages', 'examples']
  .flatMap((group) => readdirSync(join(root, group)).map((dir) => join(root, group, dir, 'package.json')))
  .concat([join(root, 'bench/package.json'), join(root, 'soak/package.json')])
  .filter((file) => existsSync(file))
  .map((file) => JSON.parse(readFileSync(file, 'utf8')))

const problems = []
for (const pkg of packages) {
  const release = releases.get(pkg.name)
  if (pkg.private) {
    if (release) problems.push(`${pkg.name} is private but would be versioned ${release.newVersion}`)
    continue
  }
  if (pkg.version.includes('-') && !release) problems.push(`${pkg.name} is unreleased (${pkg.version}) and no changeset releases it: add .changeset/<name>.md with "${pkg.name}": minor`)
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    if (releases.get(dep)?.type === 'major' && release?.type !== 'major') {
      problems.push(`${dep} goes major but its dependent ${pkg.name} goes ${release?.type ?? 'nowhere'}: add "${pkg.name}": major to the changeset (docs/RELEASING.md)`)
    }
  }
}
for (const release of releases.values()) process.stdout.write(`release-plan: ${release.name} ${release.oldVersion} -> ${release.newVersion} (${release.type})\n`)
for (const problem of problems) process.stdout.write(`release-plan: FAIL ${problem}\n`)
process.exitCode = problems.length === 0 ? 0 : 1
