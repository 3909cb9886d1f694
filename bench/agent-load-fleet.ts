// The agents the load generator (bench/agent-load.ts) plays: a fleet of emulated Azure VMs and what
// our agent plugins would send for each — their own attestor code (createAttestor from
// agent-plugin/*/attestor.ts, config from their buildFromRaw) pointed at the VM's emulated IMDS —
// and the test attestor's agents (the runtime-only case). Each agent knows the agent ID the server
// must hand it.
import { createAttestor as createImdsAgent } from '../agent-plugin/azure-imds/attestor.js'
import { buildFromRaw as buildImdsAgentConfig } from '../agent-plugin/azure-imds/config.js'
import { createAttestor as createMsiAgent } from '../agent-plugin/azure-msi/attestor.js'
import { buildFromRaw as buildMsiAgentConfig } from '../agent-plugin/azure-msi/config.js'
import { createImdsAgentDeps } from '../shared/azure/imds.js'
import { NOOP_LOGGER, NOOP_METRICS, Report } from '../shared/plugin/index.js'
import { createAgentAttestor as createCrAgent } from '../test/attestors/challenge-response/agent.js'
import type { Emulator, Vm, WorldSpec } from '../test/azure-emulator/index.js'
import type { AttestCall } from './agent-load-wire.js'

export type AttestorName = 'cr_test' | 'azure_msi' | 'azure_imds'
export const ATTESTORS: readonly AttestorName[] = ['cr_test', 'azure_msi', 'azure_imds']

/** One agent's first attestation: what it sends and the agent ID it must get. */
export interface SimAgent {
  attestor: AttestorName
  /** The expected agent ID, or its prefix when `idPrefix` (a per-attestation path component). */
  agentId: string
  idPrefix: boolean
  /** A label for failures (the VM key or the test identity); never a token or document. */
  label: string
  payload(signal: AbortSignal): Promise<Uint8Array>
  respond?(challenge: Uint8Array, signal: AbortSignal): Promise<Uint8Array>
}

/** Attestation `index` → its agent. */
export type AgentSource = (index: number) => SimAgent

/** The AttestAgent call `agent` makes with `payload` and its CSR, answering challenges under `signal`. */
export function attestCallOf(
  agent: SimAgent,
  payload: Uint8Array,
  csr: Uint8Array,
  signal: AbortSignal,
): AttestCall {
  return {
    type: agent.attestor,
    payload,
    csr,
    ...(agent.respond === undefined
      ? {}
      : { respond: (c: Uint8Array) => agent.respond!(c, signal) }),
    signal,
  }
}

export const FLEET_TENANT = 'fleet'
export const FLEET_TENANT_DOMAIN = 'fleet.onmicrosoft.com'
const FLEET_RG = 'fleet'

export interface FleetCounts {
  standalone: number
  flexible: number
  uniform: number
}

export const fleetSize = (c: FleetCounts): number => c.standalone + c.flexible + c.uniform

/**
 * `total` VMs split by the weights `standalone:flexible:uniform` (e.g. "1:4.5:4.5"). Uniform
 * members of a scale set share one managed identity, so azure_msi (whose agent ID is the
 * identity's) gets none: their share goes to Flexible members.
 */
export function splitFleet(total: number, mix: string, attestor: AttestorName): FleetCounts {
  const w = mix.split(':').map(Number)
  if (w.length !== 3 || w.some((x) => !Number.isFinite(x) || x < 0) || w.every((x) => x === 0))
    throw new Error(
      `--mix takes three non-negative weights standalone:flexible:uniform, got ${mix}`,
    )
  let [s, f, u] = w as [number, number, number]
  if (attestor === 'azure_msi') {
    f += u
    u = 0
  }
  const sum = s + f + u
  const standalone = Math.round((total * s) / sum)
  const uniform = Math.round((total * u) / sum)
  return { standalone, flexible: total - standalone - uniform, uniform }
}

/**
 * One tenant (`fleet`, app `spire-server`), one subscription and resource group holding the
 * standalone VMs (`vm-<i>`), a Flexible scale set `flex` and a Uniform one `uni`, every VM with a
 * system-assigned identity. Scale-set members are derived on demand, so large fleets cost little;
 * standalone VMs are built up front and looked up by a scan, so keep their share moderate.
 */
export function fleetSpec(c: FleetCounts, seed = 'spire-azure-agent-load'): WorldSpec {
  const network = (subnet: string) => ({ virtualNetwork: 'vnet', subnet })
  return {
    seed,
    tenants: [
      {
        name: FLEET_TENANT,
        domains: [FLEET_TENANT_DOMAIN],
        cloud: 'public',
        apps: [{ name: 'spire-server', secret: 'spire-server-secret' }],
        subscriptions: [
          {
            name: 'fleet',
            resourceGroups: [
              {
                name: FLEET_RG,
                location: 'eastus',
                virtualNetworks: [
                  {
                    name: 'vnet',
                    addressPrefix: '10.0.0.0/8',
                    subnets: [
                      { name: 'vms', addressPrefix: '10.0.0.0/12' },
                      { name: 'flex', addressPrefix: '10.16.0.0/12' },
                      { name: 'uni', addressPrefix: '10.32.0.0/12' },
                    ],
                  },
                ],
                virtualMachines: Array.from({ length: c.standalone }, (_, i) => ({
                  name: `vm-${i}`,
                  tags: { environment: 'bench' },
                  identity: { systemAssigned: true },
                  networkInterfaces: [network('vms')],
                })),
                scaleSets: [
                  ...(c.flexible > 0
                    ? [
                        {
                          name: 'flex',
                          orchestrationMode: 'Flexible' as const,
                          capacity: c.flexible,
                          identity: { systemAssigned: true },
                          network: network('flex'),
                        },
                      ]
                    : []),
                  ...(c.uniform > 0
                    ? [
                        {
                          name: 'uni',
                          orchestrationMode: 'Uniform' as const,
                          capacity: c.uniform,
                          identity: { systemAssigned: true },
                          network: network('uni'),
                        },
                      ]
                    : []),
                ],
              },
            ],
          },
        ],
      },
    ],
  }
}

/**
 * The fleet's VM keys in attestation order: the three kinds interleaved in proportion (a smooth
 * weighted round robin), so every stretch of the run sees the same mix.
 */
export function fleetOrder(c: FleetCounts): string[] {
  const kinds = [
    { n: c.standalone, key: (i: number) => `${FLEET_RG}/vm-${i}` },
    { n: c.flexible, key: (i: number) => `${FLEET_RG}/flex/${i}` },
    { n: c.uniform, key: (i: number) => `${FLEET_RG}/uni/${i}` },
  ]
  const total = fleetSize(c)
  const used = [0, 0, 0]
  const credit = [0, 0, 0]
  const out: string[] = []
  for (let k = 0; k < total; k++) {
    let best = -1
    for (let j = 0; j < 3; j++) {
      if (used[j]! >= kinds[j]!.n) continue
      credit[j]! += kinds[j]!.n
      if (best < 0 || credit[j]! > credit[best]!) best = j
    }
    credit[best]! -= total
    out.push(kinds[best]!.key(used[best]!++))
  }
  return out
}

const agentId = (trustDomain: string, path: string): string =>
  `spiffe://${trustDomain}/spire/agent/${path}`

/** The test attestor's agents: identity `<prefix>-<index>`, shared secret, HMAC challenge. */
export function crSource(o: { trustDomain: string; secret: string; prefix: string }): AgentSource {
  const attestor = createCrAgent({
    log: NOOP_LOGGER,
    metrics: NOOP_METRICS,
    agentStore: undefined,
    hostServices: [],
  })
  return (index) => {
    const identity = `${o.prefix}-${index}`
    const config = { secret: o.secret, identity, selectors: [], noisy: false }
    return {
      attestor: 'cr_test',
      agentId: agentId(o.trustDomain, `cr_test/${identity}`),
      idPrefix: false,
      label: identity,
      payload: (signal) => attestor.payload(config, { signal }),
      respond: (challenge, signal) => attestor.respond!(challenge, config, { signal }),
    }
  }
}

/** A VM of the fleet for attestation `index`: `vms` distinct ones, reused round robin past that. */
function vmFor(emu: Emulator, order: readonly string[], index: number): Vm {
  return emu.world.vm(order[index % order.length]!)
}

function must<C>(build: (r: Report) => C | undefined): C {
  const report = new Report()
  const config = build(report)
  if (config === undefined) throw new Error(`agent config: ${report.errors.join('; ')}`)
  return config
}

/**
 * azure_msi agents: our agent plugin's attestor fetching the VM's managed-identity token from its
 * emulated IMDS. Agent ID: the default template `/azure_msi/<tenant>/<principal>`.
 */
export function msiSource(o: {
  emu: Emulator
  order: readonly string[]
  trustDomain: string
}): AgentSource {
  const attestor = createMsiAgent(createImdsAgentDeps(NOOP_LOGGER))
  return (index) => {
    const vm = vmFor(o.emu, o.order, index)
    const principal = vm.identity.system?.principalId
    if (principal === undefined) throw new Error(`VM ${vm.key} has no system identity`)
    const config = must((r) =>
      buildMsiAgentConfig(
        { imds_endpoint: o.emu.endpoints.imdsFor(vm.key), retry_timeout: '5s' },
        r,
      ),
    )
    const tenantId = vm.resourceGroup.subscription.tenant.tenantId
    return {
      attestor: 'azure_msi',
      agentId: agentId(o.trustDomain, `azure_msi/${tenantId}/${principal}`),
      idPrefix: false,
      label: vm.key,
      payload: (signal) => attestor.payload(config, { signal }),
    }
  }
}

/**
 * azure_imds agents: our agent plugin's attestor answering the server's nonce with the VM's
 * attested document from its emulated IMDS. Agent ID: the default template
 * `/azure_imds/<tenant>/<subscription>/<vmId>`, or with `/<nonce>` after it when `perAttestation`
 * (the server's agent_path_template then ends in `{{ .Nonce }}`, so a VM may attest again).
 */
export function imdsSource(o: {
  emu: Emulator
  order: readonly string[]
  trustDomain: string
  perAttestation: boolean
}): AgentSource {
  const attestor = createImdsAgent(createImdsAgentDeps(NOOP_LOGGER))
  return (index) => {
    const vm = vmFor(o.emu, o.order, index)
    const config = must((r) =>
      buildImdsAgentConfig(
        {
          tenant_domain: FLEET_TENANT_DOMAIN,
          imds_endpoint: o.emu.endpoints.imdsFor(vm.key),
          retry_timeout: '5s',
        },
        r,
      ),
    )
    const sub = vm.resourceGroup.subscription
    return {
      attestor: 'azure_imds',
      agentId: agentId(
        o.trustDomain,
        `azure_imds/${sub.tenant.tenantId}/${sub.subscriptionId}/${vm.vmId}`,
      ),
      idPrefix: o.perAttestation,
      label: vm.key,
      payload: (signal) => attestor.payload(config, { signal }),
      respond: (challenge, signal) => attestor.respond!(challenge, config, { signal }),
    }
  }
}

/** The azure_imds server template that gives every attestation its own agent ID. */
export const IMDS_PER_ATTESTATION_TEMPLATE =
  '/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .VMID }}/{{ .Nonce }}'

/** Sources taking turns: attestation i goes to source i mod k, with index ⌊i/k⌋ in it. */
export function interleave(sources: readonly AgentSource[]): AgentSource {
  if (sources.length === 1) return sources[0]!
  return (index) => sources[index % sources.length]!(Math.floor(index / sources.length))
}
