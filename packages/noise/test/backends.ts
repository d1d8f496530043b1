import * as sodium from '@ms/noise/sodium'
import * as noble from '@ms/noise/noble'

/** Both entry points; every behaviour test runs against each. */
export const backends = [
  { name: 'sodium', mod: sodium },
  { name: 'noble', mod: noble as unknown as typeof sodium },
] as const

export type Backend = (typeof backends)[number]
