#!/usr/bin/env node
import * as mod from '../../dist/index.js'
import { run } from './shs1.mjs'
await run('server', mod)
