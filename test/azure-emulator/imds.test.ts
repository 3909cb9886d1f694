import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import * as pkijs from 'pkijs'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { startEmulator, VM_HEADER } from './index.js'
import type { Emulator } from './index.js'
import { fetchRaw, IMDS_HEADERS } from './test-helpers.js'

const TOKEN_PATH =
  '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F'
let emu: Emulator

before(async () => {
  emu = await startEmulator()
})
after(() => emu.stop())

const imds = (path: string, vm?: string, headers: Record<string, string> = IMDS_HEADERS) =>
  fetchRaw(`${vm ? emu.endpoints.imdsFor(vm) : emu.endpoints.imds}${path}`, { headers })

test('requests need Metadata: true, an api-version and no X-Forwarded-For', async () => {
  const noHeader = await imds('/metadata/instance?api-version=2021-12-13', undefined, {})
  assert.equal(noHeader.status, 400)
  assert.match(noHeader.text, /Required metadata header not specified/)
  const noVersion = await imds('/metadata/instance')
  assert.equal(noVersion.status, 400)
  assert.ok(Array.isArray(noVersion.json()['newest-versions']))
  assert.equal((await imds('/metadata/instance?api-version=2099-01-01')).status, 400)
  const xff = await imds('/metadata/instance?api-version=2021-12-13', undefined, {
    ...IMDS_HEADERS,
    'X-Forwarded-For': '1.2.3.4',
  })
  assert.equal(xff.status, 400)
  assert.equal(
    (await imds('/metadata/instance?api-version=2021-12-13&api-version=2021-12-13')).status,
    400,
  )
  assert.equal((await imds('/metadata/versions')).status, 200)
})

test('instance metadata: all-string compute fields agree with the world', async () => {
  const vm = emu.world.vm('frontend/blog')
  const res = await imds('/metadata/instance?api-version=2025-04-07&format=json')
  const c = res.json<{
    compute: Record<string, unknown>
    network: { interface: { macAddress: string }[] }
  }>().compute
  assert.equal(c.resourceId, vm.id)
  assert.equal(c.vmId, vm.vmId)
  assert.equal(c.name, 'blog')
  assert.equal(c.resourceGroupName, 'frontend')
  assert.equal(c.subscriptionId, vm.resourceGroup.subscription.subscriptionId)
  assert.equal(c.vmScaleSetName, '')
  assert.equal(c.location, 'eastus')
  assert.equal(c.azEnvironment, 'AzurePublicCloud')
  assert.deepEqual(c.tagsList, [
    { name: 'environment', value: 'production' },
    { name: 'team', value: 'web' },
  ])
  assert.equal(c.tags, 'environment:production;team:web')
  const text = await imds('/metadata/instance/compute/vmId?api-version=2021-12-13&format=text')
  assert.equal(text.text, vm.vmId)
  const old = await imds('/metadata/instance/compute?api-version=2018-10-01')
  assert.equal(old.json().resourceId, undefined)
})

test('scale-set members: vmScaleSetName for both modes, virtualMachineScaleSet.id for Flexible', async () => {
  const uni = (
    await imds('/metadata/instance/compute?api-version=2025-04-07', 'frontend/web/2')
  ).json()
  assert.equal(uni.name, 'web_2')
  assert.equal(uni.vmScaleSetName, 'web')
  assert.deepEqual(uni.virtualMachineScaleSet, { id: '' })
  const flex = emu.world.vm('frontend/flex/1')
  const f = (await imds('/metadata/instance/compute?api-version=2025-04-07', flex.key)).json()
  assert.equal(f.name, flex.name)
  assert.equal(f.vmScaleSetName, 'flex')
  assert.deepEqual(f.virtualMachineScaleSet, { id: flex.scaleSet!.id })
})

test('the VM is chosen by path prefix, header or a dedicated port', async () => {
  const byHeader = await imds(
    '/metadata/instance/compute/name?api-version=2021-12-13&format=text',
    undefined,
    { ...IMDS_HEADERS, [VM_HEADER]: 'backend/web/1' },
  )
  assert.equal(byHeader.text, 'web_1')
  const port = await emu.imds.listenFor('gov/gov-vm')
  const gov = await fetchRaw(`${port}/metadata/instance/compute?api-version=2021-12-13`, {
    headers: IMDS_HEADERS,
  })
  assert.equal(gov.json().azEnvironment, 'AzureUSGovernmentCloud')
})

test('token endpoint: with and without trailing slash, all-string numbers', async () => {
  for (const path of [TOKEN_PATH, TOKEN_PATH.replace('/token?', '/token/?')]) {
    const res = await imds(path)
    assert.equal(res.status, 200)
    const body = res.json()
    for (const k of ['expires_in', 'expires_on', 'ext_expires_in', 'not_before'])
      assert.equal(typeof body[k], 'string', k)
    assert.equal(body.resource, 'https://management.azure.com/')
    assert.equal(body.token_type, 'Bearer')
  }
})

test('token claims follow the identity kind (azure-facts §6.3)', async () => {
  const claimsOf = async (vm: string, query = '') =>
    decodeJwt(String((await imds(`${TOKEN_PATH}${query}`, vm)).json().access_token))
  const blog = emu.world.vm('frontend/blog')
  const sys = await claimsOf('frontend/blog')
  assert.equal(sys.iss, `https://sts.windows.net/${sys.tid}/`)
  assert.equal(sys.oid, blog.identity.system!.principalId)
  assert.equal(sys.sub, sys.oid)
  assert.equal(sys.appid, blog.identity.system!.clientId)
  assert.equal(sys.idtyp, 'app')
  assert.equal(sys.xms_mirid, blog.id.replace('/resourceGroups/', '/resourcegroups/'))
  assert.equal(sys.xms_az_rid, undefined)
  const api = emu.world.vm('frontend/api')
  const uami = await claimsOf('frontend/api')
  assert.equal(uami.oid, api.identity.userAssigned[0]!.principalId)
  assert.match(
    String(uami.xms_mirid),
    /\/resourcegroups\/frontend\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/api-identity$/,
  )
  assert.equal(uami.xms_az_rid, api.id.replace('/resourceGroups/', '/resourcegroups/'))
  const uni = await claimsOf('frontend/web/1')
  assert.match(String(uni.xms_mirid), /\/virtualMachineScaleSets\/web$/)
  const flex = emu.world.vm('frontend/flex/0')
  assert.equal(
    (await claimsOf(flex.key)).xms_mirid,
    flex.id.replace('/resourceGroups/', '/resourcegroups/'),
  )
  const own = decodeJwt(
    String(
      (
        await imds(
          '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://my-app',
          'frontend/blog',
        )
      ).json().access_token,
    ),
  )
  assert.equal(own.aud, 'api://my-app')
  assert.equal(own.xms_mirid, undefined)
  const cn = await claimsOf('cn/cn-vm')
  assert.equal(cn.iss, `https://sts.chinacloudapi.cn/${cn.tid}/`)
  const header = decodeProtectedHeader(String((await imds(TOKEN_PATH)).json().access_token))
  assert.equal(header.kid, header.x5t)
})

test('several user-assigned identities and none named: the real 400; naming one works', async () => {
  const multi = emu.world.vm('frontend/multi')
  const res = await imds(TOKEN_PATH, 'frontend/multi')
  assert.equal(res.status, 400)
  assert.equal(
    res.json().error_description,
    'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request',
  )
  const batch = multi.identity.userAssigned[1]!
  for (const q of [
    `&client_id=${batch.clientId}`,
    `&object_id=${batch.principalId}`,
    `&msi_res_id=${encodeURIComponent(batch.id)}`,
  ]) {
    const ok = await imds(`${TOKEN_PATH}${q}`, 'frontend/multi')
    assert.equal(ok.status, 200, q)
    assert.equal(decodeJwt(String(ok.json().access_token)).oid, batch.principalId)
  }
  assert.equal(
    (await imds(`${TOKEN_PATH}&client_id=00000000-0000-4000-8000-000000000000`, 'frontend/multi'))
      .status,
    400,
  )
  assert.equal(
    (await imds(TOKEN_PATH, 'frontend/plain')).json().error_description,
    'Identity not found',
  )
  assert.equal((await imds('/metadata/identity/oauth2/token?api-version=2018-02-01')).status, 400)
})

test('IMDS caches tokens unless bypass_cache=true', async () => {
  const a = (await imds(TOKEN_PATH, 'frontend/worker')).json().access_token
  const b = (await imds(TOKEN_PATH, 'frontend/worker')).json().access_token
  const c = (await imds(`${TOKEN_PATH}&bypass_cache=true`, 'frontend/worker')).json().access_token
  assert.equal(a, b)
  assert.notEqual(a, c)
})

test('attested document per request, nonce checked, stale-document mode', async () => {
  const res = await imds(
    '/metadata/attested/document?api-version=2025-04-07&nonce=abcDEF0123456789abcDEF0123456789',
    'frontend/web/0',
  )
  assert.equal(res.status, 200)
  const body = res.json<{ encoding: string; signature: string }>()
  assert.equal(body.encoding, 'pkcs7')
  const sd = new pkijs.SignedData({
    schema: pkijs.ContentInfo.fromBER(Buffer.from(body.signature, 'base64')).content,
  })
  const content = JSON.parse(
    Buffer.from(sd.encapContentInfo.eContent!.getValue()).toString('utf8'),
  ) as Record<string, string>
  assert.equal(content.nonce, 'abcDEF0123456789abcDEF0123456789')
  assert.equal(content.vmId, emu.world.vm('frontend/web/0').vmId)
  assert.equal(
    (await imds('/metadata/attested/document?api-version=2025-04-07&nonce=' + 'a'.repeat(33)))
      .status,
    400,
  )
  assert.equal((await imds('/metadata/attested/document?api-version=2018-04-02')).status, 400)
  emu.imds.setStaleDocuments(true)
  const stale = await imds(
    '/metadata/attested/document?api-version=2025-04-07&nonce=other',
    'frontend/web/0',
  )
  emu.imds.setStaleDocuments(false)
  assert.equal(stale.json().signature, body.signature)
})

test('identity info gives the tenant', async () => {
  const res = await imds('/metadata/identity/info?api-version=2018-02-01', 'gov/gov-vm')
  assert.equal(res.json().tenantId, emu.world.tenant('fabrikam-gov').tenantId)
  assert.deepEqual(emu.errors, [])
})
