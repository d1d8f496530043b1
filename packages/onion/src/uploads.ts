import { throwIfAborted } from '@ms/core'
import type { TorControl } from './control.js'

/**
 * Follows `HS_DESC` events so `until(serviceId)` can wait until Tor has
 * finished uploading the service's descriptors: every UPLOAD answered by
 * UPLOADED or FAILED, at least one UPLOADED. Waiting for the first UPLOADED
 * only is not enough: a client asks the directories responsible for the
 * service, which may not be the first one to have it.
 */
export function watchUploads(tor: Pick<TorControl, 'onEvent' | 'onClose'>) {
  const state = new Map<string, { started: number; finished: number; uploaded: number }>()
  let wake: (() => void) | undefined
  let failure: Error | undefined
  // Without this, a control connection lost while waiting would only be
  // noticed at publishTimeout.
  tor.onClose = (error) => {
    failure = error
    wake?.()
  }
  tor.onEvent = (lines) => {
    // 650 HS_DESC UPLOAD|UPLOADED|FAILED <service id> <auth type> <hsdir> ...
    const m = /^HS_DESC (UPLOAD|UPLOADED|FAILED) (\S+)/.exec(lines[0] ?? '')
    if (!m) return
    const entry = state.get(m[2]!) ?? { started: 0, finished: 0, uploaded: 0 }
    state.set(m[2]!, entry)
    if (m[1] === 'UPLOAD') entry.started++
    else entry.finished++
    if (m[1] === 'UPLOADED') entry.uploaded++
    wake?.()
  }
  const done = (serviceId: string) => {
    const entry = state.get(serviceId)
    return entry !== undefined && entry.uploaded > 0 && entry.finished >= entry.started
  }
  return {
    async until(serviceId: string, signal: AbortSignal): Promise<void> {
      while (!done(serviceId)) {
        throwIfAborted(signal)
        if (failure) throw failure
        await new Promise<void>((resolve) => {
          const next = () => {
            signal.removeEventListener('abort', next)
            wake = undefined
            resolve()
          }
          wake = next
          signal.addEventListener('abort', next, { once: true })
        })
      }
    },
  }
}
