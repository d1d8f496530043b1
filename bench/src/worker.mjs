// One bench process: `server`, `client` or `both` (server and client in this
// one process). Started by run.mjs with child_process.fork; the job comes as
// JSON in argv[2]; results and relayed questions travel over the IPC channel.
import { fromBase64 } from './keys.mjs'
import { client, serve, settledMemory } from './workloads.mjs'
import { cryptoLimits } from './limits.mjs'

const job = JSON.parse(process.argv[2])
const verbose = Boolean(process.env.BENCH_VERBOSE)
let serverErrors = 0
const onError = (error) => {
  serverErrors++
  if (verbose) process.stderr.write(`[${job.role} ${job.impl}] ${error?.stack ?? error}\n`)
}

function send(message) {
  return new Promise((resolve) => process.send(message, () => resolve()))
}

async function done(message, code = 0) {
  await send(message)
  process.exit(code)
}

// Questions for the peer process (relayed by run.mjs) and their answers.
let nextId = 0
const waiting = new Map()
function askPeer(what) {
  const id = ++nextId
  return new Promise((resolve) => {
    waiting.set(id, resolve)
    void send({ type: 'ask', id, what })
  })
}

function keysOf(k) {
  return { publicKey: fromBase64(k.publicKey), secretKey: fromBase64(k.secretKey) }
}

async function main() {
  if (job.figure === 'limits') return done({ type: 'result', result: await cryptoLimits(job.params) })
  const impl = await import(`./impl-${job.impl}.mjs`)
  const appKey = fromBase64(job.keys.appKey)
  const serverKeys = keysOf(job.keys.server)
  const clientKeys = keysOf(job.keys.client)
  let listener
  if (job.role === 'server' || job.role === 'both') {
    listener = await impl.listen(job.suite, serverKeys, appKey, (conn) => serve(job, conn, onError), onError)
  }
  if (job.role === 'server') {
    process.on('message', async (message) => {
      if (message.type === 'ask' && message.what === 'memory') {
        void send({ type: 'answer', id: message.id, value: await settledMemory() })
      } else if (message.type === 'ask' && message.what === 'cpu') {
        const { user, system } = process.cpuUsage()
        void send({ type: 'answer', id: message.id, value: user + system })
      } else if (message.type === 'stop') {
        await done({ type: 'stopped', serverErrors })
      }
    })
    await send({ type: 'ready', address: listener.address })
    return
  }
  process.on('message', (message) => {
    if (message.type === 'answer') {
      waiting.get(message.id)?.(message.value)
      waiting.delete(message.id)
    }
  })
  const dial = await impl.dialer(job.suite, clientKeys, appKey)
  const address = job.role === 'both' ? listener.address : job.address
  const askServer = job.role === 'both' ? async () => null : askPeer
  const result = await client(job, dial, address, askServer)
  if (job.role === 'both') result.serverErrors = serverErrors
  await done({ type: 'result', result })
}

main().catch((error) => done({ type: 'error', message: String(error?.stack ?? error) }, 1))
