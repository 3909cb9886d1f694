/**
 * `spire-azure validate FILE...`: checks SPIRE `server.conf` / `agent.conf` files (HCL or JSON), or
 * bare `plugin_data` texts, for the azure_msi and azure_imds plugins. The config is read as SPIRE
 * reads it (spire-config.ts), each of our plugins' `plugin_data` goes through that plugin's own
 * `buildConfig`, and every problem is printed with its key path and line. Pure core
 * (`validateInputs`), thin edge (the command: files in, text or JSON out).
 */
import { readFileSync } from 'node:fs'
import { basename, isAbsolute, resolve } from 'node:path'
import { EXIT, UsageError, flag, printJson, stringOption, type Command } from './command.js'
import {
  SpireConfigError,
  dataLocator,
  expandEnv,
  formatKeyPath,
  parseSpireConfig,
  type KeyPath,
  type PluginSection,
  type SpireConfig,
} from './spire-config.js'
import { buildConfig as buildMsiServer } from '../../server-plugin/azure-msi/config.js'
import { buildConfig as buildImdsServer } from '../../server-plugin/azure-imds/config.js'
import { buildConfig as buildMsiAgent } from '../../agent-plugin/azure-msi/config.js'
import { buildConfig as buildImdsAgent } from '../../agent-plugin/azure-imds/config.js'
import { DECODE_ERROR_PREFIX } from '../go/hcl/decode.js'
import { Report } from '../plugin/report.js'
import type { BuildConfig } from '../plugin/types.js'

export type OurPlugin = 'azure_msi' | 'azure_imds'
export type Side = 'server' | 'agent'

const OUR_PLUGINS: readonly OurPlugin[] = ['azure_msi', 'azure_imds']

const BUILDERS: Readonly<Record<OurPlugin, Record<Side, BuildConfig<unknown>>>> = {
  azure_msi: { server: buildMsiServer, agent: buildMsiAgent },
  azure_imds: { server: buildImdsServer, agent: buildImdsAgent },
}

/** Our executables, as `npm run build` names them: the plugin and side a `plugin_cmd` names. */
const OUR_COMMAND = /^spire-(server|agent)-nodeattestor-azure-(msi|imds)$/

/** Trust domain handed to a server builder when neither the config nor --trust-domain gives one. */
export const PLACEHOLDER_TRUST_DOMAIN = 'example.org'

export interface ValidateOptions {
  /** Treat every file as a bare plugin_data text for this plugin. */
  plugin?: OurPlugin
  /** The side of a bare plugin_data text, or of a config without a server/agent section. */
  side?: Side
  trustDomain?: string
  expandEnv?: boolean
}

/** How validate reads files: relative to the working directory, as SPIRE does. */
export interface ValidateDeps {
  readFile(path: string): string
  cwd: string
  env: Readonly<Record<string, string | undefined>>
}

export interface Problem {
  severity: 'error' | 'warning'
  message: string
  /** The file the line is in (a plugin_data_file's problems are in that file). */
  file: string
  line?: number
  /** Formatted: `plugins.NodeAttestor.azure_msi.plugin_data.tenants."<tid>".subscription_id`. */
  keyPath?: string
  hint?: string
}

export interface PluginReport {
  type: string
  name: string
  line?: number
  /** checked: one of ours, built; disabled: ours, `enabled = false`; skipped: see `reason`. */
  status: 'checked' | 'disabled' | 'skipped'
  /** Why a plugin was not checked. */
  reason?: string
  /** Which of our plugins, for checked and disabled ones. */
  plugin?: OurPlugin
  side?: Side
  dataSource?: PluginSection['dataSource']
  pluginDataFile?: string
}

export interface FileReport {
  file: string
  kind: 'config' | 'plugin_data'
  side?: Side
  trustDomain?: string
  plugins: PluginReport[]
}

export interface ValidationResult {
  files: FileReport[]
  problems: Problem[]
  errors: number
  warnings: number
}

/** Validates every input; never throws for what is in the files (those are problems). */
export function validateInputs(
  files: readonly string[],
  opts: ValidateOptions,
  deps: ValidateDeps,
): ValidationResult {
  const problems: Problem[] = []
  const reports = files.map((file) => {
    const own: Problem[] = []
    const report =
      opts.plugin === undefined
        ? validateConfigFile(file, opts, deps, own)
        : validatePluginDataFile(file, opts.plugin, opts, deps, own)
    // each input's problems in line order (a data file's after the config's); stable otherwise
    const rank = (p: Problem): [number, number] => [p.file === file ? 0 : 1, p.line ?? 0]
    own.sort((a, b) => {
      const [fa, la] = rank(a)
      const [fb, lb] = rank(b)
      return fa - fb || la - lb
    })
    if (opts.expandEnv !== true) {
      for (const p of own) {
        if (p.hint === undefined && p.message.includes('${')) {
          p.hint =
            'the value holds ${...}: SPIRE expands it only with -expandEnv; pass --expand-env (with those variables set)'
        }
      }
    }
    problems.push(...own)
    return report
  })
  return {
    files: reports,
    problems,
    errors: problems.filter((p) => p.severity === 'error').length,
    warnings: problems.filter((p) => p.severity === 'warning').length,
  }
}

function readInput(file: string, deps: ValidateDeps, problems: Problem[]): string | undefined {
  try {
    return deps.readFile(isAbsolute(file) ? file : resolve(deps.cwd, file))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    problems.push({
      severity: 'error',
      file,
      message: `cannot read ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    })
    return undefined
  }
}

function validateConfigFile(
  file: string,
  opts: ValidateOptions,
  deps: ValidateDeps,
  problems: Problem[],
): FileReport {
  const report: FileReport = { file, kind: 'config', plugins: [] }
  const text = readInput(file, deps, problems)
  if (text === undefined) return report
  let config: SpireConfig
  try {
    config = parseSpireConfig(text, file, {
      expandEnv: opts.expandEnv === true,
      env: deps.env,
      cwd: deps.cwd,
      readFile: deps.readFile,
    })
  } catch (err) {
    if (!(err instanceof SpireConfigError)) throw err
    problems.push({
      severity: 'error',
      file,
      ...(err.line === undefined ? {} : { line: err.line }),
      message: err.message,
      hint: 'SPIRE refuses to start with this file',
    })
    return report
  }
  const side = opts.side ?? config.side
  if (side !== undefined) report.side = side
  if (config.trustDomain !== undefined) report.trustDomain = config.trustDomain
  for (const p of config.problems) {
    problems.push({
      severity: p.severity,
      file,
      ...(p.line === undefined ? {} : { line: p.line }),
      keyPath: formatKeyPath(p.keyPath),
      message: p.message,
      hint: 'SPIRE refuses to start with this file',
    })
  }
  let enabled = 0
  const disabled: string[] = []
  for (const section of config.plugins) {
    const ours = ourPlugin(section)
    const entry: PluginReport = {
      type: section.type,
      name: section.name,
      status: 'skipped',
      reason: 'not a spire-azure plugin',
    }
    if (section.line !== undefined) entry.line = section.line
    report.plugins.push(entry)
    if (ours === undefined) continue
    entry.plugin = ours.plugin
    entry.dataSource = section.dataSource
    if (section.pluginDataFile !== undefined) entry.pluginDataFile = section.pluginDataFile
    const prefix: KeyPath = ['plugins', section.type, section.name]
    const pluginSide = side ?? ours.side
    if (section.disabled === true) {
      entry.status = 'disabled'
      entry.reason = 'enabled = false'
      disabled.push(section.name)
      continue
    }
    enabled++
    if (pluginSide === undefined) {
      entry.reason = 'server or agent? (pass --side)'
      problems.push({
        severity: 'error',
        file,
        ...(section.line === undefined ? {} : { line: section.line }),
        keyPath: formatKeyPath(prefix),
        message:
          'cannot tell a server config from an agent config: it has no server or agent section',
        hint: 'pass --side server or --side agent',
      })
      continue
    }
    entry.side = pluginSide
    entry.status = 'checked'
    delete entry.reason
    if (ours.side !== undefined && ours.side !== pluginSide) {
      problems.push({
        severity: 'error',
        file,
        ...lineOf(config.locate([...prefix, 'plugin_cmd'])),
        keyPath: formatKeyPath([...prefix, 'plugin_cmd']),
        message: `plugin_cmd ${JSON.stringify(section.pluginCmd)} is the ${ours.side} plugin, but this is ${pluginSide === 'server' ? 'a server' : 'an agent'} config`,
      })
    }
    checkPlugin(
      section,
      ours.plugin,
      pluginSide,
      config.trustDomain ?? opts.trustDomain,
      file,
      problems,
    )
  }
  if (enabled === 0) {
    const why = disabled.length > 0 ? ` (${disabled.join(', ')}: enabled = false)` : ''
    problems.push({
      severity: 'error',
      file,
      message: `enables neither azure_msi nor azure_imds${why}`,
      hint: 'this config does not use spire-azure-attestor; for a bare plugin_data text pass --plugin and --side',
    })
  }
  return report
}

function validatePluginDataFile(
  file: string,
  plugin: OurPlugin,
  opts: ValidateOptions,
  deps: ValidateDeps,
  problems: Problem[],
): FileReport {
  const side = opts.side ?? 'server'
  const report: FileReport = {
    file,
    kind: 'plugin_data',
    side,
    plugins: [{ type: 'NodeAttestor', name: plugin, status: 'checked', plugin, side }],
  }
  if (opts.trustDomain !== undefined) report.trustDomain = opts.trustDomain
  const raw = readInput(file, deps, problems)
  if (raw === undefined) return report
  const text = opts.expandEnv === true ? expandEnv(raw, deps.env) : raw
  const locate = dataLocator(text)
  const section: PluginSection = {
    type: 'NodeAttestor',
    name: plugin,
    pluginData: text,
    dataSource: 'plugin_data',
    locateData: (path) => {
      const line = locate(path)
      return line === undefined ? undefined : { file, line }
    },
  }
  checkPlugin(section, plugin, side, opts.trustDomain, file, problems, { bare: true })
  return report
}

/** Runs the plugin's own buildConfig on the data SPIRE would hand it, and places each problem. */
function checkPlugin(
  section: PluginSection,
  plugin: OurPlugin,
  side: Side,
  trustDomain: string | undefined,
  file: string,
  problems: Problem[],
  o: { bare?: boolean } = {},
): void {
  const prefix: KeyPath =
    o.bare === true ? [] : ['plugins', section.type, section.name, 'plugin_data']
  if (section.pluginDataError !== undefined) {
    const at = section.locateData([])
    problems.push({
      severity: 'error',
      file: at?.file ?? file,
      ...(at === undefined ? {} : { line: at.line }),
      keyPath: formatKeyPath(['plugins', section.type, section.name, 'plugin_data_file']),
      message: section.pluginDataError,
      hint: 'SPIRE reads plugin_data_file relative to its working directory: run validate from there, or use an absolute path',
    })
    return
  }
  const report = new Report()
  BUILDERS[plugin][side](
    section.pluginData,
    { trustDomain: trustDomain ?? PLACEHOLDER_TRUST_DOMAIN },
    report,
  )
  for (const p of report.problems) {
    const paths: (KeyPath | undefined)[] = p.keyPaths.length === 0 ? [undefined] : [...p.keyPaths]
    for (const path of paths) {
      const problem: Problem = { severity: p.severity, file, message: p.message }
      const at = section.locateData(path ?? [])
      if (at !== undefined) {
        problem.file = at.file
        problem.line = at.line
      }
      const syntaxLine = syntaxErrorLine(p.message)
      if (path === undefined && syntaxLine !== undefined) {
        // the line of a syntax error is in the text the plugin received: the data file's own
        // lines, or SPIRE's re-printing of an inline block (then the block's line is shown)
        if (o.bare === true) {
          problem.file = file
          problem.line = syntaxLine
        } else if (section.dataSource === 'plugin_data_file') {
          problem.file = section.pluginDataFile ?? file
          problem.line = syntaxLine
        } else {
          const hint = printHint(section, p.message)
          if (hint !== undefined) problem.hint = hint
        }
      }
      const keyPath = [...prefix, ...(path ?? [])]
      if (keyPath.length > 0) problem.keyPath = formatKeyPath(keyPath)
      problems.push(problem)
    }
  }
}

/** Why SPIRE's re-printing of an inline plugin_data does not parse, as far as we can tell. */
function printHint(section: PluginSection, message: string): string | undefined {
  switch (section.pluginDataForm) {
    case 'string':
      return 'plugin_data is a quoted string: SPIRE hands it to the plugin with its quotes, which is not HCL; write plugin_data { ... }'
    case 'heredoc':
      return 'plugin_data is a heredoc: SPIRE hands the plugin the heredoc token itself (<<EOF ...), which is not HCL; write plugin_data { ... }'
    case 'block':
      if (message.includes('heredoc not terminated')) {
        return 'SPIRE re-prints plugin_data and drops the newline after a heredoc that is its last setting; put another setting after the heredoc'
      }
      if (/=[ \t]*$/m.test(section.pluginData)) {
        return 'SPIRE re-prints plugin_data, and a JSON null prints as nothing (`key = `); remove the null'
      }
      return 'SPIRE re-prints plugin_data before handing it to the plugin, and the printed text does not parse'
    default:
      return undefined
  }
}

function syntaxErrorLine(message: string): number | undefined {
  if (!message.startsWith(DECODE_ERROR_PREFIX)) return undefined
  const m = /^(?:At )?(\d+):(\d+)/.exec(message.slice(DECODE_ERROR_PREFIX.length))
  return m === null ? undefined : Number(m[1])
}

/** Which of our plugins a section is: by our executable's name, else by the plugin name. */
function ourPlugin(section: PluginSection): { plugin: OurPlugin; side?: Side } | undefined {
  if (section.type !== 'NodeAttestor') return undefined
  const m = OUR_COMMAND.exec(basename(section.pluginCmd ?? ''))
  if (m !== null) return { plugin: `azure_${m[2]}` as OurPlugin, side: m[1] as Side }
  return OUR_PLUGINS.find((p) => p === section.name) === undefined
    ? undefined
    : { plugin: section.name as OurPlugin }
}

function lineOf(line: number | undefined): { line?: number } {
  return line === undefined ? {} : { line }
}

const HELP = `Usage: spire-azure validate [options] FILE...

Checks SPIRE server.conf / agent.conf files (HCL or JSON, read with SPIRE's own rules) for the
azure_msi and azure_imds node attestors, with the plugins' own configuration code. Every problem is
printed with its file, line and key path. Other plugins are listed as skipped. A config that enables
neither of our plugins is an error.

Options:
  --expand-env          expand $VAR and \${VAR} as SPIRE's -expandEnv does ($$ is a $), from this
                        command's environment; plugin_data_file contents are never expanded
  --side server|agent   the side of a config without a server or agent section, or of --plugin data
  --plugin NAME         every FILE is a bare plugin_data text (HCL or JSON) for NAME: azure_msi or
                        azure_imds (needs --side)
  --trust-domain TD     trust domain for the server plugins when the file names none
  --strict              warnings (unknown keys, ignored settings) fail too
  --json                one JSON document: files, plugins found, problems
  -h, --help            this help

plugin_data_file paths are read as SPIRE reads them: relative to the working directory.

Exit codes: 0 no errors (warnings allowed unless --strict), 1 a problem found or a file unreadable,
2 a usage error.

Examples:
  spire-azure validate /opt/spire/conf/server/server.conf
  spire-azure validate --expand-env examples/azure-msi/emulator-server.conf
  spire-azure validate --plugin azure_imds --side server azure_imds.hcl
`

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check server.conf / agent.conf or plugin_data for azure_msi and azure_imds',
  help: HELP,
  options: {
    plugin: { type: 'string' },
    side: { type: 'string' },
    'trust-domain': { type: 'string' },
    'expand-env': { type: 'boolean' },
    strict: { type: 'boolean' },
  },
  positionals: true,
  async run(options, io, json) {
    const files = options.positionals
    const usageHint = "see 'spire-azure validate --help'"
    if (files.length === 0) throw new UsageError('validate needs at least one FILE', usageHint)
    const plugin = stringOption(options, 'plugin')
    if (plugin !== undefined && !OUR_PLUGINS.includes(plugin as OurPlugin)) {
      throw new UsageError(
        `--plugin must be azure_msi or azure_imds, not ${JSON.stringify(plugin)}`,
        usageHint,
      )
    }
    const side = stringOption(options, 'side')
    if (side !== undefined && side !== 'server' && side !== 'agent') {
      throw new UsageError(`--side must be server or agent, not ${JSON.stringify(side)}`, usageHint)
    }
    if (plugin !== undefined && side === undefined) {
      throw new UsageError('--plugin needs --side server or --side agent', usageHint)
    }
    const trustDomain = stringOption(options, 'trust-domain')
    if (trustDomain !== undefined && trustDomain.trim() === '') {
      throw new UsageError('--trust-domain must not be empty', usageHint)
    }
    const opts: ValidateOptions = {
      ...(plugin === undefined ? {} : { plugin: plugin as OurPlugin }),
      ...(side === undefined ? {} : { side: side as Side }),
      ...(trustDomain === undefined ? {} : { trustDomain }),
      expandEnv: flag(options, 'expand-env'),
    }
    const result = validateInputs(files, opts, {
      readFile: (p) => readFileSync(p, 'utf8'),
      cwd: io.cwd,
      env: io.env,
    })
    const strict = flag(options, 'strict')
    const failed = result.errors > 0 || (strict && result.warnings > 0)
    if (json) printJson(io, { ok: !failed, ...result })
    else io.stdout(renderText(result, strict))
    return failed ? EXIT.failure : EXIT.ok
  },
}

/** The human form: a line per file, one per problem (`file:line: severity: key.path: message`), a summary. */
export function renderText(result: ValidationResult, strict: boolean): string {
  const lines: string[] = []
  for (const f of result.files) {
    const checked = f.plugins.filter((p) => p.status === 'checked')
    const parts: string[] = []
    if (f.kind === 'plugin_data') {
      parts.push(`plugin_data for ${checked[0]?.name ?? '?'} (${f.side ?? '?'})`)
    } else {
      parts.push(f.side === undefined ? 'config' : `${f.side} config`)
      if (checked.length > 0) {
        parts.push(
          `checked ${checked.map((p) => `NodeAttestor ${JSON.stringify(p.name)}${p.line === undefined ? '' : ` (line ${p.line})`}`).join(', ')}`,
        )
      }
      const disabled = f.plugins.filter((p) => p.status === 'disabled')
      if (disabled.length > 0) parts.push(`disabled ${disabled.map(pluginLabel).join(', ')}`)
      const skipped = f.plugins.filter((p) => p.status === 'skipped')
      if (skipped.length > 0) parts.push(`skipped ${skipped.map(pluginLabel).join(', ')}`)
    }
    lines.push(`${f.file}: ${parts.join('; ')}`)
  }
  for (const p of result.problems) {
    const where = p.line === undefined ? p.file : `${p.file}:${p.line}`
    const key = p.keyPath === undefined ? '' : `${p.keyPath}: `
    lines.push(`${where}: ${p.severity}: ${key}${p.message}`)
    if (p.hint !== undefined) lines.push(`  hint: ${p.hint}`)
  }
  const n = result.files.length
  const summary =
    result.errors === 0 && result.warnings === 0
      ? 'ok'
      : `${count(result.errors, 'error')}, ${count(result.warnings, 'warning')}${strict && result.warnings > 0 ? ' (--strict: warnings fail)' : ''}`
  lines.push(`${count(n, 'file')} checked: ${summary}`)
  return `${lines.join('\n')}\n`
}

function pluginLabel(p: PluginReport): string {
  const why = p.status === 'skipped' && p.plugin !== undefined ? ` (${p.reason ?? ''})` : ''
  return `${p.type} ${JSON.stringify(p.name)}${why}`
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}
