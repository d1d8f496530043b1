import WebSocket from 'ws'
import { transportSuite } from '@ms/compliance'
import { ws } from '@ms/ws'
import { ws as browserWs, type DomWebSocketConstructor } from '@ms/ws/browser'

// The browser build's client (DOM WebSocket API, bufferedAmount polling,
// no inbound pause) against the Node server, with npm `ws` standing in for
// the browser's WebSocket. The real browser runs in browser.test.ts.
transportSuite({
  name: 'ws (browser client build)',
  server: () => [ws({ host: '127.0.0.1', port: 0 })],
  // The backpressure test writes from the client, which bufferedAmount
  // holds back; what a server sends to a browser cannot be paused (see README).
  client: () => [browserWs({ WebSocket: WebSocket as unknown as DomWebSocketConstructor })],
})
