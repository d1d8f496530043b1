// Small statistics helpers shared by the runner and the workers.

/** The median of a list of numbers (the mean of the two middle ones for even lengths), or null. */
export function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return null
  const mid = xs.length >> 1
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
}

/** The q-quantile (0..1) by the nearest-rank method, or null. */
export function quantile(values, q) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return null
  const rank = Math.min(xs.length, Math.max(1, Math.ceil(q * xs.length)))
  return xs[rank - 1]
}

export const MiB = 1024 * 1024

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function now() {
  return performance.now()
}
