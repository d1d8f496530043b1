/**
 * Compares large byte arrays quickly (vitest's deep equality walks typed
 * arrays element by element, which takes seconds per MiB). Returns `null`
 * when equal, else a short description of the first difference.
 */
export function byteDiff(actual: Uint8Array, expected: Uint8Array): string | null {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)
  if (a.equals(b)) return null
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return `lengths ${a.length} vs ${b.length}, first difference at byte ${i}`
}
