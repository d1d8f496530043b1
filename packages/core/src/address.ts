import { AddressError, quoteInput } from './errors.js'

/**
 * The multiserver address grammar, identical to npm `multiserver-address`
 * 1.0.1 (`multiserver.ne`):
 *
 *   multiaddress = address (";" address)*
 *   address      = protocol ("~" protocol)*
 *   protocol     = name (":" data)*
 *   name         = [a-z][a-z0-9-]+
 *   data         = (char | "!!" | "!~" | "!:" | "!;")*
 *   char         = 0x22-0x39 | 0x3C-0x7D
 */

/** One `name:data:data` part of an address, with escapes removed. */
export interface Segment {
  name: string
  data: string[]
}

/** One address: a transport segment followed by transform segments. */
export type Address = Segment[]

const NAME = /^[a-z][a-z0-9-]+$/
const ESCAPABLE = new Set(['!', '~', ':', ';'])
/** Data made of data characters only (see isDataChar), which escapeData returns as it is. */
const PLAIN_DATA = /^[\x22-\x39\x3c-\x7d]*$/

function isDataChar(code: number): boolean {
  return (code >= 0x22 && code <= 0x39) || (code >= 0x3c && code <= 0x7d)
}

function where(text: string, position: number): string {
  return position >= text.length ? 'at the end' : `at offset ${position} (${JSON.stringify(text[position])})`
}

/**
 * Parses a `;`-separated multiaddress into its alternatives. Throws
 * `AddressError` (and nothing else) for any string that is not valid.
 */
export function parseMultiAddress(text: string): Address[] {
  if (typeof text !== 'string') {
    throw new AddressError(`an address must be a string, got ${typeof text}`)
  }
  const fail = (position: number, why: string): never => {
    throw new AddressError(`invalid address ${quoteInput(text)}: ${why} ${where(text, position)}`, {
      address: text,
      position,
    })
  }

  const result: Address[] = []
  let address: Address = []
  let i = 0
  // Each loop iteration reads one protocol: a name, then any `:data` parts,
  // then expects `~`, `;` or the end.
  for (;;) {
    const nameStart = i
    while (i < text.length && text[i] !== ':' && text[i] !== '~' && text[i] !== ';') i++
    const name = text.slice(nameStart, i)
    if (!NAME.test(name)) {
      const bad = name.length === 0 ? nameStart : nameStart + firstBadNameChar(name)
      fail(bad, name.length === 0 ? 'expected a protocol name' : name.length === 1 && /[a-z]/.test(name) ? 'a protocol name has two characters or more' : 'a protocol name is [a-z][a-z0-9-]+; unexpected character')
    }
    const data: string[] = []
    while (text[i] === ':') {
      i++
      let value = ''
      while (i < text.length) {
        const ch = text[i]!
        if (ch === '!') {
          const next = text[i + 1]
          if (next === undefined || !ESCAPABLE.has(next)) fail(i, '"!" must be followed by one of ! ~ : ;')
          value += next
          i += 2
        } else if (ch === ':' || ch === '~' || ch === ';') {
          break
        } else if (isDataChar(ch.charCodeAt(0))) {
          value += ch
          i++
        } else {
          fail(i, 'character not allowed in address data')
        }
      }
      data.push(value)
    }
    address.push({ name, data })
    if (i >= text.length) break
    const sep = text[i]
    i++
    if (sep === ';') {
      result.push(address)
      address = []
    }
    // `~` continues the same address; either way a protocol must follow,
    // which the next iteration checks (so `x~` and `x;` fail at the end).
  }
  result.push(address)
  return result
}

function firstBadNameChar(name: string): number {
  if (!/[a-z]/.test(name[0] ?? '')) return 0
  for (let k = 1; k < name.length; k++) if (!/[a-z0-9-]/.test(name[k]!)) return k
  return name.length
}

/** Escapes one data value for use in an address. */
export function escapeData(value: string): string {
  // Most data (hosts, ports, base64 keys) needs no escaping: skip the loop.
  if (PLAIN_DATA.test(value)) return value
  let out = ''
  for (let k = 0; k < value.length; k++) {
    const ch = value[k]!
    if (ESCAPABLE.has(ch)) out += '!' + ch
    else if (isDataChar(ch.charCodeAt(0))) out += ch
    else {
      throw new AddressError(`character ${JSON.stringify(ch)} cannot appear in address data`, {
        address: value,
        position: k,
      })
    }
  }
  return out
}

/** Writes one segment (`name:data:data`), escaping the data. */
export function stringifySegment(segment: Segment): string {
  if (!NAME.test(segment.name)) {
    throw new AddressError(`invalid protocol name ${quoteInput(segment.name)}`, { address: segment.name })
  }
  return [segment.name, ...segment.data.map(escapeData)].join(':')
}

/** Writes one address (`transport~transform~...`). */
export function stringifyAddress(address: Address): string {
  if (address.length === 0) throw new AddressError('an address needs at least one segment')
  return address.map(stringifySegment).join('~')
}

/**
 * Writes alternatives joined by `;`. The inverse of `parseMultiAddress`:
 * `stringifyMultiAddress(parseMultiAddress(s)) === s` for every valid `s`.
 */
export function stringifyMultiAddress(addresses: Address[]): string {
  if (addresses.length === 0) throw new AddressError('a multiaddress needs at least one address')
  return addresses.map(stringifyAddress).join(';')
}

/** Parses exactly one address (no `;`). */
export function parseAddress(text: string): Address {
  const all = parseMultiAddress(text)
  if (all.length !== 1) {
    throw new AddressError(`expected one address, got ${all.length} alternatives`, { address: text })
  }
  return all[0]!
}

/** Appends a segment to an address string, e.g. a transform's `~shs:KEY`. */
export function appendSegment(address: string, segment: Segment): string {
  return `${address}~${stringifySegment(segment)}`
}
