/**
 * `spire-azure checksum [DIR]`: the `plugin_cmd` / `plugin_checksum` lines for each of our plugin
 * executables in a folder (by default the one this CLI is installed in), ready to paste into
 * server.conf and agent.conf. SPIRE's plugin_checksum is the hex SHA-256 of the file plugin_cmd runs.
 */
import { createHash } from 'node:crypto'
import { createReadStream, readdirSync, realpathSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import {
  CliError,
  EXIT,
  printJson,
  UsageError,
  withProgress,
  type CliIo,
  type Command,
} from './command.js'

/** Our executables, by file name (package.json `bin`; the standalone files use the same names). */
export const PLUGIN_FILES = [
  { file: 'spire-server-nodeattestor-azure-msi', side: 'server', plugin: 'azure_msi' },
  { file: 'spire-server-nodeattestor-azure-imds', side: 'server', plugin: 'azure_imds' },
  { file: 'spire-agent-nodeattestor-azure-msi', side: 'agent', plugin: 'azure_msi' },
  { file: 'spire-agent-nodeattestor-azure-imds', side: 'agent', plugin: 'azure_imds' },
] as const

export interface PluginChecksum {
  side: 'server' | 'agent'
  plugin: 'azure_msi' | 'azure_imds'
  /** Absolute path with symbolic links resolved: what SPIRE reads and hashes. */
  path: string
  sha256: string
}

/** Hashes each plugin file present in `dir`; an empty list when there is none. */
export async function pluginChecksums(dir: string): Promise<PluginChecksum[]> {
  const present = new Set(readdirSync(dir))
  const out: PluginChecksum[] = []
  for (const p of PLUGIN_FILES) {
    if (!present.has(p.file)) continue
    const path = realpathSync(join(dir, p.file))
    if (!statSync(path).isFile()) continue
    out.push({ side: p.side, plugin: p.plugin, path, sha256: await sha256File(path) })
  }
  return out
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** The NodeAttestor blocks for one side, as SPIRE's config wants them. */
export function pluginBlocks(sums: readonly PluginChecksum[], side: 'server' | 'agent'): string {
  return sums
    .filter((s) => s.side === side)
    .map((s) =>
      [
        `NodeAttestor ${JSON.stringify(s.plugin)} {`,
        `    plugin_cmd = ${JSON.stringify(s.path)}`,
        `    plugin_checksum = ${JSON.stringify(s.sha256)}`,
        `    # plugin_data { ... }: see docs/plugin_${side}_nodeattestor_${s.plugin}.md`,
        `}`,
      ].join('\n'),
    )
    .join('\n')
}

/** Where this CLI itself is installed (its real folder, past npm's .bin symlinks). */
export function ownDir(io: CliIo): string | undefined {
  const self = io.programPath
  if (self === undefined) return undefined
  try {
    return dirname(realpathSync(self))
  } catch {
    return undefined
  }
}

export const checksumCommand: Command = {
  name: 'checksum',
  summary: 'print plugin_cmd / plugin_checksum for each installed plugin',
  positionals: true,
  options: {},
  help: `Usage: spire-azure checksum [DIR] [--json]

Prints, for each spire-azure-attestor plugin executable found in DIR, the NodeAttestor block with
plugin_cmd (the absolute path, symbolic links resolved) and plugin_checksum (the hex SHA-256 of the
file, which SPIRE checks before it starts the plugin). DIR defaults to the folder this command is
installed in, where npm (or the standalone build) puts the plugins beside it.

Paste the server blocks into server.conf's plugins section and the agent blocks into agent.conf's;
fill plugin_data. Re-run after every upgrade: a changed file no longer matches its checksum and
SPIRE refuses to start the plugin.

Options:
  --json     one JSON document: { dir, plugins: [{ side, plugin, path, sha256 }] }
  -h, --help this text

Exit codes: 0 plugins found, 1 none found or DIR unreadable, 2 usage error.

Example:
  spire-azure checksum /opt/spire/plugins
`,
  async run(options, io, json) {
    if (options.positionals.length > 1)
      throw new UsageError('checksum takes at most one folder', "see 'spire-azure checksum --help'")
    const given = options.positionals[0]
    const dir = given !== undefined ? resolve(io.cwd, given) : ownDir(io)
    if (dir === undefined)
      throw new UsageError(
        'cannot tell where spire-azure is installed',
        'name the folder: spire-azure checksum DIR',
      )
    let sums: PluginChecksum[]
    try {
      sums = await withProgress(io, `hashing the plugins in ${dir}`, () => pluginChecksums(dir))
    } catch (err) {
      throw new CliError(
        `cannot read ${dir}: ${(err as Error).message}`,
        'name the folder that holds the spire-*-nodeattestor-azure-* files',
        { cause: err },
      )
    }
    if (json) printJson(io, { dir, plugins: sums })
    if (sums.length === 0) {
      if (!json) {
        throw new CliError(
          `no spire-azure-attestor plugin executables in ${dir}`,
          `expected one of: ${PLUGIN_FILES.map((p) => p.file).join(', ')}`,
        )
      }
      return EXIT.failure
    }
    if (!json) {
      const parts: string[] = []
      for (const side of ['server', 'agent'] as const) {
        const blocks = pluginBlocks(sums, side)
        if (blocks !== '') parts.push(`# ${side}.conf, in plugins { }\n${blocks}\n`)
      }
      io.stdout(parts.join('\n'))
    }
    return EXIT.ok
  },
}
