import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { echoClient, newKeys, startEchoServer } from '../src/echo.js'

it('echoes over every suite, and the client finds each by address', async () => {
  const serverKeys = newKeys()
  const { address, listener } = await startEchoServer({ keys: serverKeys })
  try {
    const alternatives = address.split(';')
    expect(alternatives).toHaveLength(3)
    const client = echoClient(newKeys())
    for (const alternative of alternatives) {
      const message = `ping over ${alternative}`
      const { reply, remoteAddress } = await client.send(alternative, message)
      expect(reply).toBe(message)
      expect(remoteAddress).toBe(alternative)
    }
    // The whole multi-address works too: the client picks the first that answers.
    expect((await client.send(address, 'any')).reply).toBe('any')
  } finally {
    await listener.close()
  }
})

it('the client script talks to a running server over each protocol', async () => {
  const { address, listener } = await startEchoServer({ keys: newKeys() })
  try {
    const cwd = fileURLToPath(new URL('..', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@ms/source', 'src/client.ts', address, 'hi'], { cwd, stdio: 'pipe' })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.resume()
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code).toBe(0)
    for (const suite of ['net~shs', 'ws~shs', 'unix~noauth']) expect(stdout).toMatch(new RegExp(`^${suite} +"hi" in`, 'm'))
  } finally {
    await listener.close()
  }
}, 60_000)
