/** Constant-time equality of two byte arrays of equal length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** Whether every byte is zero, without stopping early (a low-order Diffie-Hellman result is all zeros). */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!
  return acc === 0
}

/**
 * A copy of (part of) some bytes. Never `.slice()` input bytes: on a Node
 * Buffer that is a view, and wiping it would wipe the caller's key.
 */
export function copyBytes(bytes: Uint8Array, start?: number, end?: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end))
}
