#!/usr/bin/env node
import * as mod from '../../dist/browser.js'
import { run } from './shs1.mjs'
await run('client', mod)
