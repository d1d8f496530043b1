import { transformSuite } from '@ms/compliance'
import { net } from '@ms/net'
import { unix } from '@ms/unix'
import { noauth } from '../src/index.js'

transformSuite({
  name: 'unix~noauth',
  server: () => [noauth()],
  client: () => [noauth()],
  transport: () => ({ server: unix(), client: unix() }),
  // noauth passes the bytes and the channel through untouched.
  channel: true,
  // Unix sockets carry no reset: an abort reaches the peer as an end.
  endOnly: true,
})
transformSuite({
  name: 'net~noauth (loopback)',
  server: () => [noauth()],
  client: () => [noauth()],
  transport: () => ({ server: net({ host: '127.0.0.1' }), client: net() }),
  channel: true,
})
