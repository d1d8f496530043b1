import { transportSuite } from '@ms/compliance'
import { unix } from '../src/index.js'

// Unix sockets carry no reset: an abort reaches the peer as an end (endOnly).
transportSuite({ name: 'unix (default path)', server: () => [unix()], client: () => [unix()], channel: true, endOnly: true })
