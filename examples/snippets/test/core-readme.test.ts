import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The transform guide in @ms/core's README shows whole files from
// examples/snippets/src, which CI type-checks and runs: they must match.
const repo = fileURLToPath(new URL('../../../', import.meta.url))
const text = readFileSync(repo + 'packages/core/README.md', 'utf8')
const blocks = [...text.matchAll(/<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```/g)]

describe('packages/core/README.md', () => {
  it('shows the transform guide as snippets', () => {
    expect(blocks.map((m) => m[1])).toEqual(expect.arrayContaining(['examples/snippets/src/xor.ts', 'examples/snippets/src/xor.test.ts']))
  })

  it.each(blocks.map((m) => [m[1]!, m[2]!] as const))('%s matches its file', (path, code) => {
    expect(code.trimEnd()).toBe(readFileSync(repo + path, 'utf8').trimEnd())
  })
})
