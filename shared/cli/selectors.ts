/**
 * `spire-azure selectors`: what SPIRE would record for a VM (selectors and agent SPIFFE ID, per
 * attestor the server config enables) and registration entries to paste, resolved through Azure
 * with the server plugins' own code, credentials, caches and limits. This module parses and checks
 * the options, builds the plugins' production dependencies, and prints.
 */
import { isGuid, parseArmId } from '../azure/resource-id.js'
import { NOOP_LOGGER, NOOP_METRICS, type AgentStore, type PluginContext } from '../plugin/index.js'
import { createDefaultDeps as createImdsDeps } from '../../server-plugin/azure-imds/deps.js'
import { createDefaultDeps as createMsiDeps } from '../../server-plugin/azure-msi/deps.js'
import {
  CliError,
  EXIT,
  flag,
  printJson,
  stringOption,
  UsageError,
  withProgress,
  type CliIo,
  type Command,
  type ParsedOptions,
} from './command.js'
import {
  attestorFromPluginData,
  attestorsFromServerConfig,
  isOurPlugin,
  OUR_PLUGINS,
} from './selectors-config.js'
import { resultJson, resultText } from './selectors-format.js'
import {
  runSelectors,
  type AttestorConfig,
  type RunDeps,
  type SelectorsRequest,
  type VmRef,
} from './selectors-run.js'

const HELP = `Usage: spire-azure selectors VM CONFIG [options]

Prints, for each of our attestors (azure_msi, azure_imds) the server config enables, the selectors
and agent SPIFFE ID SPIRE would record for the VM, and 'spire-server entry create' lines for a node
entry and a workload under it. The VM is resolved through Azure Resource Manager with the server
plugins' own code, credentials, endpoints, caches and limits (the same read access the server needs;
Resource Graph and the principal lookup need Reader on the subscription). SPIRE is not contacted.

VM (one of):
  --resource-id ID           a VM, or a Uniform scale-set instance
                             (/subscriptions/…/virtualMachineScaleSets/<name>/virtualMachines/<n>)
  --vm-id GUID --subscription GUID
                             the VM's vmId (found with Azure Resource Graph)
  --principal OID            the VM whose system-assigned identity has this principal (object) ID,
                             in --subscription or the azure_msi tenant's subscription_id
Identity (azure_msi; default: as IMDS picks, system-assigned first):
  --identity ID              a user-assigned identity of the VM, by resource ID or client ID
  --principal OID            with a VM given: the identity with this principal ID

CONFIG (one of):
  --config FILE              SPIRE's server.conf (HCL or JSON)
  --plugin-data TEXT|@FILE --plugin azure_msi|azure_imds --trust-domain TD
                             one plugin's plugin_data
Options:
  --expand-env               replace \${VAR} and $VAR from the environment first (spire-server -expandEnv)
  --plugin NAME              with --config: only this attestor
  --tenant ID|DOMAIN         the tenant config to use when several could cover the subscription
  --json                     one JSON document on stdout
  -h, --help                 this help

Exit status: 0 every attestor would accept the VM; 1 an attestor would refuse it, the VM or the
config was not found or not usable; 2 a usage error.

Examples:
  spire-azure selectors --config server.conf \\
    --resource-id /subscriptions/<sub>/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/blog
  spire-azure selectors --plugin azure_imds --trust-domain example.org --plugin-data @imds.hcl \\
    --vm-id <vmId> --subscription <sub> --json
`

export const selectorsCommand: Command = {
  name: 'selectors',
  summary: 'the selectors and agent ID SPIRE would record for a VM, and entries to paste',
  help: HELP,
  options: {
    'resource-id': { type: 'string' },
    'vm-id': { type: 'string' },
    subscription: { type: 'string' },
    principal: { type: 'string' },
    identity: { type: 'string' },
    config: { type: 'string', short: 'c' },
    'plugin-data': { type: 'string' },
    plugin: { type: 'string' },
    'trust-domain': { type: 'string' },
    'expand-env': { type: 'boolean' },
    tenant: { type: 'string' },
  },
  async run(options, io, json) {
    const request = parseRequest(options)
    const attestors = loadAttestors(options, io)
    const result = await runSelectors(attestors, request, productionDeps(io))
    const trustDomains = new Map(attestors.map((a) => [a.name, a.config.trustDomain]))
    if (json) printJson(io, resultJson(result, trustDomains))
    else io.stdout(resultText(result, trustDomains))
    const failed = result.outcomes.filter((o) => 'error' in o)
    if (failed.length === 0) return EXIT.ok
    throw new CliError(
      failed
        .map((o) => `${o.name} would not attest this VM: ${'error' in o ? o.error.message : ''}`)
        .join('; '),
      failed.some((o) => 'error' in o && o.error.status !== undefined)
        ? 'the server config refuses this VM as shown; change the config or the VM'
        : 'see the message; the credential in the config must be able to read the VM',
    )
  },
}

const USAGE_HINT = "see 'spire-azure selectors --help'"
const usage = (message: string) => new UsageError(message, USAGE_HINT)

function guid(options: ParsedOptions, name: string): string | undefined {
  const v = stringOption(options, name)
  if (v !== undefined && !isGuid(v.trim()))
    throw usage(`--${name} ${JSON.stringify(v)} is not a GUID`)
  return v?.trim()
}

/** The VM and identity the options name. */
export function parseRequest(options: ParsedOptions): SelectorsRequest {
  const resourceId = stringOption(options, 'resource-id')?.trim()
  const vmId = guid(options, 'vm-id')
  const subscription = guid(options, 'subscription')
  const principal = guid(options, 'principal')
  const identity = stringOption(options, 'identity')?.trim()
  const tenant = stringOption(options, 'tenant')?.trim()
  if (resourceId !== undefined && vmId !== undefined)
    throw usage('give the VM once: --resource-id or --vm-id')
  if (principal !== undefined && identity !== undefined)
    throw usage('give the identity once: --principal or --identity')
  let vm: VmRef
  if (resourceId !== undefined) {
    const parsed = parseArmId(resourceId)
    if (parsed?.kind !== 'vm' && parsed?.kind !== 'vmss-vm') {
      throw new UsageError(
        `--resource-id ${JSON.stringify(resourceId)} is not the ID of a virtual machine or a scale-set instance`,
        'expected /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name> or …/virtualMachineScaleSets/<name>/virtualMachines/<instance>',
      )
    }
    if (
      subscription !== undefined &&
      subscription.toLowerCase() !== parsed.subscriptionId.toLowerCase()
    )
      throw usage('--subscription differs from the subscription in --resource-id')
    vm = { by: 'resource-id', resourceId }
  } else if (vmId !== undefined) {
    if (subscription === undefined) throw usage('--vm-id needs --subscription')
    vm = { by: 'vm-id', vmId, subscriptionId: subscription }
  } else if (principal !== undefined) {
    vm = { by: 'principal', principalId: principal, subscriptionId: subscription }
  } else {
    throw usage('name the VM: --resource-id, --vm-id with --subscription, or --principal')
  }
  if (identity !== undefined && vm.by === 'principal')
    throw usage('--identity needs the VM: --resource-id, or --vm-id with --subscription')
  const request: SelectorsRequest = { vm }
  if (identity !== undefined) request.identity = { userAssigned: identity }
  else if (principal !== undefined && vm.by !== 'principal')
    request.identity = { principalId: principal }
  if (tenant !== undefined && tenant !== '') request.tenant = tenant
  return request
}

function loadAttestors(options: ParsedOptions, io: CliIo): AttestorConfig[] {
  const file = stringOption(options, 'config')
  const data = stringOption(options, 'plugin-data')
  const plugin = stringOption(options, 'plugin')
  const trustDomain = stringOption(options, 'trust-domain')
  const expandEnv = flag(options, 'expand-env')
  if (plugin !== undefined && !isOurPlugin(plugin))
    throw usage(`--plugin must be one of ${OUR_PLUGINS.join(', ')}, not ${JSON.stringify(plugin)}`)
  if ((file === undefined) === (data === undefined))
    throw usage(
      'give the server config: --config FILE, or --plugin-data with --plugin and --trust-domain',
    )
  if (file !== undefined) {
    if (trustDomain !== undefined)
      throw usage("--trust-domain comes from the config's server.trust_domain")
    const loaded = attestorsFromServerConfig(io, { file, expandEnv, only: plugin })
    for (const w of loaded.warnings) io.stderr(`spire-azure: warning: ${w}\n`)
    return loaded.attestors
  }
  if (plugin === undefined) throw usage('--plugin-data needs --plugin azure_msi or azure_imds')
  if (trustDomain === undefined || trustDomain.trim() === '')
    throw usage('--plugin-data needs --trust-domain')
  return [
    attestorFromPluginData(io, { plugin, data: data!, trustDomain: trustDomain.trim(), expandEnv }),
  ]
}

/** SPIRE's AgentStore is never asked: a preview records nothing and checks no TOFU. */
const NO_AGENT_STORE: AgentStore = {
  isAttested: () => Promise.reject(new Error('spire-azure selectors does not consult AgentStore')),
}

/** The plugins' production dependencies (createDefaultDeps), with no host behind them. */
export function productionDeps(io: CliIo): RunDeps {
  const ctx: PluginContext = {
    log: NOOP_LOGGER,
    agentStore: NO_AGENT_STORE,
    metrics: NOOP_METRICS,
    hostServices: [],
  }
  return {
    msi: { ...createMsiDeps(ctx), now: () => io.now() },
    imds: createImdsDeps(ctx),
    step: (label, work) => withProgress(io, label, work),
  }
}
