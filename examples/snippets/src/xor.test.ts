// How a transform tests itself with the shared suite (@ms/core's README).
import { transformSuite } from '@ms/compliance'
import { net } from '@ms/net'
import { xor } from './xor.js'

transformSuite({ name: 'xor', server: () => [xor()], client: () => [xor()] }) // over the in-memory transport
transformSuite({
  name: 'xor over net',
  server: () => [xor()],
  client: () => [xor()],
  transport: () => ({ server: net(), client: net() }),
  largeBytes: 2 * 1024 * 1024,
})
