import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { Duplex } from 'node:stream'
import { canonicalPathname } from './address.js'

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

interface Router {
  routes: Map<string, UpgradeHandler>
  onUpgrade: UpgradeHandler
}

/**
 * Several ws listeners can share one HTTP server under different paths:
 * one `upgrade` listener per server dispatches by path. A request for a
 * path nobody here serves is left to the server's other `upgrade`
 * listeners when it has any, and answered 404 otherwise.
 */
const routers = new WeakMap<HttpServer, Router>()

/** Registers `path`; returns the function that removes it, or `null` if the path is taken. */
export function addRoute(server: HttpServer, path: string, handler: UpgradeHandler): (() => void) | null {
  let router = routers.get(server)
  if (!router) {
    const routes = new Map<string, UpgradeHandler>()
    const onUpgrade: UpgradeHandler = (req, socket, head) => {
      const pathname = canonicalPathname(pathOf(req.url))
      const route = pathname === null ? undefined : routes.get(pathname)
      if (route) return route(req, socket, head)
      if (server.listenerCount('upgrade') > 1) return // someone else's path
      reject(socket, 404, 'Not Found')
    }
    router = { routes, onUpgrade }
    routers.set(server, router)
    server.on('upgrade', onUpgrade)
  }
  if (router.routes.has(path)) return null
  router.routes.set(path, handler)
  const current = router
  return () => {
    if (current.routes.get(path) !== handler) return
    current.routes.delete(path)
    if (current.routes.size === 0) {
      server.removeListener('upgrade', current.onUpgrade)
      routers.delete(server)
    }
  }
}

function pathOf(url: string | undefined): string {
  if (!url) return '/'
  // Absolute-form request targets (`GET ws://host/path`) are legal HTTP.
  if (!url.startsWith('/')) {
    try {
      return new URL(url).pathname
    } catch {
      return '/'
    }
  }
  return url
}

/** Answers an upgrade request with an HTTP error and closes the socket. */
export function reject(socket: Duplex, status: number, text: string): void {
  if (!socket.writable) return void socket.destroy()
  socket.on('error', () => socket.destroy())
  // Destroy once the answer has left, not before: ending alone could leave a half-open socket.
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`, () => socket.destroy())
}
