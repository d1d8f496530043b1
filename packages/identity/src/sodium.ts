import { createRequire } from 'node:module'
import type { IdentityCrypto } from './crypto.js'

type Bytes = Uint8Array

/**
 * The part of sodium-native 5 that `sodiumIdentity` calls. sodium-native
 * ships no types; a package describes the functions it calls in its own
 * interface extending this one (an ambient module declaration of
 * `sodium-native` in two packages would clash).
 */
export interface SodiumIdentityNative {
  randombytes_buf(out: Bytes): void
  crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void
  sodium_memzero(bytes: Bytes): void
}

/** What loading sodium-native gave: the module, or why there is none. */
export type SodiumLoad<T> = { sodium: T; error: undefined } | { sodium: undefined; error: unknown }

const IDENTITY_FUNCTIONS = ['randombytes_buf', 'crypto_sign_seed_keypair', 'sodium_memzero'] as const

/**
 * Loads sodium-native, an optional peer dependency: a browser-only install
 * must not pull its native binaries, and a Node install without it (or on a
 * platform without a prebuild) still works on @noble, so a failure is
 * returned (to be reported as `sodiumLoadError`), never thrown. `needs` are
 * the further functions the caller calls: a module without them is refused
 * here rather than failing in the middle of a handshake. `require` is
 * synchronous, so importing this has no top-level await and stays loadable
 * through `require()` from CommonJS. `load` replaces the require (tests).
 */
export function loadSodiumNative<T extends SodiumIdentityNative = SodiumIdentityNative>(
  needs: readonly string[] = [],
  load: () => unknown = () => createRequire(import.meta.url)('sodium-native'),
): SodiumLoad<T> {
  try {
    const sodium = load() as Record<string, unknown> | null | undefined
    const missing = [...IDENTITY_FUNCTIONS, ...needs].filter((name) => typeof sodium?.[name] !== 'function')
    if (missing.length > 0) throw new TypeError(`sodium-native did not export libsodium functions (${missing.join(', ')})`)
    return { sodium: sodium as unknown as T, error: undefined }
  } catch (error) {
    return { sodium: undefined, error }
  }
}

/**
 * The identity primitives on libsodium through sodium-native. `sodium` is
 * only touched when a function is called, so a backend object can be built
 * before it is known whether sodium-native loaded.
 */
export function sodiumIdentity(sodium: SodiumIdentityNative): IdentityCrypto {
  return {
    name: 'sodium',
    randomBytes(length) {
      const out = new Uint8Array(length)
      sodium.randombytes_buf(out)
      return out
    },
    signKeypairFromSeed(seed) {
      const publicKey = new Uint8Array(32)
      const secretKey = new Uint8Array(64)
      sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
      return { publicKey, secretKey }
    },
    wipe(bytes) {
      sodium.sodium_memzero(bytes)
    },
    allocUninitialized(length) {
      // A plain Uint8Array view, so callers never see Buffer semantics.
      const b = Buffer.allocUnsafeSlow(length)
      return new Uint8Array(b.buffer, b.byteOffset, length)
    },
  }
}
