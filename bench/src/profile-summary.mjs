#!/usr/bin/env node
// Summarises the .cpuprofile files written by `--cpu-prof DIR`: busy time
// by package (or Node subsystem), then the top functions by self time.
//
//   node src/profile-summary.mjs DIR [filter] [--top N]
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'

const args = process.argv.slice(2)
const topIndex = args.indexOf('--top')
const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 15
const [target, filter = ''] = args
if (!target) {
  console.error('usage: node src/profile-summary.mjs DIR|FILE [name filter] [--top N]')
  process.exit(2)
}
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile') && f.includes(filter))
      .sort()
      .map((f) => path.join(target, f))
  : [target]

function where(url, name) {
  if (!url) return name.startsWith('(') ? name : `(native) ${name}`
  const pkg = url.match(/node_modules\/\.pnpm\/([^/]+?)@[^/]*\/node_modules\//)
  if (pkg) return pkg[1]
  const ours = url.match(/\/work\/[^/]+\/(?:[^/]+\/)?(packages\/[^/]+|bench\/src\/[^/]+)/)
  if (ours) return ours[1]
  const internal = url.match(/^node:internal\/(webstreams|streams|abort_controller|event_target|net|timers|buffer)/)
  if (internal) return `node:${internal[1]}`
  if (url.startsWith('node:internal/')) return 'node:internal (other)'
  return url.replace(/^file:\/\//, '')
}

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    self.set(id, (self.get(id) ?? 0) + dt)
    total += dt
  })
  const byPlace = new Map()
  const byFunction = new Map()
  let idle = 0
  for (const [id, t] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame
    if (functionName === '(idle)') idle += t
    const place = where(url, functionName)
    byPlace.set(place, (byPlace.get(place) ?? 0) + t)
    const fn = `${functionName || '(anonymous)'} (${place}${url ? `:${lineNumber + 1}` : ''})`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + t)
  }
  const busy = total - idle
  const ms = (t) => `${(t / 1000).toFixed(0).padStart(7)} ms`
  const share = (t) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`
  console.log(`\n${path.basename(file)}: ${(busy / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle`)
  console.log('  by place (self time, % of busy):')
  for (const [k, t] of [...byPlace].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(t)} ${share(t)}  ${k}`)
  console.log('  by function:')
  for (const [k, t] of [...byFunction].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(t)} ${share(t)}  ${k}`)
}
