/**
 * `spire-azure doctor --server-config FILE`: whether that server.conf's azure_msi and azure_imds
 * accept this VM's tokens and document, with the plugins' own buildConfig and checks (tenant,
 * audience, issuer, principal allow-list, subscription, document trust, tenant domain). What needs
 * the server's own ARM credential (identity binding, selectors) is left to `spire-azure selectors`.
 */
import { Report } from '../plugin/index.js'
import { buildConfig as buildMsiServerConfig } from '../../server-plugin/azure-msi/config.js'
import { buildConfig as buildImdsServerConfig } from '../../server-plugin/azure-imds/config.js'
import { basename } from 'node:path'
import { CliError } from './command.js'
import { loadSpireConfig, SpireConfigError } from './spire-config.js'
import type { DoctorFindings, DoctorStepResult } from './doctor-run.js'
import { authorizeImdsAgent, refusal, verifyImdsDocument, verifyMsiToken } from './doctor-verify.js'

/** One of our NodeAttestors in a server config: which of ours, and its plugin_data as HCL text. */
export interface ConfiguredAttestor {
  plugin: 'azure_msi' | 'azure_imds'
  /** The name it is declared under (usually the plugin's). */
  name: string
  /** No plugin_cmd: SPIRE's built-in plugin of that name runs, not this project's. */
  builtIn: boolean
  pluginData: string
  /** Why its `plugin_data_file` could not be read. */
  error?: string
}

/** What doctor reads from a server.conf. */
export interface ServerConfigFacts {
  trustDomain: string | undefined
  attestors: readonly ConfiguredAttestor[]
  /** What SPIRE itself would refuse to start with. */
  problems: readonly string[]
}

export interface ReadOptions {
  /** SPIRE's `-expandEnv`, from `env`. */
  expandEnv: boolean
  env: Readonly<Record<string, string | undefined>>
  /** Where a relative `plugin_data_file` is (SPIRE's working directory). */
  cwd: string
}

/** Loads `path` (SPIRE's own parsing rules) and checks its azure attestors. */
export async function checkServerConfig(
  path: string,
  found: DoctorFindings,
  read: ReadOptions,
): Promise<DoctorStepResult[]> {
  let facts: ServerConfigFacts
  try {
    facts = readServerConfig(path, read)
  } catch (err) {
    if (!(err instanceof CliError)) throw err
    return [{ name: `server config ${path}`, status: 'fail', detail: err.message }]
  }
  return checkServerAttestors(path, facts, found)
}

/** The server executables of our plugins, by the plugin they serve. */
const SERVER_BINARIES = {
  azure_msi: 'spire-server-nodeattestor-azure-msi',
  azure_imds: 'spire-server-nodeattestor-azure-imds',
} as const

/**
 * A server.conf's trust domain and its enabled NodeAttestors that are ours — by name, or by a
 * plugin_cmd running one of our executables under another name — as SPIRE reads them.
 */
export function readServerConfig(path: string, read: ReadOptions): ServerConfigFacts {
  let conf
  try {
    conf = loadSpireConfig(path, read)
  } catch (err) {
    if (err instanceof SpireConfigError) throw new CliError(err.message)
    throw err
  }
  if (conf.side === 'agent') {
    throw new CliError(`${JSON.stringify(path)} is an agent configuration, not a server.conf`)
  }
  const attestors: ConfiguredAttestor[] = []
  for (const p of conf.plugins) {
    if (p.type !== 'NodeAttestor' || p.disabled === true) continue
    const cmd = basename(p.pluginCmd ?? '')
    const plugin = (['azure_msi', 'azure_imds'] as const).find(
      (k) => p.name === k || (cmd !== '' && cmd.startsWith(SERVER_BINARIES[k])),
    )
    if (plugin === undefined) continue
    attestors.push({
      plugin,
      name: p.name,
      builtIn: p.pluginCmd === undefined,
      pluginData: p.pluginData,
      ...(p.pluginDataError === undefined ? {} : { error: p.pluginDataError }),
    })
  }
  return {
    trustDomain: conf.trustDomain,
    attestors,
    problems: conf.problems.filter((x) => x.severity === 'error').map((x) => x.message),
  }
}

/** Checks each azure_msi / azure_imds NodeAttestor of a loaded config against what doctor found. */
export async function checkServerAttestors(
  file: string,
  conf: ServerConfigFacts,
  found: DoctorFindings,
): Promise<DoctorStepResult[]> {
  const out: DoctorStepResult[] = conf.problems.map((p) => ({
    name: `server config ${file}`,
    status: 'fail',
    detail: `SPIRE refuses it: ${p}`,
  }))
  const trustDomain = conf.trustDomain ?? found.trustDomain
  const ours = conf.attestors
  if (ours.length === 0) {
    return [
      ...out,
      {
        name: `server config ${file}`,
        status: 'warn',
        detail: 'it configures neither the azure_msi nor the azure_imds NodeAttestor',
      },
    ]
  }
  for (const a of ours) {
    const name = `${file}: ${a.name}`
    // SPIRE's built-in plugin of that name runs: judged here by this project's rules
    const builtIn = a.builtIn
      ? ' (no plugin_cmd: SPIRE runs its built-in plugin; checked with this project’s)'
      : ''
    const problems = new Report()
    if (a.error !== undefined) {
      out.push({ name, status: 'fail', detail: a.error })
      continue
    }
    if (a.plugin === 'azure_msi') {
      const config = buildMsiServerConfig(a.pluginData, { trustDomain }, problems)
      if (config === undefined) {
        out.push({
          name,
          status: 'fail',
          detail: `invalid plugin_data: ${problems.errors.join('; ')}`,
        })
        continue
      }
      if (found.answers.length === 0) {
        out.push({ name, status: 'warn', detail: 'no identity answered, so no token to check' })
        continue
      }
      const results: { ok: boolean; line: string }[] = []
      for (const answer of found.answers) {
        try {
          const v = await verifyMsiToken(config, answer.token, found.sides.msi, found.now)
          const sub =
            v.tenant.subscriptionId === undefined
              ? `; with no subscription_id the server accepts VMs of its own subscription only: this VM's is ${found.compute.subscriptionId}`
              : ''
          results.push({ ok: true, line: `accepts ${answer.name} as ${v.agentId}${sub}` })
        } catch (err) {
          results.push({ ok: false, line: `refuses ${answer.name}: ${refusal(err)}` })
        }
      }
      const anyOk = results.some((r) => r.ok)
      for (const r of results) {
        out.push({
          name,
          status: r.ok ? 'ok' : anyOk ? 'warn' : 'fail',
          detail: `${r.line}${builtIn}`,
        })
      }
    } else {
      const config = buildImdsServerConfig(a.pluginData, { trustDomain }, problems)
      if (config === undefined) {
        out.push({
          name,
          status: 'fail',
          detail: `invalid plugin_data: ${problems.errors.join('; ')}`,
        })
        continue
      }
      const doc = found.document
      if (doc === undefined) {
        out.push({ name, status: 'fail', detail: 'no attested document to check (step 3)' })
        continue
      }
      try {
        const verdict = await verifyImdsDocument(
          config,
          doc.payload,
          doc.nonce,
          found.sides.imds,
          found.now,
        )
        const agent = await authorizeImdsAgent(
          config,
          verdict,
          doc.payload,
          found.sides.imds,
          found.vmTenantId,
        )
        out.push({
          name,
          status: 'ok',
          detail:
            `accepts the document (agent tenant_domain ${JSON.stringify(doc.payload.metadata.agentDomain)}) as ${agent.agentId}; ` +
            `the server also checks through ARM that subscription ${verdict.content.subscriptionId} belongs to tenant ${agent.tenantId}${builtIn}`,
        })
      } catch (err) {
        out.push({
          name,
          status: 'fail',
          detail: `refuses the document: ${refusal(err)}${builtIn}`,
        })
      }
    }
  }
  return out
}
