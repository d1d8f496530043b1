import { transportSuite } from '@ms/compliance'
import { unix } from '../src/index.js'

transportSuite({ name: 'unix (default path)', server: () => [unix()], client: () => [unix()], channel: true })
