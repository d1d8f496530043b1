// How a third-party plugin tests itself: the shared compliance suites.
// (This file is a README snippet and also runs in CI.)
import { transformSuite } from '@ms/compliance'
import { net } from '@ms/net'
import { rot13 } from './rot13.js'

// Over the in-memory transport (the default)...
transformSuite({ name: 'rot13', server: () => [rot13()], client: () => [rot13()] })

// ...and over a real transport.
transformSuite({
  name: 'rot13 over net',
  server: () => [rot13()],
  client: () => [rot13()],
  transport: () => ({ server: net(), client: net() }),
  largeBytes: 2 * 1024 * 1024,
  parallel: 20,
})
