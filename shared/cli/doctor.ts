/**
 * `spire-azure doctor`: run on a VM (or against an IMDS endpoint), checks step by step that the
 * VM can attest — IMDS, its managed identities, an attested document — verifies the token and the
 * document with the server plugins' own code, and says what the server would see and which
 * plugin_data accepts the VM. This module parses options and prints; the steps (doctor-run.ts and
 * the plugin code they use) load only when the command runs.
 */
import { resolve } from 'node:path'
import { findCloud, CLOUD_NAMES } from '../azure/clouds.js'
import type { MsiIdentitySelector } from '../azure/imds.js'
import { buildImdsEndpoint, endpointUrl } from '../azure/tenant-access.js'
import { parseGoDuration } from '../go/duration.js'
import { Report } from '../plugin/index.js'
import { buildFromRaw as buildMsiAgentConfig } from '../../agent-plugin/azure-msi/config.js'
import {
  EXIT,
  flag,
  printJson,
  stringList,
  stringOption,
  UsageError,
  type CliIo,
  type Command,
  type ParsedOptions,
} from './command.js'
import { nodeAttestorBlock, type EndpointSettings } from './doctor-plugin-data.js'
import type { DoctorOptions, DoctorReport, DoctorStep } from './doctor-run.js'

/** Default bound on every request (and on each fetch's retries). */
export const DOCTOR_TIMEOUT_MS = 10_000

const HELP = `Usage: spire-azure doctor [options]

Run on an Azure VM (or against an IMDS endpoint): checks that this VM can attest with the
azure_msi and azure_imds plugins, verifies what its agents would send with the server plugins'
own code, and says what the server would see and which plugin_data accepts the VM.

Steps (each printed as ok, FAIL, warn or skip, with a one-line reason):
  1  IMDS answers (instance metadata: vmId, subscription, resource group, scale set, cloud)
  2  the managed identities answer: the default one (system-assigned) and each one named with
     --client-id, --object-id or --msi-res-id (IMDS cannot list them; --list-identities asks ARM)
  3  an attested document for a fresh nonce, fetched as the azure_imds agent fetches it
  4  both verified as the servers verify them: the token's signature (the tenant's Entra signing
     keys), issuer, audience and expiry; the document's PKCS#7 signature, certificate chain to the
     pinned roots, metadata domain, nonce and expiry
  5  what the server would see (tenant, principal, client ID, xms_mirid, subscription, vmId, agent
     ID) and the smallest server and agent plugin_data that accept this VM; with --server-config,
     whether that server.conf's azure_msi and azure_imds accept it

Options:
  --imds-endpoint URL       IMDS base URL, like the agents' imds_endpoint
                            (default http://169.254.169.254)
  --resource URI            token audience to request, like the azure_msi agent's resource_id
                            (default: the cloud's Resource Manager, e.g. https://management.azure.com/)
  --client-id GUID          also check this user-assigned identity (repeatable)
  --object-id GUID          also check this user-assigned identity, by principal ID (repeatable)
  --msi-res-id ID           also check this user-assigned identity, by ARM resource ID (repeatable)
  --list-identities         list the VM's identities from ARM, with a token of the VM's own identity
                            (needs read access to the VM, e.g. Reader)
  --cloud NAME              the Azure cloud (default: the one IMDS names, compute.azEnvironment)
  --tenant-domain DOMAIN    the azure_imds agent's tenant_domain (default: the tenant ID)
  --trust-domain NAME       trust domain of the agent IDs shown (default example.org; the checks of
                            --server-config use its own server.trust_domain)
  --server-config FILE      a SPIRE server.conf: do its azure_msi and azure_imds accept this VM?
  --expand-env              expand $VAR in the server config first, as spire-server -expandEnv
  --authority-host URL      Entra ID authority, like the servers' endpoints.authority_host
  --resource-manager URL    Resource Manager, like endpoints.resource_manager
  --aia-issuers URL         one URL serving every AIA issuer (emulators), like endpoints.aia_issuers
  --ca-file FILE            extra trusted roots (PEM) for TLS and the document chain, like the
                            servers' endpoints.ca_file and azure_imds's trust_bundle_path
  --timeout DURATION        bound on each request and each fetch's retries (default 10s)
  --show-secrets            print tokens and the document instead of redacting them
  --json                    one JSON document: {ok, imdsEndpoint, steps, server, pluginData},
                            each step {step, name, status, detail}
  -h, --help                this help

Exit codes: 0 every step passed (warnings allowed), 1 a step failed, 2 a usage error.

Examples:
  spire-azure doctor
  spire-azure doctor --client-id 2f3a0c5e-0000-4000-8000-0123456789ab --list-identities
  spire-azure doctor --server-config /opt/spire/conf/server/server.conf --json
`

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check on a VM that it can attest: IMDS, identities, token and document, verified',
  help: HELP,
  options: {
    'imds-endpoint': { type: 'string' },
    resource: { type: 'string' },
    'client-id': { type: 'string', multiple: true },
    'object-id': { type: 'string', multiple: true },
    'msi-res-id': { type: 'string', multiple: true },
    'list-identities': { type: 'boolean' },
    cloud: { type: 'string' },
    'tenant-domain': { type: 'string' },
    'trust-domain': { type: 'string' },
    'server-config': { type: 'string' },
    'expand-env': { type: 'boolean' },
    'authority-host': { type: 'string' },
    'resource-manager': { type: 'string' },
    'aia-issuers': { type: 'string' },
    'ca-file': { type: 'string' },
    timeout: { type: 'string' },
    'show-secrets': { type: 'boolean' },
  },
  async run(options, io, json) {
    const o = parseDoctorOptions(options, io)
    const { runDoctor, defaultDoctorDeps } = await import('./doctor-run.js')
    if (!json) io.stdout(`spire-azure doctor: IMDS at ${o.imdsEndpoint}\n`)
    const report = await runDoctor(o, io, defaultDoctorDeps(io), (s) => {
      if (!json) io.stdout(`${stepLine(s)}\n`)
    })
    if (json) printJson(io, report)
    else io.stdout(summary(report))
    return report.ok ? EXIT.ok : EXIT.failure
  },
}

/** The options as doctor runs them; every mistake is a UsageError (exit 2). */
export function parseDoctorOptions(options: ParsedOptions, io: CliIo): DoctorOptions {
  const problems = new Report()
  const imdsEndpoint = buildImdsEndpoint(stringOption(options, 'imds-endpoint'), problems)
  const identities: Exclude<MsiIdentitySelector, { kind: 'default' }>[] = []
  for (const kind of ['client_id', 'object_id', 'msi_res_id'] as const) {
    for (const raw of stringList(options, kind.replace(/_/g, '-'))) {
      const value = raw.trim()
      // the azure_msi agent's own rules for its client_id, object_id and msi_res_id
      const agent = new Report()
      buildMsiAgentConfig({ [kind]: value }, agent)
      for (const e of agent.errors) problems.error(e.replace(kind, `--${kind.replace(/_/g, '-')}`))
      identities.push({ kind, value })
    }
  }
  const cloudName = stringOption(options, 'cloud')
  const cloud = cloudName === undefined ? undefined : findCloud(cloudName)
  if (cloudName !== undefined && cloud === undefined) {
    problems.error(`--cloud ${JSON.stringify(cloudName)} is not one of ${CLOUD_NAMES.join(', ')}`)
  }
  const endpoints: EndpointSettings = {
    authorityHost: endpointUrl(
      stringOption(options, 'authority-host'),
      '--authority-host',
      'loopback',
      problems,
    ),
    resourceManager: endpointUrl(
      stringOption(options, 'resource-manager'),
      '--resource-manager',
      'never',
      problems,
    ),
    aiaIssuers: endpointUrl(
      stringOption(options, 'aia-issuers'),
      '--aia-issuers',
      'always',
      problems,
    ),
    caFile: absolute(stringOption(options, 'ca-file'), io),
  }
  const timeoutText = stringOption(options, 'timeout')
  let timeoutMs = DOCTOR_TIMEOUT_MS
  if (timeoutText !== undefined) {
    const ms = parseGoDuration(timeoutText)
    if (ms === undefined || ms <= 0) {
      problems.error(
        `--timeout ${JSON.stringify(timeoutText)} must be a positive duration such as "10s"`,
      )
    } else timeoutMs = ms
  }
  const resource = stringOption(options, 'resource')
  if (resource !== undefined && resource.trim() === '')
    problems.error('--resource must not be empty')
  if (!problems.ok) {
    throw new UsageError(problems.errors[0] ?? 'invalid options', "see 'spire-azure doctor --help'")
  }
  return {
    imdsEndpoint,
    resource: resource?.trim(),
    identities,
    listIdentities: flag(options, 'list-identities'),
    cloud,
    tenantDomain: stringOption(options, 'tenant-domain')?.trim() || undefined,
    trustDomain: stringOption(options, 'trust-domain')?.trim() || undefined,
    serverConfig: absolute(stringOption(options, 'server-config'), io),
    expandEnv: flag(options, 'expand-env'),
    endpoints,
    timeoutMs,
    showSecrets: flag(options, 'show-secrets'),
  }
}

const STATUS_WORD: Record<DoctorStep['status'], string> = {
  ok: 'ok',
  warn: 'warn',
  fail: 'FAIL',
  skip: 'skip',
}

/** `2. ok    system-assigned identity: token for …`. */
export function stepLine(s: DoctorStep): string {
  return `${s.step}. ${STATUS_WORD[s.status].padEnd(4)}  ${s.name}: ${s.detail}`
}

/** The plugin_data blocks that accept the VM, then one line saying how the run went. */
export function summary(report: DoctorReport): string {
  const out: string[] = []
  const { azure_msi: msi, azure_imds: imds } = report.pluginData
  if (msi !== undefined || imds !== undefined) {
    out.push(
      '',
      '# server.conf: plugin_data that accepts this VM (docs/plugin_server_nodeattestor_*.md)',
    )
    if (msi !== undefined) out.push(nodeAttestorBlock('azure_msi', msi.server))
    if (imds !== undefined) out.push(nodeAttestorBlock('azure_imds', imds.server))
    out.push('', '# agent.conf on this VM')
    if (msi !== undefined) {
      for (const [identity, hcl] of Object.entries(msi.agents)) {
        out.push(`# azure_msi with the ${identity}`, nodeAttestorBlock('azure_msi', hcl))
      }
    }
    if (imds !== undefined) out.push(nodeAttestorBlock('azure_imds', imds.agent))
  }
  const failed = report.steps.filter((s) => s.status === 'fail')
  const warned = report.steps.filter((s) => s.status === 'warn')
  out.push(
    '',
    failed.length === 0
      ? `All steps passed${warned.length === 0 ? '' : ` (${warned.length} warning${warned.length === 1 ? '' : 's'})`}.`
      : `${failed.length} step${failed.length === 1 ? '' : 's'} failed: ${failed.map((s) => `${s.step}. ${s.name}`).join('; ')}`,
    '',
  )
  return out.join('\n')
}

function absolute(path: string | undefined, io: CliIo): string | undefined {
  return path === undefined || path === '' ? undefined : resolve(io.cwd, path)
}
