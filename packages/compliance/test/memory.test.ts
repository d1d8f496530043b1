import { memory, transportSuite } from '../src/index.js'

// The in-memory transport is the reference implementation of the contract.
transportSuite({ name: 'mem', server: () => [memory()], client: () => [memory()], channel: false })
