/**
 * `spire-azure`: the operator's command line. Parses the command and its options (node:util
 * parseArgs, strict), runs it, and turns errors into one line plus a hint with the conventional exit
 * code. The commands reuse the plugins' own code, so what they print is what the server does.
 */
import { isSea } from 'node:sea'
import { parseArgs } from 'node:util'
import { checksumCommand } from './checksum.js'
import { CliError, EXIT, UsageError, type CliIo, type Command, type ExitCode } from './command.js'
import { doctorCommand } from './doctor.js'
import { selectorsCommand } from './selectors.js'
import { validateCommand } from './validate.js'

export const COMMANDS: readonly Command[] = [
  selectorsCommand,
  validateCommand,
  doctorCommand,
  checksumCommand,
]

export const PROGRAM = 'spire-azure'

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Operator tools for the spire-azure-attestor SPIRE plugins (azure_msi, azure_imds).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --help, and --json for one machine-readable JSON document on stdout.',
    'Exit codes: 0 ok, 1 a failure or problem found, 2 a usage error.',
    `See '${PROGRAM} <command> --help' and docs/cli.md.`,
    '',
  ].join('\n')
}

/** Runs one invocation; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? rest[0] : undefined
    const command = target === undefined ? undefined : COMMANDS.find((c) => c.name === target)
    if (target !== undefined && command === undefined) return usage(io, unknownCommand(target))
    io.stdout(command?.help ?? mainHelp())
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) return usage(io, unknownCommand(name))
  let parsed
  try {
    parsed = parseArgs({
      args: [...rest],
      options: {
        ...command.options,
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
      },
      allowPositionals: command.positionals === true,
      strict: true,
    })
  } catch (err) {
    return usage(io, new UsageError(firstLine(err), `see '${PROGRAM} ${command.name} --help'`))
  }
  if (parsed.values.help === true) {
    io.stdout(command.help)
    return EXIT.ok
  }
  const json = parsed.values.json === true
  try {
    return await command.run({ values: parsed.values, positionals: parsed.positionals }, io, json)
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err)
    const hint =
      err instanceof CliError
        ? err.hint
        : 'this looks like a bug in spire-azure; please report it with the command you ran'
    report(io, firstLine(err), hint)
    return EXIT.failure
  }
}

function unknownCommand(name: string): UsageError {
  return new UsageError(
    `unknown command ${JSON.stringify(name)}`,
    `commands: ${COMMANDS.map((c) => c.name).join(', ')}; see '${PROGRAM} --help'`,
  )
}

function usage(io: CliIo, err: UsageError): ExitCode {
  report(io, err.message, err.hint)
  return EXIT.usage
}

function report(io: CliIo, message: string, hint: string | undefined): void {
  io.stderr(`${PROGRAM}: error: ${message}\n`)
  if (hint !== undefined) io.stderr(`hint: ${hint}\n`)
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0] ?? message
}

/** The process's own I/O. */
export function processIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    // in a single-executable build, argv[1] is the name as typed (maybe found on PATH); execPath is the file
    programPath: isSea() ? process.execPath : (process.argv[1] ?? process.execPath),
    now: () => Date.now(),
    setTimer(ms, fn) {
      const t = setTimeout(fn, ms)
      t.unref()
      return { cancel: () => clearTimeout(t) }
    },
  }
}
