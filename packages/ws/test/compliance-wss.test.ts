import { transportSuite } from '@ms/compliance'
import { ws } from '@ms/ws'
import { selfSignedCertificate } from './cert.js'

const { key, cert } = selfSignedCertificate()

transportSuite({
  name: 'wss (self-signed, IPv4)',
  server: () => [ws({ host: '127.0.0.1', port: 0, tls: { key, cert } })],
  client: () => [ws({ tls: { ca: cert } })],
})
