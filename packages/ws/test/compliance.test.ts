import { transportSuite } from '@ms/compliance'
import { ws } from '@ms/ws'

transportSuite({
  name: 'ws (IPv4)',
  server: () => [ws({ host: '127.0.0.1', port: 0 })],
  client: () => [ws()],
  channel: false,
})

transportSuite({
  name: 'ws (IPv6)',
  server: () => [ws({ host: '::1', port: 0, path: '/ms' })],
  client: () => [ws()],
})
