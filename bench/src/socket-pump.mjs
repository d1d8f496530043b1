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
