import { describe, expect, it } from 'vitest'
import { TorControlError } from '../src/errors.js'
import { watchUploads } from '../src/uploads.js'

const SERVICE = 'a'.repeat(56)
const OTHER = 'b'.repeat(56)

function fakeTor() {
  const tor: { onEvent: ((lines: string[]) => void) | undefined; onClose: ((error: TorControlError) => void) | undefined } = {
    onEvent: undefined,
    onClose: undefined,
  }
  const event = (what: string, service = SERVICE) => tor.onEvent!([`HS_DESC ${what} ${service} UNKNOWN $AAAA~relay`])
  return { tor, event }
}

// `until` settles through promise jobs only, so once a macrotask has run,
// an unsettled promise is one that the events so far do not settle.
async function state(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  const outcome = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  )
  return Promise.race([outcome, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))])
}

describe('watchUploads (waitForPublish)', () => {
  it('waits until every UPLOAD is answered and one succeeded', async () => {
    const { tor, event } = fakeTor()
    const uploads = watchUploads(tor)
    const until = uploads.until(SERVICE, new AbortController().signal)
    event('UPLOAD')
    event('UPLOAD')
    event('UPLOADED')
    expect(await state(until), 'one of two uploads is not enough').toBe('pending')
    event('UPLOADED', OTHER)
    event('FAILED', OTHER)
    expect(await state(until), "another service's uploads do not count").toBe('pending')
    event('FAILED')
    expect(await state(until)).toBe('resolved')
  })

  it('is not done while every upload failed', async () => {
    const { tor, event } = fakeTor()
    const until = watchUploads(tor).until(SERVICE, new AbortController().signal)
    event('UPLOAD')
    event('FAILED')
    expect(await state(until)).toBe('pending')
    event('UPLOAD')
    event('UPLOADED')
    expect(await state(until)).toBe('resolved')
  })

  it('rejects when the control connection closes, and when aborted', async () => {
    const { tor, event } = fakeTor()
    const closed = watchUploads(tor).until(SERVICE, new AbortController().signal)
    event('UPLOAD')
    tor.onClose!(new TorControlError('gone', { code: 'TOR_CONTROL_CLOSED' }))
    await expect(closed).rejects.toMatchObject({ code: 'TOR_CONTROL_CLOSED' })

    const controller = new AbortController()
    const aborted = watchUploads(fakeTor().tor).until(SERVICE, controller.signal)
    expect(await state(aborted)).toBe('pending')
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
  })
})
