// Helpers shared by the bare-socket implementations (impl-raw, impl-ideal).
//
// Writes `n` bytes of `chunk` (repeated, the last piece cut short) to a bare
// socket, each piece through `frame` (identity for raw TCP, box-stream
// sealing for the ideal shs). Keeps up to 1 MiB queued, like @ms/core's
// fromNodeSocket: Node's 16 KiB default would wait for a full drain after
// every chunk, and a limit should be the best a bare socket can do.
const WINDOW = 1024 * 1024

export function pumpSocket(socket, n, chunk, frame = (piece) => piece) {
  return new Promise((resolve, reject) => {
    const more = () => {
      while (n > 0) {
        const piece = n >= chunk.length ? chunk : chunk.subarray(0, n)
        n -= piece.length
        if (n === 0) return socket.write(frame(piece), (error) => (error ? reject(error) : resolve()))
        socket.write(frame(piece))
        if (socket.writableLength >= WINDOW) return socket.once('drain', more)
      }
      resolve()
    }
    more()
  })
}

/**
 * What a bare-socket Conn has received, counted as it comes (raw bytes, or
 * verified plaintext for the ideal shs); `readAtLeast`/`readToEnd` wait for
 * a threshold. `add(n)` counts bytes, `end()` marks the incoming side done,
 * `fail(error)` makes waiting readers reject (the first error wins).
 */
export function receivedCounter() {
  let received = 0
  let consumed = 0
  let ended = false
  let failure
  let waiter
  const check = () => {
    if (!waiter) return
    if (failure) return waiter.reject(failure)
    if (received >= waiter.n || ended) {
      const w = waiter
      waiter = undefined
      w.resolve()
    }
  }
  const until = (n) =>
    new Promise((resolve, reject) => {
      waiter = { n, resolve, reject }
      check()
    })
  return {
    add(n) {
      received += n
      check()
    },
    end() {
      ended = true
      check()
    },
    fail(error) {
      failure ??= error
      check()
    },
    async readAtLeast(n) {
      const target = consumed + n
      await until(target)
      if (received < target) throw new Error(`stream ended after ${received} bytes`)
      const got = received - consumed
      consumed = received
      return got
    },
    async readToEnd() {
      await until(Infinity)
      consumed = received
    },
  }
}
