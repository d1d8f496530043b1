import { transportSuite } from '@ms/compliance'
import { net } from '../src/index.js'

transportSuite({ name: 'net (IPv4)', server: () => [net({ host: '127.0.0.1' })], client: () => [net()], channel: true })
transportSuite({ name: 'net (IPv6 loopback)', server: () => [net({ host: '::1' })], client: () => [net()], channel: true })
transportSuite({ name: 'net (IPv6 loopback, brackets)', server: () => [net({ host: '::1', brackets: true })], client: () => [net()] })
