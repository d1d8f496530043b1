// The server of the `cluster` group (see cluster.mjs): the primary of a
// node:cluster with `workers` workers, each running one MultiServer (net~shs,
// the same keys, the same port), as the README's "Running at scale" shows.
// Started by run.mjs with child_process.fork; the job comes as JSON in argv[2]
// (cluster.fork() starts the workers with the same argv).
//
// Primary, over IPC with run.mjs: sends { type: 'ready', address, pids } once
// every worker listens; answers { type: 'ask', what: 'cpu' } with the CPU
// time (µs, user + system) of the primary and of all workers so far; on
// { type: 'stop' } closes the workers and sends { type: 'stopped', serverErrors }.
import cluster from 'node:cluster'
import { fromBase64 } from './keys.mjs'
import { serve } from './workloads.mjs'

const job = JSON.parse(process.argv[2])
const cpuNow = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

if (cluster.isPrimary) {
  const send = (message) => new Promise((resolve) => process.send(message, () => resolve()))
  const workers = []
  // Questions to the workers (CPU so far, errors) and their answers, by id.
  let nextId = 0
  const waiting = new Map()
  const askWorker = (worker, what) =>
    new Promise((resolve) => {
      const id = ++nextId
      waiting.set(id, resolve)
      worker.send({ type: 'ask', id, what })
    })
  const askAll = (what) => Promise.all(workers.map((w) => askWorker(w, what)))
  // Under --cpu-prof every process needs a profile name of its own (workers
  // inherit the primary's execArgv, name included).
  const profileName = process.execArgv.indexOf('--cpu-prof-name')
  let forked = 0
  const fork = () =>
    new Promise((resolve, reject) => {
      if (profileName >= 0) {
        const execArgv = [...process.execArgv]
        execArgv[profileName + 1] = execArgv[profileName + 1].replace(/(\.cpuprofile)?$/, `-worker${++forked}$1`)
        cluster.setupPrimary({ execArgv })
      }
      const worker = cluster.fork()
      const failed = (code) => reject(new Error(`cluster worker exited (${code}) before listening`))
      worker.once('exit', failed)
      worker.on('message', (message) => {
        if (message.type === 'listening') {
          worker.off('exit', failed)
          resolve({ worker, address: message.address })
        } else if (message.type === 'answer') {
          waiting.get(message.id)?.(message.value)
          waiting.delete(message.id)
        } else if (message.type === 'error') {
          reject(new Error(message.message))
        }
      })
    })
  try {
    const started = []
    for (let i = 0; i < job.params.workers; i++) started.push(await fork())
    workers.push(...started.map((s) => s.worker))
    // Every worker listens on the primary's one handle: the same port
    // (listen(0) in a cluster gives every worker the same port).
    const addresses = new Set(started.map((s) => s.address))
    if (addresses.size !== 1) throw new Error(`workers listen on different addresses: ${[...addresses].join(', ')}`)
    await send({ type: 'ready', address: started[0].address, pids: workers.map((w) => w.process.pid) })
  } catch (error) {
    await send({ type: 'error', message: String(error?.stack ?? error) })
    for (const w of workers) w.kill('SIGKILL')
    process.exit(1)
  }
  process.on('message', async (message) => {
    if (message.type === 'ask' && message.what === 'cpu') {
      const [primary, perWorker] = [cpuNow(), await askAll('cpu')]
      void send({ type: 'answer', id: message.id, value: { primary, workers: perWorker.reduce((a, b) => a + b, 0) } })
    } else if (message.type === 'stop') {
      const errors = await askAll('errors')
      await Promise.all(
        workers.map((w) => new Promise((resolve) => (w.isDead() ? resolve() : (w.once('exit', resolve), w.send({ type: 'close' }))))),
      )
      await send({ type: 'stopped', serverErrors: errors.reduce((a, b) => a + b, 0) })
      process.exit(0)
    }
  })
} else {
  const impl = await import('./impl-ours.mjs')
  const keys = { publicKey: fromBase64(job.keys.server.publicKey), secretKey: fromBase64(job.keys.server.secretKey) }
  let serverErrors = 0
  const onError = (error) => {
    serverErrors++
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[cluster worker ${process.pid}] ${error?.stack ?? error}\n`)
  }
  try {
    // The same connection handling as the `handshakes` group: read the
    // client's message, answer one byte, close when the client does.
    const listener = await impl.listen('net~shs', keys, fromBase64(job.keys.appKey), (conn) => serve({ figure: 'handshakes', params: {} }, conn, onError), onError)
    process.on('message', async (message) => {
      if (message.type === 'ask') process.send({ type: 'answer', id: message.id, value: message.what === 'cpu' ? cpuNow() : serverErrors })
      else if (message.type === 'close') {
        await listener.close()
        process.exit(0)
      }
    })
    process.send({ type: 'listening', address: listener.address })
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) })
    process.exitCode = 1
  }
}
