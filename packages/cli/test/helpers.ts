import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const packageDir = fileURLToPath(new URL('..', import.meta.url))
export const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

/** The tests run the built CLI, as users get it; build it once if it is missing. */
export function ensureBuilt(): void {
  if (existsSync(bin)) return
  const result = spawnSync('npx', ['tsup'], { cwd: packageDir, stdio: 'inherit' })
  if (result.status !== 0 || !existsSync(bin)) throw new Error('could not build @ms/cli (run `pnpm build` at the root)')
}

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

const children = new Set<ChildProcessWithoutNullStreams>()

/** Runs `ms ARGS` to completion, feeding `input` (then closing stdin unless `keepStdinOpen`). */
export function run(args: string[], options: { input?: string; keepStdinOpen?: boolean; timeout?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? packageDir, stdio: 'pipe' })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`ms ${args.join(' ')} did not exit within ${options.timeout ?? 15000} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, options.timeout ?? 15_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.on('error', () => {})
    if (options.input !== undefined) child.stdin.write(options.input)
    if (!options.keepStdinOpen) child.stdin.end()
  })
}

export interface Server {
  child: ChildProcessWithoutNullStreams
  /** Advertised `device` address. */
  address: string
  stderr: () => string
  stdout: () => string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  stop(): Promise<number | null>
}

/** Starts `ms serve ARGS` and waits for it to print its device address. */
export function serve(args: string[], options: { cwd?: string } = {}): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'serve', ...args], { cwd: options.cwd ?? packageDir, stdio: 'pipe' })
    children.add(child)
    let stderr = ''
    let stdout = ''
    const exited = new Promise<number | null>((ok) =>
      child.on('close', (code) => {
        children.delete(child)
        ok(code)
      }),
    )
    const timer = setTimeout(() => reject(new Error(`ms serve printed no address:\n${stderr}`)), 15_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      const m = /^ {2}device +(\S+)$/m.exec(stderr)
      if (m && m[1] !== '(none)') {
        clearTimeout(timer)
        resolve({
          child,
          address: m[1]!,
          stderr: () => stderr,
          stdout: () => stdout,
          exited,
          stop: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
            return exited
          },
        })
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`ms serve exited (${code}) before listening:\n${stderr}`))
    })
  })
}

/** Kills whatever a failed test left running. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('close', () => resolve())
          child.kill('SIGKILL')
        }),
    ),
  )
}
