import { createRequire } from 'node:module'

/** The package version, read from package.json at run time (works from src and dist alike). */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version
