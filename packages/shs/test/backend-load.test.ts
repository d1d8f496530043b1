import { describe, expect, it } from 'vitest'
import * as node from '@ms/shs'
import * as noble from '@ms/shs/noble'
import { loadSodiumCrypto } from '../src/crypto/sodium.js'

// sodium-native is an optional peer dependency: Node entry falls back to
// @noble when it is missing and says so through `shsCrypto.name` and
// `sodiumLoadError`. The packed-install check (scripts/pack-check.mjs)
// covers a real install without sodium-native.
describe('sodium-native loading', () => {
  it('uses sodium-native when it loads (the workspace has it)', () => {
    expect(node.sodiumLoadError).toBeUndefined()
    expect(node.sodiumCrypto?.name).toBe('sodium')
    expect(node.shsCrypto).toBe(node.sodiumCrypto)
  })

  it('reports why when sodium-native cannot be required', () => {
    const missing = Object.assign(new Error("Cannot find module 'sodium-native'"), { code: 'MODULE_NOT_FOUND' })
    const result = loadSodiumCrypto(() => {
      throw missing
    })
    expect(result.crypto).toBeUndefined()
    expect(result.error).toBe(missing)
  })

  it('refuses a module that is not libsodium', () => {
    const result = loadSodiumCrypto(() => ({}))
    expect(result.crypto).toBeUndefined()
    expect(result.error).toBeInstanceOf(TypeError)
  })

  it('the pure-JS entry point says it has no sodium', () => {
    expect(noble.sodiumCrypto).toBeUndefined()
    expect(noble.shsCrypto.name).toBe('noble')
  })
})
