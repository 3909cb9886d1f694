import { PluginError } from '../../shared/plugin/index.js'
import {
  buildAgentId,
  buildAgentPath,
  GoNil,
  GoStruct,
  GoTypedInt,
  type GoValue,
} from '../../shared/go/template/index.js'
import type { MsiServerConfig } from './config.js'
import { PLUGIN_NAME } from './config.js'
import { computeHint } from './resolve.js'
import type { MsiClaims } from './verify.js'

/**
 * What agent_path_template sees: upstream's `azure.agentPathTemplateData` (PluginName, the
 * MSITokenClaims — TenantID, PrincipalID and jwt.Claims' promoted fields, whose Subject is always
 * empty because `sub` decodes into PrincipalID), as a Go struct so unknown fields fail like Go's.
 *
 * deviation: ObjectID, ClientID and the VM location the token's own (signed) `xms_az_rid` /
 * `xms_mirid` claims give — SubscriptionID, ResourceGroup, VMName, VMScaleSetName — are added, so a
 * user-assigned identity shared by many VMs can still yield one agent ID per VM. They are empty
 * when the token lacks those claims (docs/plugin_server_nodeattestor_azure_msi.md).
 */
export function buildTemplateData(claims: MsiClaims): GoStruct {
  const date = (v: number | undefined): GoValue =>
    v === undefined
      ? new GoNil('*jwt.NumericDate')
      : new GoTypedInt('jwt.NumericDate', BigInt(v), false)
  const jwtClaims = new Map<string, GoValue>([
    ['Issuer', claims.issuer ?? ''],
    ['Subject', ''],
    ['Audience', [...claims.audience]],
    ['Expiry', date(claims.expiry)],
    ['NotBefore', date(claims.notBefore)],
    ['IssuedAt', date(claims.issuedAt)],
    ['ID', claims.jwtId ?? ''],
  ])
  const msiClaims = new Map<string, GoValue>([
    ['Claims', new GoStruct('jwt.Claims', jwtClaims)],
    ...jwtClaims,
    ['TenantID', claims.tenantId],
    ['PrincipalID', claims.principalId],
  ])
  const place = placeFromClaims(claims)
  return new GoStruct(
    'azure.agentPathTemplateData',
    new Map<string, GoValue>([
      ['MSITokenClaims', new GoStruct('azure.MSITokenClaims', msiClaims)],
      ...msiClaims,
      // upstream parity: always the constant, whatever name the plugin is configured under
      ['PluginName', PLUGIN_NAME],
      ['ObjectID', claims.objectId ?? ''],
      ['ClientID', claims.clientId ?? ''],
      ['SubscriptionID', place.subscriptionId],
      ['ResourceGroup', place.resourceGroup],
      ['VMName', place.vmName],
      ['VMScaleSetName', place.scaleSetName],
    ]),
  )
}

function placeFromClaims(claims: MsiClaims) {
  const hint = computeHint(claims)
  if (hint === undefined)
    return { subscriptionId: '', resourceGroup: '', vmName: '', scaleSetName: '' }
  const base = { subscriptionId: hint.subscriptionId, resourceGroup: hint.resourceGroup }
  switch (hint.kind) {
    case 'vm':
      return { ...base, vmName: hint.name, scaleSetName: '' }
    case 'vmss':
      return { ...base, vmName: '', scaleSetName: hint.name }
    case 'vmss-vm':
      return { ...base, vmName: `${hint.scaleSet}_${hint.instanceId}`, scaleSetName: hint.scaleSet }
  }
}

/** Step 12: render the template and form the agent ID; `Internal "unable to make agent ID: <err>"`. */
export function makeAgentId(config: MsiServerConfig, claims: MsiClaims): string {
  try {
    const path = buildAgentPath(config.agentPath, buildTemplateData(claims))
    return buildAgentId(config.trustDomain, path)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new PluginError('Internal', 'agent_id_failed', `unable to make agent ID: ${message}`, {
      cause: err,
    })
  }
}
