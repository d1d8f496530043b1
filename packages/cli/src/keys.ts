import { open, readFile } from 'node:fs/promises'
import { fromBase64, toBase64 } from '@ms/core'
import { feedId, generateKeys as generate, toSsbKeys, type SsbSecretKeys } from '@ms/identity'
import { CliError, EXIT } from './errors.js'

export { feedId }

/** An Ed25519 key pair in the `ssb-keys` secret-file format (`@ms/identity`'s `SsbSecretKeys`). */
export type SecretKeys = SsbSecretKeys

/** A new random Ed25519 key pair, laid out as libsodium and `ssb-keys` do. */
export function generateKeys(): SecretKeys {
  return generate()
}

export function keysFromBytes(publicKey: Uint8Array, secretKey: Uint8Array): SecretKeys {
  return toSsbKeys({ publicKey, secretKey })
}

/**
 * Writes a key file with mode 0600, refusing to replace an existing file
 * (`wx`): losing a secret key means losing an identity.
 */
export async function writeKeysFile(path: string, keys: SecretKeys): Promise<void> {
  let handle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'EEXIST') throw new CliError(`${path} already exists; refusing to overwrite a key file`, EXIT.USAGE)
    throw new CliError(`cannot create ${path}: ${(error as Error).message}`, EXIT.FAILURE)
  }
  try {
    await handle.writeFile(JSON.stringify(keys, null, 2) + '\n')
    // The umask may have narrowed the mode further, never widened it; make it exact.
    await handle.chmod(0o600)
  } finally {
    await handle.close()
  }
}

/**
 * Reads an `ssb-keys` secret file. Lines starting with `#` are comments
 * (ssb-keys writes a warning header), the rest is JSON.
 */
export async function readKeysFile(path: string): Promise<SecretKeys> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new CliError(`cannot read key file ${path}: ${(error as Error).message}`, EXIT.USAGE)
  }
  const json = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    throw new CliError(`${path} is not an ssb-keys secret file (not JSON)`, EXIT.USAGE)
  }
  const keys = value as Partial<SecretKeys>
  const pub = strip(keys.public)
  const priv = strip(keys.private)
  const publicKey = pub === undefined ? null : fromBase64(pub)
  const secretKey = priv === undefined ? null : fromBase64(priv)
  if ((keys.curve ?? 'ed25519') !== 'ed25519' || !publicKey || publicKey.length !== 32 || !secretKey || secretKey.length !== 64) {
    throw new CliError(`${path} is not an ed25519 ssb-keys secret file (needs "public" and "private" base64 keys)`, EXIT.USAGE)
  }
  if (toBase64(secretKey.subarray(32)) !== toBase64(publicKey)) {
    throw new CliError(`${path}: the private key does not belong to the public key`, EXIT.USAGE)
  }
  return keysFromBytes(publicKey, secretKey)
}

function strip(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined
  return text.replace(/^@/, '').replace(/\.ed25519$/, '')
}
