import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
const docs = ['README.md', 'docs/README-draft.md'].filter((path) => existsSync(repo + path))

/**
 * Every TypeScript block in the docs must be a copy of a file under
 * examples/snippets/src (which CI type-checks and runs), marked
 * `<!-- snippet: PATH -->` on the line before it.
 */
describe.each(docs)('%s', (doc) => {
  const text = readFileSync(repo + doc, 'utf8')
  const blocks = [...text.matchAll(/(?:<!-- snippet: (\S+) -->\n)?```(ts|typescript)\n([\s\S]*?)```/g)]

  it('marks every TypeScript block with the snippet file it comes from', () => {
    const unmarked = blocks.filter((m) => !m[1]).map((m) => m[3]!.split('\n')[0])
    expect(unmarked, 'ts blocks without a <!-- snippet: PATH --> marker').toEqual([])
  })

  it.each(blocks.filter((m) => m[1]).map((m) => [m[1]!, m[3]!] as const))('%s matches its file', (path, code) => {
    expect(path.startsWith('examples/snippets/src/')).toBe(true)
    expect(code.trimEnd()).toBe(readFileSync(repo + path, 'utf8').trimEnd())
  })
})
