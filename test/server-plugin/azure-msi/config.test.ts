import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Report } from '../../../shared/plugin/index.js'
import {
  buildConfig,
  DEFAULT_AGENT_PATH_TEMPLATE,
} from '../../../server-plugin/azure-msi/config.js'
import { REPO_ROOT } from '../../support/paths.js'
import {
  BASIC_HCL,
  OTHER_TENANT_ID,
  PRINCIPAL_ID,
  SUBSCRIPTION_ID,
  TENANT_ID,
} from '../../support/azure-msi.js'

function build(hcl: string, trustDomain = 'example.org') {
  const report = new Report()
  const config = buildConfig(hcl, { trustDomain }, report)
  return { config, report }
}

function errorsOf(hcl: string): string[] {
  const { config, report } = build(hcl)
  assert.equal(config, undefined, 'config should be rejected')
  return report.errors
}

describe('azure_msi server config: upstream validation messages', () => {
  test('upstream sample (static credentials + custom resource) builds with upstream defaults', () => {
    const { config, report } = build(`tenants = {
  "${TENANT_ID}" = {
    subscription_id = "${SUBSCRIPTION_ID}"
    app_id          = "APP_ID"
    app_secret      = "APP_SECRET"
  }

  "${OTHER_TENANT_ID}" = {
    resource_id = "http://example.org/app/"
  }
}

agent_path_template = "/{{ .PluginName }}/{{ .TenantID }}/{{ .PrincipalID }}"`)
    assert.deepEqual(report.errors, [])
    assert.deepEqual(report.warnings, [])
    const a = config!.tenants.get(TENANT_ID)!
    assert.deepEqual(a.audiences, ['https://management.azure.com/'])
    assert.deepEqual(a.credential, {
      kind: 'client-secret',
      appId: 'APP_ID',
      appSecret: 'APP_SECRET',
    })
    assert.equal(a.subscriptionId, SUBSCRIPTION_ID)
    assert.equal(a.cloud.name, 'AzurePublicCloud')
    assert.equal(a.endpoints.armEndpoint, 'https://management.azure.com')
    const b = config!.tenants.get(OTHER_TENANT_ID)!
    assert.deepEqual(b.audiences, ['http://example.org/app/'])
    assert.deepEqual(b.credential, { kind: 'default' })
    assert.equal(b.subscriptionId, undefined)
    assert.equal(config!.agentPath.text, DEFAULT_AGENT_PATH_TEMPLATE)
  })

  test('JSON-printed plugin_data (multi-label blocks, quoted keys) decodes the same', () => {
    const { config, report } = build(
      `"tenants" "${TENANT_ID}" {\n  "subscription_id" = "${SUBSCRIPTION_ID}"\n\n  "app_id" = "A"\n\n  "app_secret" = "S"\n}\n\n"tenants" "${OTHER_TENANT_ID}" {\n  "resource_id" = "http://example.org/app/"\n}`,
    )
    assert.deepEqual(report.errors, [])
    assert.equal(config!.tenants.size, 2)
  })

  test('no tenants: "configuration must have at least one tenant"', () => {
    assert.deepEqual(errorsOf(''), ['configuration must have at least one tenant'])
    assert.deepEqual(errorsOf('tenants = {}'), ['configuration must have at least one tenant'])
  })

  test('decode failure: "unable to decode configuration: …"', () => {
    assert.deepEqual(errorsOf('tenants = {'), [
      'unable to decode configuration: At 1:13: object expected closing RBRACE got: EOF',
    ])
    assert.match(errorsOf('tenants = "x"')[0] ?? '', /^unable to decode configuration: /)
  })

  test('partial static credentials: upstream messages, in upstream order', () => {
    assert.deepEqual(errorsOf(`tenants = { "${TENANT_ID}" = { app_id = "A" } }`), [
      `misconfigured tenant "${TENANT_ID}": missing subscription id`,
      `misconfigured tenant "${TENANT_ID}": missing app secret`,
    ])
    assert.deepEqual(
      errorsOf(
        `tenants = { "${TENANT_ID}" = { subscription_id = "${SUBSCRIPTION_ID}" app_secret = "S" } }`,
      ),
      [`misconfigured tenant "${TENANT_ID}": missing app id`],
    )
  })

  test('bad template: upstream message with the template quoted', () => {
    assert.deepEqual(errorsOf(`${BASIC_HCL}\nagent_path_template = "/{{ .PluginName "`), [
      'failed to parse agent path template: "/{{ .PluginName "',
    ])
  })

  test('core config problems come first, and the plugin builder still runs (via the runtime)', () => {
    const { config } = build(BASIC_HCL, 'example.org')
    assert.equal(config?.trustDomain, 'example.org')
  })
})

describe('azure_msi server config: what upstream lacks', () => {
  test('subscription_id alone selects the default credential for that subscription (spiffe/spire#7104)', () => {
    const { config, report } = build(
      `tenants = { "${TENANT_ID}" = { subscription_id = "${SUBSCRIPTION_ID}" } }`,
    )
    assert.deepEqual(report.errors, [])
    const t = config!.tenants.get(TENANT_ID)!
    assert.deepEqual(t.credential, { kind: 'default' })
    assert.equal(t.subscriptionId, SUBSCRIPTION_ID)
  })

  test('use_msi is accepted with a deprecation warning', () => {
    const { config, report } = build(`tenants = { "${TENANT_ID}" = { use_msi = true } }`)
    assert.ok(config)
    assert.deepEqual(report.errors, [])
    assert.match(report.warnings[0] ?? '', /use_msi is deprecated and ignored/)
  })

  test('unknown keys are reported as a warning, not an error', () => {
    const { config, report } = build(`${BASIC_HCL}\nagent_path_tempalte = "x"`)
    assert.ok(config)
    assert.deepEqual(report.warnings, ['unknown configurations detected: agent_path_tempalte'])
  })

  test('audiences add accepted audiences to resource_id (or its default)', () => {
    const { config } = build(
      `tenants = { "${TENANT_ID}" = { audiences = ["api://spire", "https://management.azure.com"] } }`,
    )
    assert.deepEqual(config!.tenants.get(TENANT_ID)!.audiences, [
      'https://management.azure.com/',
      'api://spire',
      'https://management.azure.com',
    ])
  })

  test('principal_ids: GUIDs, lower-cased', () => {
    const { config } = build(
      `tenants = { "${TENANT_ID}" = { principal_ids = ["${PRINCIPAL_ID.toUpperCase()}"] } }`,
    )
    assert.deepEqual([...config!.tenants.get(TENANT_ID)!.principalIds!], [PRINCIPAL_ID])
    assert.deepEqual(errorsOf(`tenants = { "${TENANT_ID}" = { principal_ids = ["vm-1"] } }`), [
      `misconfigured tenant "${TENANT_ID}": principal_ids entries must be GUIDs`,
    ])
    assert.deepEqual(errorsOf(`tenants = { "${TENANT_ID}" = { principal_ids = [] } }`), [
      `misconfigured tenant "${TENANT_ID}": principal_ids must not be empty when set`,
    ])
  })

  test('a tenant key that is not a GUID (e.g. a domain, as azure_imds uses) is an error', () => {
    assert.deepEqual(errorsOf(`tenants = { "example.onmicrosoft.com" = {} }`), [
      'misconfigured tenant "example.onmicrosoft.com": tenant ID must be a GUID',
    ])
  })

  test('cloud_environment picks authority, issuers, ARM endpoint and default audience', () => {
    for (const [name, authority, arm, aud] of [
      [
        'AzurePublicCloud',
        'https://login.microsoftonline.com',
        'https://management.azure.com',
        'https://management.azure.com/',
      ],
      [
        'AzureUSGovernmentCloud',
        'https://login.microsoftonline.us',
        'https://management.usgovcloudapi.net',
        'https://management.usgovcloudapi.net/',
      ],
      [
        'azurechinacloud',
        'https://login.chinacloudapi.cn',
        'https://management.chinacloudapi.cn',
        'https://management.chinacloudapi.cn/',
      ],
    ] as const) {
      const { config, report } = build(
        `cloud_environment = "${name}"\ntenants = { "${TENANT_ID}" = {} }`,
      )
      assert.deepEqual(report.errors, [])
      const t = config!.tenants.get(TENANT_ID)!
      assert.equal(t.endpoints.authorityHost, authority)
      assert.equal(t.endpoints.armEndpoint, arm)
      assert.deepEqual(t.audiences, [aud])
    }
    // the German cloud is retired: the message says so and what to use instead (issue #11)
    assert.deepEqual(
      errorsOf(`cloud_environment = "AzureGermanCloud"\ntenants = { "${TENANT_ID}" = {} }`),
      [
        'cloud_environment "AzureGermanCloud": Microsoft Cloud Deutschland (AzureGermanCloud) was retired in October 2021; use AzurePublicCloud (the Germany West Central and Germany North regions) instead',
      ],
    )
  })

  test('cloud_environment accepts the names other tools use, in any case', () => {
    const aliases: [string, string][] = [
      ['public', 'AzurePublicCloud'],
      ['AzureCloud', 'AzurePublicCloud'],
      ['azurecloud', 'AzurePublicCloud'],
      ['AzurePublic', 'AzurePublicCloud'],
      ['PUBLIC', 'AzurePublicCloud'],
      ['usgovernment', 'AzureUSGovernmentCloud'],
      ['usgov', 'AzureUSGovernmentCloud'],
      ['AzureUSGovernment', 'AzureUSGovernmentCloud'],
      ['AzureGovernment', 'AzureUSGovernmentCloud'],
      ['china', 'AzureChinaCloud'],
      ['AzureChina', 'AzureChinaCloud'],
      [' azurechina ', 'AzureChinaCloud'],
    ]
    for (const [alias, cloud] of aliases) {
      const { config, report } = build(
        `cloud_environment = "${alias}"\ntenants = { "${TENANT_ID}" = { cloud_environment = "${alias}" } }`,
      )
      assert.deepEqual(report.errors, [], alias)
      assert.equal(config!.defaultCloud.name, cloud, alias)
      assert.equal(config!.tenants.get(TENANT_ID)!.cloud.name, cloud, alias)
    }
  })

  test('every name of the retired German cloud, and an unknown name, is refused with its key path', () => {
    for (const name of ['AzureGermanCloud', 'germany', 'AzureGermany', 'GERMAN']) {
      const { config, report } = build(
        `tenants = { "${TENANT_ID}" = { cloud_environment = "${name}" } }`,
      )
      assert.equal(config, undefined)
      assert.deepEqual(report.problems, [
        {
          severity: 'error',
          message: `tenant "${TENANT_ID}" cloud_environment "${name}": Microsoft Cloud Deutschland (AzureGermanCloud) was retired in October 2021; use AzurePublicCloud (the Germany West Central and Germany North regions) instead`,
          keyPaths: [['tenants', TENANT_ID, 'cloud_environment']],
        },
      ])
    }
    assert.deepEqual(
      errorsOf(`cloud_environment = "AzureStack"\ntenants = { "${TENANT_ID}" = {} }`),
      [
        'cloud_environment "AzureStack" is not a known Azure cloud; accepted names (any case): AzurePublicCloud (or public, AzureCloud, AzurePublic); AzureUSGovernmentCloud (or usgovernment, usgov, AzureUSGovernment, AzureGovernment); AzureChinaCloud (or china, AzureChina)',
      ],
    )
  })

  test('a tenant may override the cloud', () => {
    const { config } = build(`tenants = {
      "${TENANT_ID}" = {}
      "${OTHER_TENANT_ID}" = { cloud_environment = "AzureChinaCloud" }
    }`)
    assert.equal(config!.tenants.get(TENANT_ID)!.cloud.name, 'AzurePublicCloud')
    assert.equal(config!.tenants.get(OTHER_TENANT_ID)!.cloud.name, 'AzureChinaCloud')
  })

  test('endpoint overrides: https, loopback http for the authority only, no query', () => {
    const { config, report } = build(`${BASIC_HCL}
endpoints {
  authority_host = "http://127.0.0.1:4000/"
  resource_manager = "https://127.0.0.1:4001"
  imds = "http://127.0.0.1:4002/_vm/rg%2Fvm"
  ca_file = "/tmp/ca.pem"
}`)
    assert.deepEqual(report.errors, [])
    const t = config!.tenants.get(TENANT_ID)!
    assert.deepEqual(t.endpoints, {
      authorityHost: 'http://127.0.0.1:4000',
      armEndpoint: 'https://127.0.0.1:4001',
      caFile: '/tmp/ca.pem',
    })
    assert.equal(config!.imdsEndpoint, 'http://127.0.0.1:4002/_vm/rg%2Fvm')
    assert.deepEqual(
      errorsOf(`${BASIC_HCL}\nendpoints { resource_manager = "http://127.0.0.1:1" }`),
      ['endpoints.resource_manager "http://127.0.0.1:1" must use https'],
    )
    assert.deepEqual(
      errorsOf(`${BASIC_HCL}\nendpoints { authority_host = "http://login.example.com" }`),
      ['endpoints.authority_host "http://login.example.com" must use https'],
    )
    assert.deepEqual(errorsOf(`${BASIC_HCL}\nendpoints { authority_host = "https://x?y=1" }`), [
      'endpoints.authority_host "https://x?y=1" must not have a query or fragment',
    ])
  })

  test('allowed_vm_tags', () => {
    const { config } = build(`${BASIC_HCL}\nallowed_vm_tags = ["env", "team"]`)
    assert.deepEqual([...config!.allowedVmTags], ['env', 'team'])
    assert.deepEqual(errorsOf(`${BASIC_HCL}\nallowed_vm_tags = ["a:b"]`), [
      'allowed_vm_tags entries must be non-empty and must not contain ":"',
    ])
  })

  test('credentials never leak into the client key', () => {
    const { config } = build(BASIC_HCL)
    assert.ok(!config!.tenants.get(TENANT_ID)!.clientKey.includes('secret"'))
    assert.ok(!config!.tenants.get(TENANT_ID)!.clientKey.includes(':secret'))
  })

  test('every problem is a note; the first is what Configure returns', () => {
    const errors = errorsOf(
      `cloud_environment = "Mars"\ntenants = { "x" = { app_id = "A" } }\nallowed_vm_tags = [""]`,
    )
    assert.equal(errors.length, 5)
    assert.match(errors[0]!, /cloud_environment "Mars"/)
  })
})

describe('key cache tuning and the shipped examples', () => {
  test('jwks_* durations: defaults (upstream 1 h TTL), Go durations, bounds', () => {
    const { config } = build(BASIC_HCL)
    assert.deepEqual(config!.keyCache, {
      ttlMs: 3_600_000,
      maxStaleMs: 86_400_000,
      cooldownMs: 30_000,
    })
    const tuned = build(
      `${BASIC_HCL}\njwks_cache_ttl = "10m"\njwks_max_stale = "0s"\njwks_refresh_cooldown = "5s"`,
    ).config!
    assert.deepEqual(tuned.keyCache, { ttlMs: 600_000, maxStaleMs: 0, cooldownMs: 5_000 })
    assert.deepEqual(errorsOf(`${BASIC_HCL}\njwks_refresh_cooldown = "10ms"`), [
      'jwks_refresh_cooldown "10ms" must be a duration between 1s and 3600s',
    ])
    assert.deepEqual(errorsOf(`${BASIC_HCL}\njwks_cache_ttl = "forever"`), [
      'jwks_cache_ttl "forever" must be a duration between 1s and 86400s',
    ])
  })

  test('examples/azure-msi/server.conf plugin_data builds without notes', () => {
    const conf = readFileSync(join(REPO_ROOT, 'examples/azure-msi/server.conf'), 'utf8')
    // the NodeAttestor's plugin_data (the file is a whole server.conf: the DataStore's comes first)
    const start =
      conf.indexOf('plugin_data {', conf.indexOf('NodeAttestor "azure_msi"')) +
      'plugin_data {'.length
    let depth = 1
    let end = start
    while (depth > 0 && end < conf.length) {
      const ch = conf[end++]
      if (ch === '{') depth++
      else if (ch === '}') depth--
    }
    const { config, report } = build(conf.slice(start, end - 1))
    assert.deepEqual(report.notes, [])
    assert.equal(config!.tenants.size, 2)
  })
})
