/**
 * What every `spire-azure` command shares: its shape, its I/O seams, exit codes, the two error kinds,
 * JSON output and deferred progress lines. Commands are thin: they parse their options, call the
 * plugins' own code and print; nothing here talks to Azure.
 */
import type { ParseArgsConfig } from 'node:util'

/** Conventional exit codes: 0 ok, 1 a failure (or problem) found, 2 a usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** The seams a command runs through; tests pass their own. */
export interface CliIo {
  /** Machine or human output (one JSON document with `--json`). */
  stdout(text: string): void
  /** Progress, warnings and errors. */
  stderr(text: string): void
  env: Readonly<Record<string, string | undefined>>
  cwd: string
  /** Wall clock (ms since the epoch), for expiry checks and progress. */
  now(): number
  /** The path this CLI was started as (process.argv[1]), when known. */
  programPath?: string
  /** Starts a timer; progress lines use it so tests can drive them. */
  setTimer(ms: number, fn: () => void): { cancel(): void }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export interface ParsedOptions {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
}

export interface Command {
  name: string
  /** One line for `spire-azure --help`. */
  summary: string
  /** The whole `--help` text of the command (usage, options, examples). */
  help: string
  /** Options besides `--help` and `--json`, which every command takes. */
  options: OptionSpec
  /** Whether positional arguments are accepted. */
  positionals?: boolean
  run(options: ParsedOptions, io: CliIo, json: boolean): Promise<ExitCode>
}

/** A mistake in how the command was called: exit 2, with a hint (usually `--help`). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message)
    this.name = 'UsageError'
  }
}

/** The command could not do its work (a file unreadable, Azure refused): exit 1, with a hint. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'CliError'
  }
}

/** One JSON document on stdout, the whole `--json` output of a command. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`)
}

/** After this long without an answer, a step says on stderr what it is waiting for. */
export const PROGRESS_AFTER_MS = 1_000

/**
 * Runs one slow step: if it has not settled within a second, `label…` goes to stderr, and when it
 * settles, `label: done` (or `failed`). Quick steps print nothing.
 */
export async function withProgress<T>(
  io: CliIo,
  label: string,
  work: () => Promise<T>,
): Promise<T> {
  let shown = false
  const timer = io.setTimer(PROGRESS_AFTER_MS, () => {
    shown = true
    io.stderr(`${label}…\n`)
  })
  try {
    const result = await work()
    if (shown) io.stderr(`${label}: done\n`)
    return result
  } catch (err) {
    if (shown) io.stderr(`${label}: failed\n`)
    throw err
  } finally {
    timer.cancel()
  }
}

/** A string option, or undefined; repeated options keep the last. */
export function stringOption(options: ParsedOptions, name: string): string | undefined {
  const v = options.values[name]
  if (Array.isArray(v)) {
    const last = v[v.length - 1]
    return typeof last === 'string' ? last : undefined
  }
  return typeof v === 'string' ? v : undefined
}

/** Every value of a repeatable string option. */
export function stringList(options: ParsedOptions, name: string): string[] {
  const v = options.values[name]
  if (v === undefined) return []
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string')
}

export function flag(options: ParsedOptions, name: string): boolean {
  return options.values[name] === true
}

/** Replaces a secret with a marker that still tells its length, unless the operator asked to see it. */
export function redact(secret: string, show: boolean): string {
  return show ? secret : `<redacted, ${secret.length} chars>`
}
