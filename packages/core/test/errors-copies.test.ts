import { describe, expect, it } from 'vitest'
import * as ours from '../src/errors.js'
import { AbortError, DialError, HandshakeError, ListenError, MsError, abortReason, isMsError, nameError } from '../src/errors.js'

// A second, independent copy of the module, as when an app installs two
// versions of @ms/core (a plugin that pins an older one) or bundles one and
// imports another: its classes are different objects.
const secondCopy = '../src/errors.js?second-copy'
const theirs = (await import(/* @vite-ignore */ secondCopy)) as typeof ours

describe('errors from another copy of @ms/core', () => {
  it('the second copy really has other classes (instanceof fails)', () => {
    expect(theirs.DialError).not.toBe(DialError)
    expect(new theirs.DialError('x') instanceof DialError).toBe(false)
  })

  it('isMsError and Class.is recognise them by kind', () => {
    const error = new theirs.DialError('refused', { address: 'net:localhost:1', code: 'ECONNREFUSED' })
    expect(isMsError(error)).toBe(true)
    expect(isMsError(error, 'DialError')).toBe(true)
    expect(isMsError(error, 'MsError')).toBe(true)
    expect(isMsError(error, 'ListenError')).toBe(false)
    expect(DialError.is(error)).toBe(true)
    expect(MsError.is(error)).toBe(true)
    expect(ListenError.is(error)).toBe(false)
    expect(error.name).toBe('DialError')
    if (isMsError(error, 'DialError')) expect(error.code).toBe('ECONNREFUSED')
  })

  it('a subclass defined elsewhere is its base class too', () => {
    class SocksReplyError extends theirs.DialError {}
    nameError(SocksReplyError, 'SocksReplyError')
    const error = new SocksReplyError('general failure')
    expect(isMsError(error, 'DialError')).toBe(true)
    expect(DialError.is(error)).toBe(true)
    expect(isMsError(error, 'SocksReplyError')).toBe(true)
    expect(HandshakeError.is(error)).toBe(false)
  })

  it('a subclass without a pinned name is recognised by its own class in the same copy', () => {
    class Unpinned extends DialError {}
    expect(Unpinned.is(new Unpinned('x'))).toBe(true)
    expect(Unpinned.is(new DialError('x'))).toBe(false)
    expect(DialError.is(new Unpinned('x'))).toBe(true)
  })

  it('plain errors and look-alikes are not MsErrors', () => {
    expect(isMsError(new Error('x'))).toBe(false)
    expect(isMsError(Object.assign(new Error('x'), { name: 'DialError' }), 'DialError')).toBe(false)
    expect(isMsError({ name: 'AbortError', message: 'x' })).toBe(false)
    expect(isMsError(null)).toBe(false)
    expect(isMsError('AbortError')).toBe(false)
    expect(AbortError.is(new DOMException('aborted', 'AbortError'))).toBe(false)
  })

  it('abortReason passes another copy’s MsError through unchanged', () => {
    const controller = new AbortController()
    const reason = new theirs.AbortError('stopped')
    controller.abort(reason)
    expect(abortReason(controller.signal)).toBe(reason)
  })
})
