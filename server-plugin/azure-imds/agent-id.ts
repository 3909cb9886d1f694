import { PluginError } from '../../shared/plugin/index.js'
import {
  buildAgentId,
  buildAgentPath,
  GoStruct,
  type GoValue,
} from '../../shared/go/template/index.js'
import type { ImdsServerConfig } from './config.js'
import { PLUGIN_NAME } from './config.js'

/** The values upstream's `azure.AttestedDocumentContent` carries into the template. */
export interface AgentIdFacts {
  tenantId: string
  subscriptionId: string
  vmId: string
  nonce: string
}

/**
 * What agent_path_template sees: upstream's `imdsAgentPathTemplateData` — the embedded
 * `*AttestedDocumentContent` (SubscriptionID, VMID, Nonce, TenantID, also promoted) and PluginName,
 * always `azure_imds`. `.Nonce` is random per attestation, which defeats TOFU (as upstream).
 */
export function buildTemplateData(facts: AgentIdFacts): GoStruct {
  const content = new Map<string, GoValue>([
    ['SubscriptionID', facts.subscriptionId],
    ['VMID', facts.vmId],
    ['Nonce', facts.nonce],
    ['TenantID', facts.tenantId],
  ])
  return new GoStruct(
    'azure.imdsAgentPathTemplateData',
    new Map<string, GoValue>([
      ['AttestedDocumentContent', new GoStruct('azure.AttestedDocumentContent', content)],
      ...content,
      ['PluginName', PLUGIN_NAME],
    ]),
  )
}

/** upstream parity: `Internal "unable to make agent ID: <err>"`; the path is a validated SPIFFE path. */
export function makeAgentId(config: ImdsServerConfig, facts: AgentIdFacts): string {
  try {
    return buildAgentId(
      config.trustDomain,
      buildAgentPath(config.agentPath, buildTemplateData(facts)),
    )
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new PluginError('Internal', 'agent_id_failed', `unable to make agent ID: ${message}`, {
      cause: err,
    })
  }
}
