// Helpers for tests that run other programs (ms server processes, HAProxy,
// nginx, a node:cluster): free ports, waiting until something listens,
// JSON lines from a child's stdout, stopping a child. Node built-ins only, so
// the tests of other packages import this file too (shs: haproxy, cluster;
// ws: nginx).
import type { ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'
import { freePort } from './helpers.js'

export { freePort }

/** Stops a child: SIGTERM, then SIGKILL if it is still there after `graceMs`. Resolves once it exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/**
 * Resolves once something accepts connections on 127.0.0.1:`port` (a program
 * the test started, which gives no other sign that it is ready). Each probe
 * is a connection that says nothing. Rejects if `child` exits first or
 * `timeout` ms pass; `log()` (what the program printed) goes into the error.
 */
export async function waitForPort(port: number, { child, name, log = () => '', timeout = 20_000 }: { child: ChildProcess; name: string; log?: () => string; timeout?: number }): Promise<void> {
  const deadline = Date.now() + timeout
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${log()}`)
    if (await accepts(port)) return
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port} within ${timeout} ms:\n${log()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** JSON lines from a child's stdout (all of them, in order), with a way to wait for one that matches. */
export function jsonLines(child: ChildProcess, context: () => string = () => '') {
  const seen: Record<string, unknown>[] = []
  const waiters = new Set<() => void>()
  let rest = ''
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const parts = (rest + text).split('\n')
    rest = parts.pop()!
    for (const part of parts) if (part.trim()) seen.push(JSON.parse(part) as Record<string, unknown>)
    for (const w of [...waiters]) w()
  })
  return {
    seen,
    /** The first line (seen so far or yet to come) that matches; rejects after `timeout` ms. */
    waitFor(match: (line: Record<string, unknown>) => boolean, what: string, timeout = 20_000): Promise<Record<string, unknown>> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = seen.find(match)
          if (!line) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(line)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no ${what} within ${timeout} ms; saw ${JSON.stringify(seen.slice(-5))} ${context()}`))
        }, timeout)
        waiters.add(check)
        check()
      })
    },
  }
}
