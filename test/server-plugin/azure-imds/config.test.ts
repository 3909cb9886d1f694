import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Report } from '../../../shared/plugin/index.js'
import { buildConfig, type ImdsServerConfig } from '../../../server-plugin/azure-imds/config.js'
import { authorizeTenant } from '../../../server-plugin/azure-imds/tenants.js'
import { HCL_FIXTURES_DIR } from '../../support/paths.js'

const core = { trustDomain: 'example.org' }

function build(hcl: string): { config: ImdsServerConfig | undefined; report: Report } {
  const report = new Report()
  return { config: buildConfig(hcl, core, report), report }
}

function errors(hcl: string): string[] {
  return build(hcl).report.errors
}

const fixture = (name: string): string =>
  readFileSync(join(HCL_FIXTURES_DIR, name, 'plugin_data.txt'), 'utf8')

describe('azure_imds server config: upstream’s documented configurations', () => {
  for (const name of [
    'imds_server_doc_default_auth',
    'imds_server_doc_secret_auth',
    'imds_server_doc_token_auth',
    'imds_server_doc_custom_template',
    'imds_server_doc_metadata_domains_gov',
    'imds_server_doc_multi_cloud',
    'imds_server_doc_multi_tenant',
    'imds_server_doc_trust_bundle',
    'imds_server_json',
    'imds_server_lists',
    'imds_server_block_style_nested',
    'imds_server_plugin_data_file_json',
    'imds_server_plugin_data_file_hcl_crlf',
  ]) {
    test(`${name} builds (no network needed)`, () => {
      const { config, report } = build(fixture(name))
      assert.deepEqual(report.errors, [])
      assert.ok(config !== undefined)
      assert.ok(config.tenants.length >= 1)
    })
  }

  test('multi-tenant sample: credentials, tags, subscriptions per tenant', () => {
    const config = build(fixture('imds_server_doc_multi_tenant')).config!
    const prod = config.tenants.find((t) => t.key === 'production.onmicrosoft.com')!
    const staging = config.tenants.find((t) => t.key === 'staging.onmicrosoft.com')!
    assert.deepEqual(prod.credential, {
      kind: 'client-secret',
      appId: '12345678-1234-1234-1234-123456789012',
      appSecret: 'production-secret',
    })
    assert.deepEqual(staging.credential, {
      kind: 'client-assertion',
      appId: '87654321-4321-4321-4321-210987654321',
      tokenPath: '/var/lib/spire/staging-token',
    })
    assert.deepEqual([...prod.allowedVmTags], ['environment', 'team'])
    assert.deepEqual(
      [...prod.allowedSubscriptions],
      ['d5b40d61-272e-48da-beb9-05f295c42bd6', 'a1b2c3d4-5678-9012-3456-789012345678'],
    )
    assert.equal(
      prod.tenantId,
      undefined,
      'a domain key is resolved at the first attestation, not at configure time',
    )
    assert.equal(prod.domain, 'production.onmicrosoft.com')
  })

  test('block-style tenants merge; the multi-label token_auth block is read', () => {
    const config = build(fixture('imds_server_block_style_nested')).config!
    const contoso = config.tenants.find((t) => t.key === 'contoso.onmicrosoft.com')!
    assert.deepEqual([...contoso.allowedVmTags].sort(), ['environment', 'team'])
    const fabrikam = config.tenants.find((t) => t.key === 'fabrikam.onmicrosoft.com')!
    assert.equal(fabrikam.credential.kind, 'client-assertion')
  })

  test('defaults: the default template, metadata.azure.com, no trust bundle', () => {
    const config = build(fixture('imds_server_doc_default_auth')).config!
    assert.equal(
      config.agentPath.text,
      '/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .VMID }}',
    )
    assert.deepEqual(config.allowedDomains, ['metadata.azure.com'])
    assert.equal(config.trustBundlePath, undefined)
    assert.equal(config.tenants[0]?.credential.kind, 'default')
    assert.equal(config.tenants[0]?.endpoints.armEndpoint, 'https://management.azure.com')
  })

  test('cloud_environment takes the aliases and refuses the retired German cloud', () => {
    const config = build(
      `cloud_environment = "usgov"\ntenants = { "fabrikam.onmicrosoft.us" = {} "contoso.partner.onmschina.cn" = { cloud_environment = "China" } "a.example.com" = { cloud_environment = "AzureCloud" } }`,
    ).config!
    assert.deepEqual(
      config.tenants.map((t) => t.cloud.name),
      ['AzureUSGovernmentCloud', 'AzureChinaCloud', 'AzurePublicCloud'],
    )
    const { report } = build(
      'tenants = { "a.example.com" = { cloud_environment = "AzureGermanCloud" } }',
    )
    assert.deepEqual(report.problems, [
      {
        severity: 'error',
        message:
          'tenant "a.example.com" cloud_environment "AzureGermanCloud": Microsoft Cloud Deutschland (AzureGermanCloud) was retired in October 2021; use AzurePublicCloud (the Germany West Central and Germany North regions) instead',
        keyPaths: [['tenants', 'a.example.com', 'cloud_environment']],
      },
    ])
  })

  test('cloud_environment picks ARM, the authority and the default metadata domains', () => {
    const config = build(
      `cloud_environment = "AzureUSGovernmentCloud"\ntenants = { "fabrikam.onmicrosoft.us" = {} "contoso.partner.onmschina.cn" = { cloud_environment = "AzureChinaCloud" } }`,
    ).config!
    const [gov, cn] = config.tenants
    assert.equal(gov?.endpoints.armEndpoint, 'https://management.usgovcloudapi.net')
    assert.equal(gov?.endpoints.authorityHost, 'https://login.microsoftonline.us')
    assert.equal(cn?.endpoints.armEndpoint, 'https://management.chinacloudapi.cn')
    assert.deepEqual(config.allowedDomains, ['metadata.azure.us', 'metadata.azure.cn'])
  })

  test('tenant_id, or a tenant ID as key, needs no lookup', () => {
    const config = build(`tenants = {
      "contoso.onmicrosoft.com" = { tenant_id = "0A1B2C3D-1111-2222-3333-444455556666" }
      "9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff" = {}
    }`).config!
    assert.deepEqual(
      config.tenants.map((t) => t.tenantId),
      ['0a1b2c3d-1111-2222-3333-444455556666', '9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff'],
    )
    assert.equal(authorizeTenant(config, 'CONTOSO.onmicrosoft.com').key, 'contoso.onmicrosoft.com')
    assert.equal(
      authorizeTenant(config, '0a1b2c3d-1111-2222-3333-444455556666').key,
      'contoso.onmicrosoft.com',
    )
    assert.equal(
      authorizeTenant(config, '9F8E7D6C-AAAA-BBBB-CCCC-DDDDEEEEFFFF').key,
      '9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff',
    )
    assert.throws(() => authorizeTenant(config, ''), { message: 'tenant "" is not authorized' })
  })

  test('unknown keys warn, auth_type warns (declared but unused upstream)', () => {
    const { config, report } = build(fixture('imds_server_unknown_keys'))
    assert.ok(config !== undefined)
    assert.ok(
      report.warnings.some((w) => w.startsWith('unknown configurations detected: ')),
      report.warnings.join('\n'),
    )
  })
})

describe('azure_imds server config: errors', () => {
  const cases: [string, string, string][] = [
    ['no tenants', '', 'configuration must have at least one tenant'],
    ['empty tenants', 'tenants = {}', 'configuration must have at least one tenant'],
    [
      'both auths',
      'tenants = { "a.example.com" = { secret_auth = { app_id = "x" app_secret = "y" } token_auth = { app_id = "x" token_path = "/t" } } }',
      'misconfigured tenant "a.example.com": only one of secret_auth or token_auth may be specified in the config',
    ],
    [
      'token path',
      'tenants = { "a.example.com" = { token_auth = { app_id = "x" } } }',
      'misconfigured tenant "a.example.com": missing token file path',
    ],
    [
      'token app id',
      'tenants = { "a.example.com" = { token_auth = { token_path = "/t" } } }',
      'misconfigured tenant "a.example.com": missing app id',
    ],
    [
      'secret app id',
      'tenants = { "a.example.com" = { secret_auth = { app_secret = "y" } } }',
      'misconfigured tenant "a.example.com": missing app id',
    ],
    [
      'secret value',
      'tenants = { "a.example.com" = { secret_auth = { app_id = "x" } } }',
      'misconfigured tenant "a.example.com": missing app secret',
    ],
    [
      'empty subscription',
      'tenants = { "a.example.com" = { restrict_to_subscriptions = ["", "x"] } }',
      'misconfigured tenant "a.example.com": restrict_to_subscriptions entries must be non-empty',
    ],
    [
      'blank subscription',
      'tenants = { "a.example.com" = { restrict_to_subscriptions = ["  "] } }',
      'misconfigured tenant "a.example.com": restrict_to_subscriptions entries must be non-empty',
    ],
    [
      'bad template',
      'tenants = { "a.example.com" = {} }\nagent_path_template = "/{{ .PluginName "',
      'failed to parse agent path template: "/{{ .PluginName "',
    ],
    [
      'bad tenant_id',
      'tenants = { "a.example.com" = { tenant_id = "nope" } }',
      'misconfigured tenant "a.example.com": tenant_id must be a GUID',
    ],
    [
      'bad key',
      'tenants = { "not a domain" = {} }',
      'misconfigured tenant "not a domain": the key must be a tenant domain or tenant ID',
    ],
    [
      'duplicate tenant',
      'tenants = { "a.example.com" = { tenant_id = "0a1b2c3d-1111-2222-3333-444455556666" } "0a1b2c3d-1111-2222-3333-444455556666" = {} }',
      'misconfigured tenant "0a1b2c3d-1111-2222-3333-444455556666": configured more than once',
    ],
    [
      'bad cloud',
      'cloud_environment = "Mars"\ntenants = { "a.example.com" = {} }',
      'cloud_environment "Mars" is not a known Azure cloud; accepted names (any case): AzurePublicCloud (or public, AzureCloud, AzurePublic); AzureUSGovernmentCloud (or usgovernment, usgov, AzureUSGovernment, AzureGovernment); AzureChinaCloud (or china, AzureChina)',
    ],
    [
      'bad domain',
      'allowed_metadata_domains = ["metadata azure"]\ntenants = { "a.example.com" = {} }',
      'allowed_metadata_domains entry "metadata azure" is not a domain name',
    ],
    [
      'http ARM',
      'endpoints = { resource_manager = "http://127.0.0.1:1" }\ntenants = { "a.example.com" = {} }',
      'endpoints.resource_manager "http://127.0.0.1:1" must use https',
    ],
    ['decode', 'tenants = [', 'unable to decode configuration: '],
  ]
  for (const [name, hcl, first] of cases) {
    test(name, () => {
      const errs = errors(hcl)
      assert.ok(errs.length > 0, 'expected an error')
      assert.ok(errs[0]!.startsWith(first), `${errs[0]} !~ ${first}`)
    })
  }

  test('a type error from the kit is reported, not thrown', () => {
    const errs = errors(fixture('invalid_imds_server_type_list_as_string'))
    assert.ok(errs[0]?.startsWith('unable to decode configuration: '), errs[0])
  })
})
