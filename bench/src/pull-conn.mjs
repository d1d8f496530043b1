// The Conn interface of workloads.mjs over a pull-stream duplex: used for the
// original multiserver (impl-theirs) and for ours through @ms/compat (impl-pull).

/**
 * A pull-stream source fed on demand: queued jobs (a run of bytes, one
 * buffer, the end) are handed out only when the sink asks, so backpressure
 * comes from the sink exactly as with any pull-stream source. A trampoline
 * keeps synchronous sinks from recursing.
 */
function feeder() {
  const jobs = []
  let pending
  let serving = false
  let finished = false

  function serve() {
    if (serving) return
    serving = true
    while (pending && jobs.length) {
      const job = jobs[0]
      const cb = pending
      if (job.kind === 'end') {
        pending = undefined
        finished = true
        jobs.shift()
        job.resolve()
        cb(true)
        continue
      }
      const piece = job.remaining >= job.chunk.length ? job.chunk : job.chunk.subarray(0, job.remaining)
      job.remaining -= piece.length
      if (job.remaining <= 0) {
        jobs.shift()
        job.resolve()
      }
      pending = undefined
      cb(null, piece)
    }
    serving = false
  }

  function source(abort, cb) {
    if (abort) {
      finished = true
      for (const job of jobs.splice(0)) job.resolve()
      return cb(abort)
    }
    if (finished) return cb(true)
    pending = cb
    serve()
  }

  function push(job) {
    return new Promise((resolve) => {
      if (finished) return resolve()
      jobs.push({ ...job, resolve })
      serve()
    })
  }

  return {
    source,
    bytes: (n, chunk) => (n > 0 ? push({ kind: 'bytes', remaining: n, chunk }) : Promise.resolve()),
    end: () => push({ kind: 'end' }),
  }
}

/** Reads from a pull-stream source until `onData` returns true or the source ends. */
function readLoop(source, onData) {
  return new Promise((resolve, reject) => {
    let looping = false
    let inCall = false
    const answer = (end, data) => {
      if (end) return end === true ? resolve(false) : reject(end)
      if (onData(data)) return resolve(true)
      if (inCall) looping = true
      else next()
    }
    function next() {
      do {
        looping = false
        inCall = true
        source(null, answer)
        inCall = false
      } while (looping)
    }
    next()
  })
}

export function wrapPullDuplex(duplex) {
  const out = feeder()
  duplex.sink(out.source)
  let ended = false
  return {
    write: (bytes) => out.bytes(bytes.length, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    pump: (n, chunk) => out.bytes(n, chunk),
    async readAtLeast(n) {
      let got = 0
      const reached = await readLoop(duplex.source, (data) => (got += data.length) >= n)
      if (!reached) throw new Error(`stream ended after ${got} of ${n} bytes`)
      return got
    },
    async readToEnd() {
      await readLoop(duplex.source, () => false)
      ended = true
    },
    idle() {
      duplex.source(null, () => {})
    },
    endWrite: () => out.end(),
    async close() {
      // A pull duplex has no close of its own: end what is still open.
      if (!ended) duplex.source(true, () => {})
      await out.end()
    },
  }
}
