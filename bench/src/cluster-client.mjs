// One load-generator process of the `cluster` group (see cluster.mjs):
// dials the cluster's address with net~shs, `inflight` handshakes at a time,
// the same exchange as the `handshakes` group. Started by run.mjs with
// child_process.fork; the job comes as JSON in argv[2].
//
// Over IPC: warms up, sends { type: 'warm' }; on { type: 'go' } runs until
// `seconds` have passed (or `count` handshakes completed) and sends
// { type: 'result', result: { completed, cpu, seconds } } (cpu: µs, user +
// system, of this process during the timed part).
import { fromBase64 } from './keys.mjs'
import { pool, shake, timedShakes } from './workloads.mjs'

const job = JSON.parse(process.argv[2])
const p = job.params
const send = (message) => new Promise((resolve) => process.send(message, () => resolve()))

async function main() {
  const impl = await import('./impl-ours.mjs')
  const keys = { publicKey: fromBase64(job.keys.client.publicKey), secretKey: fromBase64(job.keys.client.secretKey) }
  const dial = await impl.dialer('net~shs', keys, fromBase64(job.keys.appKey))
  await pool(p.warmup, p.inflight, () => shake(dial, job.address))
  const go = new Promise((resolve) => process.on('message', (m) => m.type === 'go' && resolve()))
  await send({ type: 'warm' })
  await go
  const result = await timedShakes(dial, job.address, p)
  await send({ type: 'result', result })
  process.exit(0)
}

main().catch(async (error) => {
  await send({ type: 'error', message: String(error?.stack ?? error) })
  process.exit(1)
})
