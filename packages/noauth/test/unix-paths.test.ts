/**
 * unix~noauth end to end over socket paths holding every character the
 * address grammar gives a meaning to (issue 19, finding 4). The unix
 * transport used to write `remoteAddress` as `unix:<path>` unescaped: with
 * `;` or `!` in the path noauth could not parse it and refused every
 * connection, both ways, although the advertised address was escaped.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { createMultiServer, parseAddress, type Connection } from '@ms/core'
import { readAll, writeAll } from '@ms/compliance'
import { unix } from '@ms/unix'
import { noauth } from '../src/index.js'

const root = mkdtempSync(join(tmpdir(), 'ms-up-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

// Every printable ASCII character the grammar can carry, its specials first: `!` escapes,
// `;` separates alternatives, `~` transforms, `:` data. Not `/` (a directory) nor space
// (the grammar cannot carry it, so such a path is refused when configured).
const SPECIALS = [';', '~', ':', '!', ',', '"', '#', '=', '{', '}', '|', '\\', "'", '`', '<', '>', '?', '*', '[', ']', '%', '&', '(', ')', '@', '^', '$', '+']
const PLAIN = 'abcXYZ019-_.'
const nameArb = fc
  .array(fc.constantFrom(...SPECIALS, ...PLAIN.split('')), { minLength: 1, maxLength: 30 })
  .map((chars) => chars.join(''))
  .filter((name) => name !== '.' && name !== '..')

/** The path a unix address names (colons are data separators, joined back). */
function pathIn(address: string): string {
  const [transport, ...rest] = parseAddress(address)
  expect(transport!.name).toBe('unix')
  expect(rest.map((s) => s.name)).toEqual(['noauth'])
  return transport!.data.join(':')
}

async function roundTrip(path: string) {
  const server = createMultiServer([[unix({ path }), noauth()]])
  let inbound!: (c: Connection) => void
  const accepted = new Promise<Connection>((resolve) => (inbound = resolve))
  const errors: unknown[] = []
  const listener = await server.listen((c) => inbound(c), { onError: (e) => errors.push(e) })
  try {
    const advertised = server.stringify()
    expect(pathIn(advertised)).toBe(path)
    const client = await createMultiServer([[unix(), noauth()]]).connect(advertised, { timeout: 5000 })
    const served = await accepted
    try {
      // Both ends name the socket in an address that parses back to it.
      expect(pathIn(client.remoteAddress)).toBe(path)
      expect(pathIn(served.remoteAddress)).toBe(path)
      // And bytes flow both ways.
      await Promise.all([writeAll(client.writable, new Uint8Array([1, 2, 3])), writeAll(served.writable, new Uint8Array([4, 5]))])
      expect([...(await readAll(served.readable))]).toEqual([1, 2, 3])
      expect([...(await readAll(client.readable))]).toEqual([4, 5])
    } finally {
      await Promise.all([client.close(), served.close()])
    }
    expect(errors).toEqual([])
  } finally {
    await listener.close()
  }
}

describe('unix~noauth over paths with grammar characters', () => {
  it('dials, accepts and names a socket whose path holds every special character at once', async () => {
    await roundTrip(join(root, SPECIALS.join('')))
  })

  it('does so for arbitrary such paths (fast-check)', async () => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(nameArb, async (name) => {
        const dir = join(root, String(n++))
        mkdirSync(dir)
        await roundTrip(join(dir, name))
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 30) },
    )
  })
})
