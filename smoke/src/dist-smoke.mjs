// A smoke run of the built packages, as users get them. Plain node, no
// export conditions: `@ms/*` resolves through each package's `exports` to
// dist/ (never to src/, which only the `@ms/source` condition selects).
// Prints one line per check (`ok NAME` or `FAIL NAME: why`) and exits 1 if
// any failed. Every check has its own time bound, so nothing hangs.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const PACKAGES = ['cli', 'compat', 'compliance', 'core', 'identity', 'net', 'noauth', 'noise', 'onion', 'shs', 'unix', 'ws']
// Needs the vitest runner to load; only its resolution is checked here.
const RESOLVE_ONLY = new Set(['@ms/compliance'])
const BOUND_MS = 20_000

let failures = 0
async function check(name, run) {
  let timer
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result within ${BOUND_MS} ms`)), BOUND_MS)
      }),
    ])
    console.log(`ok ${name}`)
  } catch (error) {
    failures++
    console.log(`FAIL ${name}: ${String(error?.stack ?? error).split('\n').join('\n  ')}`)
  } finally {
    clearTimeout(timer)
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message)
}

// 1. Every export of every package resolves into dist/ and loads.
for (const dir of PACKAGES) {
  const name = `@ms/${dir}`
  const manifest = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8'))
  const subpaths = Object.keys(manifest.exports ?? { '.': null }).filter((s) => s !== './package.json')
  for (const subpath of subpaths) {
    const specifier = subpath === '.' ? name : `${name}/${subpath.slice(2)}`
    await check(`import ${specifier}`, async () => {
      const url = import.meta.resolve(specifier)
      const file = fileURLToPath(url)
      assert(/[\\/]dist[\\/]/.test(file), `${specifier} resolved to ${file}, not into dist/`)
      assert(existsSync(file), `${file} does not exist: run \`pnpm build\``)
      if (RESOLVE_ONLY.has(name)) return
      const module = await import(specifier)
      assert(Object.keys(module).length > 0, `${specifier} exports nothing`)
    })
  }
}

const core = await import('@ms/core')
const { net } = await import('@ms/net')
const { unix } = await import('@ms/unix')
const { ws } = await import('@ms/ws')
const { shs, shsCrypto } = await import('@ms/shs')
const { noise } = await import('@ms/noise')
const { noauth } = await import('@ms/noauth')
const { generateKeys } = await import('@ms/identity')
const { toPullDuplex } = await import('@ms/compat')
const onion = await import('@ms/onion')

const enc = new TextEncoder()
const dec = new TextDecoder()

async function readAll(readable) {
  let text = ''
  for await (const chunk of readable) text += dec.decode(chunk, { stream: true })
  return text
}

/** A server that echoes each connection until it half-closes; a client sends `message` and reads the echo. */
async function echoRoundTrip(serverSuites, clientSuites, message, expectRemote) {
  const server = core.createMultiServer(serverSuites)
  const listener = await server.listen((connection) => {
    void connection.readable.pipeTo(connection.writable).catch(() => connection.close())
  })
  try {
    const address = server.stringify('device')
    assert(address, 'the server advertises no address')
    const client = core.createMultiServer(clientSuites)
    const connection = await client.connect(address, { timeout: 10_000 })
    try {
      if (expectRemote) assert(expectRemote.test(connection.remoteAddress), `remoteAddress ${connection.remoteAddress} does not match ${expectRemote}`)
      const writer = connection.writable.getWriter()
      await writer.write(enc.encode(message))
      await writer.close()
      const reply = await readAll(connection.readable)
      assert(reply === message, `echo was ${JSON.stringify(reply)}, sent ${JSON.stringify(message)}`)
      return connection
    } finally {
      await connection.close()
    }
  } finally {
    await listener.close()
  }
}

const keypair = () => shsCrypto.signKeypairFromSeed(shsCrypto.randomBytes(32))
const serverKeys = keypair()
const clientKeys = keypair()
const appKey = shsCrypto.randomBytes(32)
const text = (label) => `${label}: ${'x'.repeat(100_000)} end`

// 2. Round trips through the built code.
await check('net echo', () => echoRoundTrip([[net()]], [[net()]], text('net'), /^net:127\.0\.0\.1:\d+$/))
await check('unix echo', () => echoRoundTrip([[unix()]], [[unix()]], text('unix'), /^unix:/))
await check('ws echo', () => echoRoundTrip([[ws()]], [[ws()]], text('ws'), /^ws:/))
await check('net~shs echo', async () => {
  const connection = await echoRoundTrip(
    [[net(), shs({ keys: serverKeys, appKey })]],
    [[net(), shs({ keys: clientKeys, appKey })]],
    text('shs'),
    /~shs:/,
  )
  assert(core.toBase64(connection.info.shs.publicKey) === core.toBase64(serverKeys.publicKey), 'the client does not see the server key')
})
await check('net~noise echo', async () => {
  const connection = await echoRoundTrip([[net(), noise({ keys: serverKeys })]], [[net(), noise({ keys: clientKeys })]], text('noise'), /~noise:/)
  assert(connection.info.noise !== undefined, 'no noise info on the connection')
})
await check('net~noise echo with ssb-keys from @ms/identity', async () => {
  // The same identity format shs and noise accept: generated, then used as is.
  const server = generateKeys()
  const client = generateKeys()
  const connection = await echoRoundTrip([[net(), noise({ keys: server })]], [[net(), noise({ keys: client })]], text('identity'), /~noise:/)
  assert(`@${core.toBase64(connection.info.noise.publicKey)}.ed25519` === server.id, 'the client does not see the generated server key')
})
await check('unix~noauth echo', () => echoRoundTrip([[unix(), noauth()]], [[unix(), noauth()]], text('noauth'), /~noauth$/))

await check("compat's pull adapter over net", async () => {
  const server = core.createMultiServer([[net()]])
  // The server side speaks pull-stream: its duplex's source is piped into its sink (an echo).
  const listener = await server.listen((connection) => {
    const duplex = toPullDuplex(connection)
    duplex.sink(duplex.source)
  })
  try {
    const connection = await core.createMultiServer([[net()]]).connect(server.stringify('device'), { timeout: 10_000 })
    try {
      // The client side too: a pull source of three chunks, a pull sink collecting the echo.
      const duplex = toPullDuplex(connection)
      const parts = ['one ', 'two ', 'three']
      duplex.sink((abort, cb) => {
        if (abort) return cb(abort)
        const next = parts.shift()
        if (next === undefined) cb(true)
        else cb(null, Buffer.from(next))
      })
      const reply = await new Promise((resolve, reject) => {
        let got = ''
        const read = () =>
          duplex.source(null, (end, data) => {
            if (end === true) return resolve(got)
            if (end) return reject(end)
            got += dec.decode(data)
            read()
          })
        read()
      })
      assert(reply === 'one two three', `the pull echo was ${JSON.stringify(reply)}`)
    } finally {
      await connection.close()
    }
  } finally {
    await listener.close()
  }
})

await check('onion parses its addresses', async () => {
  const transport = onion.onion({})
  const host = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion'
  const parsed = transport.parse({ name: 'onion', data: [host, '8008'] })
  assert(parsed && parsed.host === host && parsed.port === 8008, `parse gave ${JSON.stringify(parsed)}`)
})

// 3. The CLI's bin starts.
await check('the ms bin prints its version', async () => {
  const manifestPath = require.resolve('@ms/cli/package.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
  const bin = fileURLToPath(new URL(manifest.bin.ms, `file://${manifestPath}`))
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, '--version'], { timeout: 15_000 }, (error, out, err) => {
      if (error) reject(new Error(`${error.message}\n${err}`))
      else resolve(out)
    })
  })
  assert(stdout.includes(manifest.version), `--version printed ${JSON.stringify(stdout)}, the package is ${manifest.version}`)
})

console.log(failures === 0 ? 'all checks passed' : `${failures} check(s) failed`)
process.exit(failures === 0 ? 0 : 1)
