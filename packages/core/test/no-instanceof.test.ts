import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

// `instanceof` on core's error classes fails when an app holds two copies of
// @ms/core (a plugin pinning another version): library code must use
// `isMsError(err, 'DialError')` or `DialError.is(err)` instead.
const repo = join(import.meta.dirname, '..', '..', '..')
const CORE_ERRORS = ['MsError', 'AddressError', 'NoTransportError', 'AbortError', 'TimeoutError', 'DialError', 'ListenError', 'HandshakeError', 'StreamError', 'ConnectError', 'LimitError']
const pattern = new RegExp(`instanceof\\s+(${CORE_ERRORS.join('|')})\\b`)

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return sources(path)
    return /\.(ts|mts|js|mjs)$/.test(entry) && !/\.test\.ts$/.test(entry) ? [path] : []
  })
}

describe('library code recognises core errors without instanceof', () => {
  it('no package source uses instanceof on a core error class', () => {
    const offenders: string[] = []
    for (const name of readdirSync(join(repo, 'packages'))) {
      const src = join(repo, 'packages', name, 'src')
      try {
        statSync(src)
      } catch {
        continue
      }
      for (const file of sources(src)) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (pattern.test(line)) offenders.push(`${file.slice(repo.length + 1)}:${i + 1}: ${line.trim()}`)
          })
      }
    }
    expect(offenders).toEqual([])
  })
})
