import { spawn } from 'node:child_process'
import WebSocket from 'ws'

/**
 * Opens `url` in headless Chromium and polls `expression` over the DevTools
 * protocol until `done(value)` holds or `timeout` passes. Returns the last value.
 */
export async function evaluateInChromium(url: string, expression: string, done: (value: string) => boolean, timeout = 30_000): Promise<string> {
  const chrome = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let socket: WebSocket | undefined
  try {
    let stderr = ''
    const devtools = await new Promise<string>((resolve, reject) => {
      chrome.once('error', reject)
      chrome.once('exit', (code) => reject(new Error(`chromium exited (${code}): ${stderr}`)))
      chrome.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d
        const m = /DevTools listening on (ws:\S+)/.exec(stderr)
        if (m) resolve(m[1]!)
      })
    })
    const targets = (await (await fetch(`http://127.0.0.1:${new URL(devtools).port}/json`)).json()) as { type: string; webSocketDebuggerUrl: string }[]
    const page = targets.find((t) => t.type === 'page')!
    const ws = (socket = new WebSocket(page.webSocketDebuggerUrl))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    let id = 0
    const call = <T>(method: string, params: object = {}) =>
      new Promise<T>((resolve) => {
        const mine = ++id
        const onMessage = (data: WebSocket.RawData) => {
          const message = JSON.parse(data.toString()) as { id?: number; result: T }
          if (message.id !== mine) return
          ws.off('message', onMessage)
          resolve(message.result)
        }
        ws.on('message', onMessage)
        ws.send(JSON.stringify({ id: mine, method, params }))
      })
    await call('Page.navigate', { url })
    const deadline = Date.now() + timeout
    let value = ''
    while (Date.now() < deadline) {
      const result = await call<{ result: { value?: unknown } }>('Runtime.evaluate', { expression })
      value = String(result.result.value ?? '')
      if (done(value)) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    return value
  } finally {
    socket?.close()
    if (chrome.exitCode === null) {
      const exited = new Promise((resolve) => chrome.once('exit', resolve))
      chrome.kill()
      await exited
    }
  }
}
