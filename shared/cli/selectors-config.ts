/**
 * The server configs `spire-azure selectors` previews against, built by the plugins' own
 * buildConfig: from a SPIRE server.conf (HCL or JSON, read as SPIRE reads it, optionally with
 * `-expandEnv`), every enabled azure_msi / azure_imds NodeAttestor; or one plugin's `plugin_data`.
 */
import { readFileSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { Report } from '../plugin/index.js'
import { buildConfig as buildImds } from '../../server-plugin/azure-imds/config.js'
import { buildConfig as buildMsi } from '../../server-plugin/azure-msi/config.js'
import { CliError, UsageError, type CliIo } from './command.js'
import type { AttestorConfig } from './selectors-run.js'
import { expandEnv, loadSpireConfig, SpireConfigError } from './spire-config.js'

export const OUR_PLUGINS = ['azure_msi', 'azure_imds'] as const
export type OurPlugin = (typeof OUR_PLUGINS)[number]

export interface LoadedAttestors {
  attestors: AttestorConfig[]
  /** Things worth a warning line (e.g. SPIRE's built-in attestor under our name). */
  warnings: string[]
}

export function isOurPlugin(name: string): name is OurPlugin {
  return (OUR_PLUGINS as readonly string[]).includes(name)
}

/** `--plugin-data TEXT|@FILE --plugin NAME --trust-domain TD`. */
export function attestorFromPluginData(
  io: CliIo,
  o: { plugin: OurPlugin; data: string; trustDomain: string; expandEnv: boolean },
): AttestorConfig {
  let text = o.data
  if (text.startsWith('@')) {
    const path = resolve(io.cwd, text.slice(1))
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new CliError(
        `cannot read plugin data file ${JSON.stringify(text.slice(1))}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
        'give the plugin_data text itself, or @ and a readable file',
      )
    }
  }
  if (o.expandEnv) text = expandEnv(text, io.env)
  return build(o.plugin, o.plugin, text, o.trustDomain, '--plugin-data')
}

/** Every enabled azure_msi / azure_imds NodeAttestor of a server config (`only`: just that one). */
export function attestorsFromServerConfig(
  io: CliIo,
  o: { file: string; expandEnv: boolean; only: OurPlugin | undefined },
): LoadedAttestors {
  const path = resolve(io.cwd, o.file)
  let config
  try {
    config = loadSpireConfig(path, { expandEnv: o.expandEnv, env: io.env, cwd: io.cwd })
  } catch (err) {
    if (err instanceof SpireConfigError) {
      const at = err.line === undefined ? '' : ` (line ${err.line})`
      throw new CliError(
        `${err.message}${at}`,
        `check the file; 'spire-azure validate ${o.file}' shows every problem`,
      )
    }
    throw err
  }
  if (config.side === 'agent') {
    throw new UsageError(
      `${o.file} is an agent configuration`,
      "give the server's configuration (its NodeAttestor plugin_data decides the selectors)",
    )
  }
  const trustDomain = config.trustDomain
  if (trustDomain === undefined || trustDomain === '') {
    throw new CliError(
      `${o.file} sets no server.trust_domain`,
      'SPIRE needs one; so do the agent IDs',
    )
  }
  const problem = config.problems.find((p) => p.severity === 'error')
  if (problem !== undefined) {
    const at = problem.line === undefined ? '' : ` (line ${problem.line})`
    throw new CliError(
      `${o.file}: ${problem.message}${at}`,
      `SPIRE would not start with it; see 'spire-azure validate ${o.file}'`,
    )
  }
  const warnings: string[] = []
  const attestors: AttestorConfig[] = []
  for (const p of config.plugins) {
    if (p.type !== 'NodeAttestor' || p.disabled === true) continue
    const plugin = pluginOf(p.name, p.pluginCmd)
    if (plugin === undefined || (o.only !== undefined && plugin !== o.only)) continue
    if (p.pluginCmd === undefined) {
      warnings.push(
        `NodeAttestor "${p.name}" has no plugin_cmd: SPIRE runs its built-in ${p.name}; shown is what spire-azure's ${plugin} plugin would record (a superset of the built-in selectors)`,
      )
    }
    if (p.pluginDataError !== undefined) throw new CliError(p.pluginDataError)
    attestors.push(
      build(plugin, p.name, p.pluginData, trustDomain, `${o.file}: NodeAttestor "${p.name}"`),
    )
  }
  if (attestors.length === 0) {
    throw new CliError(
      `${o.file} enables no ${o.only ?? 'azure_msi or azure_imds'} NodeAttestor`,
      'give the server configuration that loads the plugin, or --plugin-data with --plugin',
    )
  }
  return { attestors, warnings }
}

/** Ours by name, or by the executable it runs (a plugin may be declared under another name). */
function pluginOf(name: string, cmd: string | undefined): OurPlugin | undefined {
  if (isOurPlugin(name)) return name
  const exe = cmd === undefined ? '' : basename(cmd)
  if (/nodeattestor-azure-msi/.test(exe)) return 'azure_msi'
  if (/nodeattestor-azure-imds/.test(exe)) return 'azure_imds'
  return undefined
}

function build(
  plugin: OurPlugin,
  name: string,
  text: string,
  trustDomain: string,
  where: string,
): AttestorConfig {
  const report = new Report()
  const core = { trustDomain }
  const hint = "'spire-azure validate' lists every problem with its key path"
  if (plugin === 'azure_msi') {
    const config = buildMsi(text, core, report)
    if (config === undefined) throw invalid(where, report, hint)
    return { plugin, name, config }
  }
  const config = buildImds(text, core, report)
  if (config === undefined) throw invalid(where, report, hint)
  return { plugin, name, config }
}

function invalid(where: string, report: Report, hint: string): CliError {
  const more = report.errors.length > 1 ? ` (and ${report.errors.length - 1} more)` : ''
  return new CliError(
    `${where}: invalid plugin_data: ${report.errors[0] ?? 'unknown problem'}${more}`,
    hint,
  )
}
