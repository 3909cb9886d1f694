// Shared fixtures for the template tests: upstream's template data structs and a one-call renderer.

import {
  AGENT_PATH_FUNCS,
  GoNil,
  GoStruct,
  type GoValue,
  type Template,
  goStruct,
  parseTemplate,
} from '../../../../shared/go/template/index.js'

/** upstream azure.agentPathTemplateData: embedded jwt.Claims + MSITokenClaims, flattened. */
export function msiTemplateData(tenantId: string, principalId: string): GoStruct {
  const nilDate = (): GoNil => new GoNil('*jwt.NumericDate')
  return new GoStruct(
    'azure.agentPathTemplateData',
    new Map<string, GoValue>([
      ['Issuer', ''],
      ['Subject', ''],
      ['Audience', []],
      ['Expiry', nilDate()],
      ['NotBefore', nilDate()],
      ['IssuedAt', nilDate()],
      ['ID', ''],
      ['TenantID', tenantId],
      ['PrincipalID', principalId],
      ['PluginName', 'azure_msi'],
    ]),
  )
}

/** upstream azure.imdsAgentPathTemplateData: embedded *AttestedDocumentContent + PluginName. */
export function imdsTemplateData(
  tenantId: string,
  subscriptionId: string,
  vmId: string,
  nonce: string,
): GoStruct {
  return goStruct('azure.imdsAgentPathTemplateData', {
    SubscriptionID: subscriptionId,
    VMID: vmId,
    Nonce: nonce,
    TenantID: tenantId,
    PluginName: 'azure_imds',
  })
}

export type RenderKind = 'agent' | 'plain'

/** The template as upstream's wrapper builds it ('agent'), or a bare Go template ('plain'). */
export function compile(text: string, kind: RenderKind = 'agent'): Template {
  return kind === 'plain'
    ? parseTemplate('agent-path', text)
    : parseTemplate('agent-path', text, { funcs: AGENT_PATH_FUNCS, missingKey: 'error' })
}

/** Renders, returning `{ out }` or `{ err }` like the Go harness that produced go-parity.json. */
export function render(
  text: string,
  data: unknown,
  kind: RenderKind = 'agent',
): { out?: string; err?: string } {
  try {
    return { out: compile(text, kind).execute(data) }
  } catch (err) {
    return { err: err instanceof Error ? err.message : String(err) }
  }
}
