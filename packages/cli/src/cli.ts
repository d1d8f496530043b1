#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander'
import { createMultiServer, isMsError, parseMultiAddress, type Connection } from '@ms/core'
import { CliError, EXIT } from './errors.js'
import { explainAddress, formatExplanation } from './explain.js'
import { feedId, generateKeys, readKeysFile, writeKeysFile, type SecretKeys } from './keys.js'
import { SSB_APP_KEY, clientPlugins, suitesFor, type ClientContext } from './plugins.js'
import { formatProbe, probe, type ProbeResult } from './probe.js'
import { relay } from './relay.js'
import { buildServer, describePeer, echo, exec, readConfig, specsFromFlags, type ListenSpec } from './serve.js'
import { VERSION } from './version.js'

const err = (line: string) => process.stderr.write(line + '\n')
const out = (line: string) => process.stdout.write(line + '\n')
const collect = (value: string, previous: string[]) => [...previous, value]

/** The exit code the last action asked for; commander ignores action return values. */
let actionExit: number = EXIT.OK
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function act<A extends any[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    actionExit = await fn(...args)
  }
}

function positiveInt(flag: string) {
  return (value: string) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n <= 0) throw new CliError(`${flag} expects a positive whole number of milliseconds, got ${JSON.stringify(value)}`, EXIT.USAGE)
    return n
  }
}

/** Fails with exit code 2 and a pointer at the bad character if the address does not parse. */
function checkAddress(address: string): void {
  try {
    parseMultiAddress(address)
  } catch (error) {
    if (isMsError(error, 'AddressError')) {
      const caret = error.position !== undefined && address.length < 200 ? `\n  ${address}\n  ${' '.repeat(error.position)}^` : ''
      throw new CliError(`${error.message}${caret}`, EXIT.USAGE)
    }
    throw error
  }
}

/** The plugin names an address mentions. */
function namesIn(alternatives: { name: string }[][]): string[] {
  return alternatives.flatMap((alternative) => alternative.map((segment) => segment.name))
}

interface ClientFlags {
  keys?: string
  appkey?: string
  socks?: string
  timeout?: number
}

async function clientContext(flags: ClientFlags): Promise<ClientContext & { identity: SecretKeys }> {
  const identity = flags.keys ? await readKeysFile(flags.keys) : generateKeys()
  const ctx: ClientContext & { identity: SecretKeys } = { identity, keys: identity, appKey: flags.appkey ?? SSB_APP_KEY }
  if (flags.socks) ctx.socks = flags.socks
  return ctx
}

function clientOptions(command: Command): Command {
  return command
    .option('--keys <file>', 'our identity for shs (ssb-keys secret file); default: a throw-away key pair')
    .option('--appkey <base64>', 'shs network key (32 bytes, base64); default: the SSB main network key')
    .option('--socks <host:port>', 'SOCKS5 proxy (Tor) for onion: addresses; default 127.0.0.1:9050, then :9150')
}

export function createProgram(): Command {
  const program = new Command('ms')
  program
    .description('multiserver: serve, connect to, probe and explain multiserver addresses (net~shs, ws~shs, unix~noauth, onion~shs, ...)')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes:
  0  success
  1  the operation failed (could not connect, handshake failed, connection broke)
  2  bad usage or input (unknown flag, invalid address, unreadable key file)
  3  connect / serve --stdio: the peer closed before our input ended

Examples:
  ms keygen --out ./secret
  ms serve --net 127.0.0.1:8008 --shs --keys ./secret
  echo hello | ms connect 'net:127.0.0.1:8008~shs:<key>'
  ms probe 'net:example.com:8008~shs:<key>;ws://example.com:80~shs:<key>'
  ms parse 'net:example.com:8008~shs:<key>'`,
    )

  program
    .command('parse')
    .description('explain an address part by part, and say which installed plugins understand it')
    .argument('<address>', 'a multiserver address, e.g. net:host:8008~shs:KEY (quote it: ; and ~ are special to shells)')
    .option('--json', 'print the explanation as JSON')
    .addHelpText('after', '\nExit status: 0 if some alternative can be dialled, 1 if none can, 2 if the address is not valid.')
    .action(
      act(async (address: string, flags: { json?: boolean }) => {
      const plugins = await clientPlugins({ keys: generateKeys(), appKey: SSB_APP_KEY })
      const explanation = explainAddress(address, plugins)
      if (flags.json) out(JSON.stringify(explanation, null, 2))
      else (explanation.valid ? out : err)(formatExplanation(explanation))
      if (!explanation.valid) return EXIT.USAGE
      return explanation.alternatives.some((a) => a.suite) ? EXIT.OK : EXIT.FAILURE
    }),
    )

  program
    .command('keygen')
    .description('generate an Ed25519 key pair in the ssb-keys secret-file format')
    .option('-o, --out <file>', 'write it to FILE (mode 0600; never overwrites) instead of standard output')
    .action(
      act(async (flags: { out?: string }) => {
      const keys = generateKeys()
      if (flags.out) {
        await writeKeysFile(flags.out, keys)
        err(`wrote ${flags.out}; your public identity is`)
        out(keys.id)
      } else {
        out(JSON.stringify(keys, null, 2))
      }
      return EXIT.OK
    }),
    )

  program
    .command('serve')
    .description('listen on one or more suites, print the advertised addresses, and echo, exec or relay each connection')
    .option('--net <host:port>', 'listen on TCP (repeatable); :PORT means every interface, port 0 a free one', collect, [])
    .option('--ws <host:port>', 'listen on WebSocket (repeatable)', collect, [])
    .option('--unix <path>', 'listen on a unix socket (repeatable)', collect, [])
    .option('--shs', 'secret-handshake on the network transports (and on unix without --noauth)')
    .option('--noise', 'Noise IK (the @hyperswarm/secret-stream wire) instead of shs, same identity; shs and noise side by side: --config')
    .option('--noauth', 'no authentication: unix sockets (and loopback TCP) only')
    .option('--keys <file>', 'our identity for shs and noise (ssb-keys secret file); default: a throw-away key pair')
    .option('--appkey <base64>', 'shs network key (32 bytes, base64); default: the SSB main network key')
    .option('--allow <id>', 'shs and noise: only accept this client (@KEY.ed25519; repeatable); default: everyone with the app key', collect, [])
    .option('--config <file>', 'read listeners from a JSON file instead of flags (see README)')
    .addOption(new Option('--exec <command>', 'run COMMAND (in a shell) for each connection, its stdin/stdout wired to the peer').conflicts('stdio'))
    .addOption(new Option('--stdio', 'relay our stdin/stdout with the first connection, then exit (later ones are refused)'))
    .addHelpText(
      'after',
      `
Without --exec or --stdio every connection is echoed back.
Status lines (including the addresses) go to standard error.
With --exec the command sees MS_REMOTE_ADDRESS and, for shs and noise, MS_PEER_ID.`,
    )
    .action(act(serve))

  clientOptions(
    program
      .command('connect')
      .description('connect to an address and relay standard input and output over it, like nc')
      .argument('<address>', 'where to connect; ";"-separated alternatives are tried in order (quote it)'),
  )
    .option('--timeout <ms>', 'give up connecting after this long', positiveInt('--timeout'))
    .option('-v, --verbose', 'say on standard error whom we connected to')
    .addHelpText(
      'after',
      `
Exit status: 0 our input ended and then the peer closed cleanly; 1 the
connection failed or broke; 2 bad usage or address; 3 the peer closed its
side before our input ended.`,
    )
    .action(act(connect))

  clientOptions(
    program
      .command('probe')
      .description('try every ";" alternative of an address and report each step: connect time, handshake time, peer key, or where and why it failed')
      .argument('<address>', 'the address to diagnose (quote it)'),
  )
    .option('--timeout <ms>', 'per alternative; default 10000 (120000 for onion)', positiveInt('--timeout'))
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      `
Failure reasons: refused, timeout, unreachable, dns, no-socket, permission,
proxy-unreachable, proxy-error, wrong-appkey, wrong-server-key,
rejected (noise: the server hung up after msg1: wrong server key, another
network key, or not authorized), unauthorized, not-local, handshake, reset,
unsupported, error.
Exit status: 0 if at least one alternative works, 1 if none does, 2 bad usage.`,
    )
    .action(act(runProbe))

  return program
}

interface ServeFlags {
  net: string[]
  ws: string[]
  unix: string[]
  shs?: boolean
  noise?: boolean
  noauth?: boolean
  keys?: string
  appkey?: string
  allow: string[]
  config?: string
  exec?: string
  stdio?: boolean
}

async function serve(flags: ServeFlags): Promise<number> {
  let specs: ListenSpec[]
  let keysFile = flags.keys
  let appKey = flags.appkey
  let allow = flags.allow
  if (flags.config) {
    if (flags.net.length || flags.ws.length || flags.unix.length) throw new CliError('give listeners either as flags or with --config, not both', EXIT.USAGE)
    const config = await readConfig(flags.config)
    specs = config.listen
    keysFile ??= config.keys
    appKey ??= config.appKey
    if (!allow.length && config.allow) allow = config.allow
  } else {
    specs = specsFromFlags(flags)
  }
  if (specs.length === 0) throw new CliError('nothing to listen on: give --net, --ws, --unix or --config (see ms serve --help)', EXIT.USAGE)
  const setup = await buildServer(specs, { ...(keysFile ? { keys: keysFile } : {}), ...(appKey ? { appKey } : {}), allow })
  for (const warning of setup.warnings) err(`warning: ${warning}`)

  let stdioTaken = false
  let finish: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => (finish = resolve))
  const onConnection = (connection: Connection) => {
    const who = describePeer(connection)
    if (flags.stdio) {
      if (stdioTaken) {
        err(`refused ${who}: --stdio serves one connection`)
        void connection.close()
        return
      }
      stdioTaken = true
      err(`connected: ${who}`)
      void relay(connection, process.stdin, process.stdout).then((result) => {
        if (result.outcome === 'error') err(`connection broke: ${(result.error as Error)?.message ?? String(result.error)}`)
        finish(result.outcome === 'clean' ? EXIT.OK : result.outcome === 'peer-closed' ? EXIT.PEER_CLOSED : EXIT.FAILURE)
      })
      return
    }
    err(`connected: ${who}`)
    const handled = flags.exec ? exec(connection, flags.exec, (line) => err(`${who}: ${line}`)) : echo(connection)
    void handled.then(() => err(`closed: ${who}`))
  }

  let listener
  try {
    listener = await setup.server.listen(onConnection, { onError: (error) => err(`connection failed: ${error.message}`) })
  } catch (error) {
    throw new CliError(`cannot listen: ${(error as Error).message}`, EXIT.FAILURE)
  }
  if (setup.keys) err(`identity: ${setup.keys.id}${setup.ephemeral ? ' (throw-away; use --keys FILE to keep one)' : ''}`)
  err('listening; advertised addresses:')
  for (const scope of ['device', 'local', 'public'] as const) {
    const address = setup.server.stringify(scope)
    err(`  ${scope.padEnd(7)} ${address || '(none)'}`)
  }

  const onSignal = () => finish(EXIT.OK)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const code = await finished
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  await listener.close()
  return code
}

async function connect(address: string, flags: ClientFlags & { verbose?: boolean }): Promise<number> {
  checkAddress(address)
  const ctx = await clientContext(flags)
  const alternatives = parseMultiAddress(address)
  const plugins = await clientPlugins(ctx, namesIn(alternatives))
  const suites = suitesFor(alternatives, plugins)
  if (suites.length === 0) throw new CliError(`no installed plugin can dial ${address}; run \`ms parse\` on it to see why`, EXIT.USAGE)
  const client = createMultiServer(suites)
  let connection: Connection
  try {
    connection = await client.connect(address, flags.timeout ? { timeout: flags.timeout } : {})
  } catch (error) {
    if (isMsError(error, 'NoTransportError')) throw new CliError(`no installed plugin accepts ${address}; run \`ms parse\` on it to see why`, EXIT.USAGE)
    const message = error instanceof Error ? error.message : String(error)
    throw new CliError(/^could not connect/.test(message) ? message : `could not connect: ${message}`, EXIT.FAILURE)
  }
  if (flags.verbose) {
    const key = connection.info.shs?.publicKey ?? connection.info.noise?.publicKey
    err(`connected to ${connection.remoteAddress}${key ? ` (${feedId(key)})` : ''}`)
  }
  const result = await relay(connection, process.stdin, process.stdout)
  if (result.outcome === 'error') {
    err(`ms: connection broke: ${(result.error as Error)?.message ?? String(result.error)}`)
    return EXIT.FAILURE
  }
  if (flags.verbose) err(result.outcome === 'clean' ? 'closed' : 'the peer closed the connection')
  return result.outcome === 'clean' ? EXIT.OK : EXIT.PEER_CLOSED
}

async function runProbe(address: string, flags: ClientFlags & { json?: boolean }): Promise<number> {
  checkAddress(address)
  const ctx = await clientContext(flags)
  // Timeouts are enforced per alternative by probe(); plugins get no lower limit of their own.
  const plugins = await clientPlugins(ctx, namesIn(parseMultiAddress(address)))
  const tty = process.stderr.isTTY === true && !flags.json
  let progress: { text: string; since: number } | undefined
  const spinner = tty
    ? setInterval(() => {
        if (progress) process.stderr.write(`\r\x1b[K… ${progress.text} (${((performance.now() - progress.since) / 1000).toFixed(1)} s)`)
      }, 100)
    : undefined
  const clear = () => tty && process.stderr.write('\r\x1b[K')
  const results: ProbeResult[] = []
  try {
    const all = await probe(address, plugins, {
      timeout: (transport) => flags.timeout ?? (transport === 'onion' ? 120_000 : 10_000),
      onStep: (alternative, stage) => {
        progress = { text: `${alternative}: ${stage === 'connect' ? 'connecting' : `${stage} handshake`}`, since: performance.now() }
      },
    })
    results.push(...all)
  } finally {
    if (spinner) clearInterval(spinner)
    clear()
  }
  if (flags.json) {
    out(JSON.stringify({ address, ok: results.some((r) => r.ok), identity: ctx.identity.id, results }, null, 2))
  } else {
    for (const r of results) out(formatProbe(r))
  }
  return results.some((r) => r.ok) ? EXIT.OK : EXIT.FAILURE
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = createProgram()
  try {
    if (argv.length <= 2) {
      program.outputHelp()
      return EXIT.USAGE
    }
    actionExit = EXIT.OK
    await program.parseAsync(argv)
    return actionExit
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.OK
      return EXIT.USAGE
    }
    if (error instanceof CliError) {
      err(`ms: ${error.message}`)
      return error.exitCode
    }
    err(`ms: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)
    return EXIT.FAILURE
  }
}

const code = await main(process.argv)
// Flush what we wrote, then exit even if a library left a handle open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
