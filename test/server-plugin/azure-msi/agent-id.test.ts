import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { PluginError } from '../../../shared/plugin/index.js'
import { makeAgentId } from '../../../server-plugin/azure-msi/agent-id.js'
import {
  parseMsiToken,
  verifyTokenSignature,
  type MsiClaims,
} from '../../../server-plugin/azure-msi/verify.js'
import {
  BASIC_HCL,
  CLIENT_ID,
  msiClaims,
  NOW_S,
  PRINCIPAL_ID,
  serverConfig,
  SUBSCRIPTION_ID,
  TENANT_ID,
  TestSigner,
  TRUST_DOMAIN,
} from '../../support/azure-msi.js'

let signer: TestSigner
before(async () => {
  signer = await TestSigner.create()
})

async function claims(overrides: Record<string, unknown> = {}): Promise<MsiClaims> {
  return verifyTokenSignature(parseMsiToken(await signer.sign(msiClaims(overrides))), [signer.jwk])
}

const id = async (template: string, overrides: Record<string, unknown> = {}) =>
  makeAgentId(
    serverConfig(`${BASIC_HCL}\nagent_path_template = ${JSON.stringify(template)}`),
    await claims(overrides),
  )

const prefix = `spiffe://${TRUST_DOMAIN}/spire/agent`

describe('agent ID (step 12)', () => {
  test('default template: spiffe://<td>/spire/agent/azure_msi/<tid>/<principal>', async () => {
    assert.equal(
      makeAgentId(serverConfig(BASIC_HCL), await claims()),
      `${prefix}/azure_msi/${TENANT_ID}/${PRINCIPAL_ID}`,
    )
  })

  test('.PluginName is the constant azure_msi; upstream fields and pipelines work', async () => {
    assert.equal(
      await id('/{{ .PluginName | upper }}/{{ .TenantID | trunc 8 }}'),
      `${prefix}/AZURE_MSI/${TENANT_ID.slice(0, 8)}`,
    )
    assert.equal(
      await id('/{{ printf "%s-%s" .PluginName .PrincipalID }}'),
      `${prefix}/azure_msi-${PRINCIPAL_ID}`,
    )
    assert.equal(await id('/x/{{ .Expiry }}'), `${prefix}/x/${NOW_S + 86_400}`)
    assert.equal(
      await id('/x/{{ index .Audience 0 | sha256sum | trunc 12 }}').then((v) => v.length),
      `${prefix}/x/`.length + 12,
    )
    assert.equal(await id('/x/{{ .MSITokenClaims.TenantID }}'), `${prefix}/x/${TENANT_ID}`)
  })

  test('.Subject is always empty, as upstream (sub decodes into PrincipalID)', async () => {
    await assert.rejects(id('/x/{{ .Subject }}'), (err: unknown) => {
      assert.match(
        (err as Error).message,
        /^unable to make agent ID: invalid agent path suffix "\/x\/": path cannot have a trailing slash$/,
      )
      return true
    })
  })

  test('an unknown field fails like Go on a struct', async () => {
    await assert.rejects(id('/{{ .Nope }}'), (err: unknown) => {
      const e = err as PluginError
      assert.equal(e.status, 'Internal')
      assert.equal(e.reason, 'agent_id_failed')
      assert.match(
        e.message,
        /^unable to make agent ID: template: agent-path:1:4: executing "agent-path" at <\.Nope>: can't evaluate field Nope in type azure\.agentPathTemplateData$/,
      )
      return true
    })
  })

  test('added fields: ObjectID, ClientID and the VM from xms_az_rid / xms_mirid', async () => {
    const sys = await id(
      '/{{ .SubscriptionID }}/{{ .ResourceGroup }}/{{ .VMName }}/{{ .ObjectID }}/{{ .ClientID }}',
    )
    assert.equal(sys, `${prefix}/${SUBSCRIPTION_ID}/frontend/blog/${PRINCIPAL_ID}/${CLIENT_ID}`)
    const uami = await id('/{{ .ResourceGroup }}/{{ .VMName }}', {
      xms_mirid: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool`,
      xms_az_rid: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/web/providers/Microsoft.Compute/virtualMachines/web-7`,
    })
    assert.equal(uami, `${prefix}/web/web-7`)
    const uniform = await id('/{{ .VMScaleSetName }}', {
      xms_mirid: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/web/providers/Microsoft.Compute/virtualMachineScaleSets/pool`,
    })
    assert.equal(uniform, `${prefix}/pool`)
  })

  test('a token without the VM claims cannot fill a VM template (fails closed)', async () => {
    await assert.rejects(
      id('/{{ .VMName }}', { xms_mirid: undefined }),
      /path cannot have a trailing slash/,
    )
  })

  test('claims that would escape the path are refused by SPIFFE path validation', async () => {
    await assert.rejects(id('/{{ .Issuer }}'), /invalid agent path suffix/)
  })
})
