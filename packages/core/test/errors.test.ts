import { describe, expect, it } from 'vitest'
import { DialError, MsError, StreamError, TimeoutError, nameError, abortReason, AbortError } from '../src/index.js'

describe('errors', () => {
  it('carry a stable name, the address and the cause', () => {
    const cause = new Error('boom')
    const error = new DialError('refused', { address: 'net:127.0.0.1:1', code: 'ECONNREFUSED', cause })
    expect(error).toBeInstanceOf(MsError)
    expect(error.name).toBe('DialError')
    expect(error.address).toBe('net:127.0.0.1:1')
    expect(error.code).toBe('ECONNREFUSED')
    expect(error.cause).toBe(cause)
    expect(new StreamError('reset', { code: 'ECONNRESET' }).code).toBe('ECONNRESET')
  })

  it('keep their names when a minifier renames the class', () => {
    // A minifier turns `class DialError` into `class xe`; the name pinned on
    // the prototype is what instances report.
    expect(Object.getOwnPropertyDescriptor(DialError.prototype, 'name')?.value).toBe('DialError')
    const Renamed = class xe extends DialError {}
    expect(new Renamed('x').name).toBe('xe')
    nameError(Renamed, 'ProxyError')
    expect(new Renamed('x').name).toBe('ProxyError')
    // An unpinned subclass falls back to its class name.
    class ThirdPartyError extends MsError {}
    expect(new ThirdPartyError('x').name).toBe('ThirdPartyError')
  })

  it('turn abort reasons into AbortError or keep our own', () => {
    const controller = new AbortController()
    controller.abort()
    expect(abortReason(controller.signal, 'a')).toBeInstanceOf(AbortError)
    const timed = new AbortController()
    timed.abort(new TimeoutError(5))
    expect(abortReason(timed.signal)).toBeInstanceOf(TimeoutError)
  })
})
