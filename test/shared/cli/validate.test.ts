// `spire-azure validate`: SPIRE configs and bare plugin_data checked with the plugins' own builders,
// every problem with its key path and line; the examples validate clean, every broken fixture is
// caught, and the exit codes are the conventional ones.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runCli } from '../../../shared/cli/cli.js'
import type { Problem, ValidationResult } from '../../../shared/cli/validate.js'
import { HCL_FIXTURES_DIR, REPO_ROOT } from '../../support/paths.js'
import { recordingIo } from './io.js'

const TENANT = '00000000-1111-2222-3333-444444444444'
const SUB = 'd5b40d61-272e-48da-beb9-05f295c42bd6'

/** Values for the emulator examples' ${VAR}s: loopback URLs and IDs as the emulator hands out. */
const EMULATOR_ENV: Record<string, string> = {
  SPIRE_AZURE_BIN: '/opt/spire-azure/dist/bin',
  SPIRE_AZURE_RUN: '/var/tmp/spire-azure-run',
  SPIRE_SERVER_PORT: '8081',
  SPIFFE_JWT_ISSUER: 'https://127.0.0.1:8443',
  OIDC_ADDR: '127.0.0.1:8443',
  OIDC_CERT_FILE: '/var/tmp/spire-azure-run/oidc/tls.crt',
  OIDC_KEY_FILE: '/var/tmp/spire-azure-run/oidc/tls.key',
  AZURE_EMULATOR_ENTRA: 'https://127.0.0.1:40001',
  AZURE_EMULATOR_ARM: 'https://127.0.0.1:40002',
  AZURE_EMULATOR_IMDS: 'http://127.0.0.1:40003',
  AZURE_EMULATOR_ISSUERS: 'http://127.0.0.1:40004',
  AZURE_EMULATOR_CA_FILE: '/var/tmp/spire-azure-run/ca.pem',
  AZURE_EMULATOR_IMDS_AZURE_MSI: 'http://127.0.0.1:40003/_vm/frontend%2Fblog',
  AZURE_EMULATOR_IMDS_AZURE_IMDS: 'http://127.0.0.1:40003/_vm/frontend%2Fworker',
  AZURE_TENANT_ID: TENANT,
  AZURE_TENANT_DOMAIN: 'contoso.onmicrosoft.com',
  AZURE_SUBSCRIPTION_ID: SUB,
  AZURE_APP_ID: '12345678-1234-1234-1234-123456789012',
  AZURE_APP_SECRET: 'emulator-secret',
}

interface Run {
  code: number
  out: string
  err: string
  json: ValidationResult & { ok: boolean }
}

async function validate(
  args: string[],
  o: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const io = recordingIo(o)
  const code = await runCli(['validate', '--json', ...args], io)
  const json = io.out === '' ? ({} as Run['json']) : (JSON.parse(io.out) as Run['json'])
  const text = recordingIo(o)
  assert.equal(await runCli(['validate', ...args], text), code, 'text and JSON exit alike')
  return { code, out: text.out, err: text.err + io.err, json }
}

/** The fields a test pins: where, what, and the key path. */
const brief = (p: Problem): [string, number | undefined, string | undefined, string] => [
  p.file,
  p.line,
  p.keyPath,
  `${p.severity}: ${p.message}`,
]

let dir = ''
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'validate-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

/** Writes `text` into the scratch folder; returns its name there. */
function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text)
  return name
}

const EXAMPLES = join(REPO_ROOT, 'examples')
const exampleConfigs = (() => {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name))
      else if (e.name.endsWith('.conf')) out.push(join(d, e.name))
    }
  }
  walk(EXAMPLES)
  // the oidc-discovery-provider configs are not spire-server / spire-agent configs
  return out.filter((f) => /^(server|agent) \{/m.test(readFileSync(f, 'utf8'))).sort()
})()

describe('spire-azure validate: the examples', () => {
  test('every server and agent config under examples/ validates clean', async () => {
    assert.ok(exampleConfigs.length >= 11, exampleConfigs.join(' '))
    const files = exampleConfigs.map((f) => relative(REPO_ROOT, f))
    const run = await validate(['--expand-env', ...files], { cwd: REPO_ROOT, env: EMULATOR_ENV })
    assert.deepEqual(run.json.problems, [])
    assert.equal(run.code, 0)
    assert.equal(run.json.ok, true)
    assert.equal(run.json.files.length, files.length)
    for (const f of run.json.files) {
      const checked = f.plugins.filter((p) => p.status === 'checked')
      assert.ok(checked.length >= 1, f.file)
      assert.equal(f.side, /agent\.conf$/.test(f.file) ? 'agent' : 'server', f.file)
    }
    const both = run.json.files.find((f) => f.file === 'examples/both/server.conf')
    assert.deepEqual(
      both?.plugins.map((p) => [p.type, p.name, p.status]),
      [
        ['DataStore', 'sql', 'skipped'],
        ['KeyManager', 'disk', 'skipped'],
        ['NodeAttestor', 'azure_msi', 'checked'],
        ['NodeAttestor', 'azure_imds', 'checked'],
      ],
    )
    assert.match(
      run.out,
      /^examples\/both\/server\.conf: server config; checked NodeAttestor "azure_msi" \(line \d+\), NodeAttestor "azure_imds" \(line \d+\); skipped DataStore "sql", KeyManager "disk"$/m,
    )
    assert.match(run.out, /\n\d+ files checked: ok\n$/)
  })

  test('an emulator config without --expand-env: the unexpanded values, with a hint', async () => {
    const run = await validate(['examples/azure-msi/emulator-agent.conf'], { cwd: REPO_ROOT })
    assert.equal(run.code, 1)
    assert.deepEqual(run.json.problems.map(brief), [
      [
        'examples/azure-msi/emulator-agent.conf',
        19,
        'plugins.NodeAttestor.azure_msi.plugin_data.imds_endpoint',
        'error: imds_endpoint "${AZURE_EMULATOR_IMDS_AZURE_MSI}" must be an http(s) URL without query',
      ],
    ])
    assert.match(run.json.problems[0]?.hint ?? '', /pass --expand-env/)
  })
})

interface FixtureCase {
  case: string
  side: 'server' | 'agent'
  config_file: string
  plugin_data_file?: string
  plugin_data_file_path_in_config?: string
}

const CASES = (
  JSON.parse(readFileSync(join(HCL_FIXTURES_DIR, 'cases.json'), 'utf8')) as { cases: FixtureCase[] }
).cases

/** What validate reports for each broken fixture: file, line, key path, message. */
const BROKEN: Record<string, [string, number, string, string][]> = {
  invalid_imds_agent_plugin_data_file_bad_json: [
    [
      'plugin_data_file.json',
      2,
      'plugins.NodeAttestor.azure_imds.plugin_data',
      "error: unable to decode configuration: 2:20: illegal char: '",
    ],
  ],
  invalid_imds_server_json_null: [
    [
      'server.json',
      7,
      'plugins.NodeAttestor.azure_imds.plugin_data',
      'error: unable to decode configuration: At 5:1: Unknown token: 5:1 RBRACE }',
    ],
  ],
  invalid_imds_server_type_list_as_string: [
    [
      'server.conf',
      7,
      'plugins.NodeAttestor.azure_imds.plugin_data.tenants."contoso.onmicrosoft.com".restrict_to_subscriptions',
      'error: unable to decode configuration: tenants["contoso.onmicrosoft.com"].restrict_to_subscriptions: expected list, got string',
    ],
  ],
  invalid_imds_server_unbalanced_braces_missing: [
    [
      'plugin_data_file.hcl',
      9,
      'plugins.NodeAttestor.azure_imds.plugin_data',
      'error: unable to decode configuration: At 9:2: object expected closing RBRACE got: EOF',
    ],
  ],
  invalid_imds_server_unterminated_string: [
    [
      'plugin_data_file.hcl',
      3,
      'plugins.NodeAttestor.azure_imds.plugin_data',
      'error: unable to decode configuration: At 3:72: literal not terminated',
    ],
  ],
  invalid_msi_agent_type_bool_as_string: [
    [
      'agent.conf',
      5,
      'plugins.NodeAttestor.azure_msi.plugin_data.resource_id',
      'error: unable to decode configuration: resource_id: expected string, got bool',
    ],
  ],
  invalid_msi_server_heredoc_last: [
    [
      'server.conf',
      4,
      'plugins.NodeAttestor.azure_msi.plugin_data',
      'error: unable to decode configuration: At 9:4: heredoc not terminated',
    ],
  ],
  invalid_msi_server_plugin_data_string: [
    [
      'server.conf',
      4,
      'plugins.NodeAttestor.azure_msi.plugin_data',
      `error: unable to decode configuration: At 1:62: key '"tenants = { \\"${TENANT}\\" = {} }"' expected start of object ('{') or assignment ('=')`,
    ],
  ],
  invalid_msi_server_type_tenants_as_list: [
    [
      'server.conf',
      5,
      'plugins.NodeAttestor.azure_msi.plugin_data.tenants',
      'error: unable to decode configuration: tenants: expected map, got list',
    ],
  ],
  invalid_msi_server_unbalanced_braces_extra: [
    [
      'plugin_data_file.hcl',
      6,
      'plugins.NodeAttestor.azure_msi.plugin_data',
      'error: unable to decode configuration: At 6:1: expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE',
    ],
  ],
}

/** The hints that explain SPIRE's re-printing, for the cases it causes. */
const HINTS: Record<string, RegExp> = {
  invalid_imds_server_json_null: /a JSON null prints as nothing/,
  invalid_msi_server_heredoc_last: /drops the newline after a heredoc/,
  invalid_msi_server_plugin_data_string: /plugin_data is a quoted string/,
}

describe('spire-azure validate: every broken fixture config is caught with its key path and line', () => {
  const broken = CASES.filter((c) => c.case.startsWith('invalid_'))
  test('the table covers every invalid_ fixture', () => {
    assert.deepEqual(broken.map((c) => c.case).sort(), Object.keys(BROKEN).sort())
  })
  for (const c of broken) {
    test(c.case, async () => {
      // a private copy: the plugin_data_file the config names is put beside it, named relative to
      // the working directory as SPIRE reads it
      const work = mkdtempSync(join(dir, `${c.case}-`))
      let config = readFileSync(join(HCL_FIXTURES_DIR, c.case, c.config_file), 'utf8')
      if (c.plugin_data_file !== undefined && c.plugin_data_file_path_in_config !== undefined) {
        copyFileSync(
          join(HCL_FIXTURES_DIR, c.case, c.plugin_data_file),
          join(work, c.plugin_data_file),
        )
        config = config.replace(c.plugin_data_file_path_in_config, c.plugin_data_file)
      }
      writeFileSync(join(work, c.config_file), config)
      // the fixtures hold only the plugins block: the side comes from --side
      const run = await validate(['--side', c.side, c.config_file], { cwd: work })
      assert.equal(run.code, 1)
      assert.deepEqual(run.json.problems.map(brief), BROKEN[c.case])
      const hint = HINTS[c.case]
      if (hint !== undefined) assert.match(run.json.problems[0]?.hint ?? '', hint)
    })
  }
})

const serverConf = (pluginData: string): string =>
  [
    'server {', // 1
    '  trust_domain = "example.org"', // 2
    '}', // 3
    'plugins {', // 4
    '  NodeAttestor "azure_msi" {', // 5
    '    plugin_cmd = "/opt/spire/plugins/spire-server-nodeattestor-azure-msi"', // 6
    '    plugin_data {', // 7
    pluginData, // 8...
    '    }',
    '  }',
    '}',
    '',
  ].join('\n')

describe('spire-azure validate: the config tests’ broken plugin_data, placed', () => {
  const cases: [string, string, [string, number, string, string][]][] = [
    [
      'subscription_id not a GUID',
      `tenants = {\n  "${TENANT}" = {\n    subscription_id = "nope"\n  }\n}`,
      [
        [
          'server.conf',
          10,
          `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".subscription_id`,
          `error: misconfigured tenant "${TENANT}": subscription_id must be a GUID`,
        ],
      ],
    ],
    [
      'the retired German cloud and an alias',
      `cloud_environment = "usgov"\ntenants = {\n  "${TENANT}" = {\n    cloud_environment = "AzureGermanCloud"\n  }\n}`,
      [
        [
          'server.conf',
          11,
          `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".cloud_environment`,
          `error: tenant "${TENANT}" cloud_environment "AzureGermanCloud": Microsoft Cloud Deutschland (AzureGermanCloud) was retired in October 2021; use AzurePublicCloud (the Germany West Central and Germany North regions) instead`,
        ],
      ],
    ],
    [
      'a bad list entry points at the entry',
      `tenants = { "${TENANT}" = {\n  principal_ids = [\n    "${SUB}",\n    "not-a-guid",\n  ]\n} }\nallowed_vm_tags = ["env", "a:b"]`,
      [
        [
          'server.conf',
          11,
          `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".principal_ids[1]`,
          `error: misconfigured tenant "${TENANT}": principal_ids entries must be GUIDs`,
        ],
        [
          'server.conf',
          14,
          'plugins.NodeAttestor.azure_msi.plugin_data.allowed_vm_tags[1]',
          'error: allowed_vm_tags entries must be non-empty and must not contain ":"',
        ],
      ],
    ],
    [
      'a missing key points at its tenant',
      `tenants = {\n  "${TENANT}" = {\n    app_id = "A"\n    subscription_id = "${SUB}"\n  }\n}`,
      [
        [
          'server.conf',
          9,
          `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".app_secret`,
          `error: misconfigured tenant "${TENANT}": missing app secret`,
        ],
      ],
    ],
    [
      'endpoints and durations',
      `tenants = { "${TENANT}" = {} }\nendpoints {\n  resource_manager = "http://127.0.0.1:1"\n}\njwks_cache_ttl = "1ms"`,
      [
        [
          'server.conf',
          10,
          'plugins.NodeAttestor.azure_msi.plugin_data.endpoints.resource_manager',
          'error: endpoints.resource_manager "http://127.0.0.1:1" must use https',
        ],
        [
          'server.conf',
          12,
          'plugins.NodeAttestor.azure_msi.plugin_data.jwks_cache_ttl',
          'error: jwks_cache_ttl "1ms" must be a duration between 1s and 86400s',
        ],
      ],
    ],
    [
      'no tenant at all',
      `agent_path_template = "/{{ .PluginName }}"`,
      [
        [
          'server.conf',
          7,
          'plugins.NodeAttestor.azure_msi.plugin_data.tenants',
          'error: configuration must have at least one tenant',
        ],
      ],
    ],
  ]
  for (const [name, data, expected] of cases) {
    test(name, async () => {
      const sub = mkdtempSync(join(dir, 'placed-'))
      writeFileSync(join(sub, 'server.conf'), serverConf(data))
      const run = await validate(['server.conf'], { cwd: sub })
      assert.equal(run.code, 1)
      assert.deepEqual(run.json.problems.map(brief), expected)
      for (const [, line, keyPath, message] of expected) {
        assert.ok(
          run.out.includes(
            `server.conf:${line}: ${message.replace(/^(\w+): /, `$1: ${keyPath}: `)}\n`,
          ),
          run.out,
        )
      }
    })
  }

  test('unknown keys warn at each key (exit 0), and fail with --strict', async () => {
    const sub = mkdtempSync(join(dir, 'strict-'))
    writeFileSync(
      join(sub, 'server.conf'),
      serverConf(
        `tenants = {\n  "${TENANT}" = {\n    restrict_to_subscription = "x"\n  }\n}\nfoo = 1`,
      ),
    )
    const run = await validate(['server.conf'], { cwd: sub })
    assert.equal(run.code, 0)
    const message = `warning: unknown configurations detected: foo,tenants["${TENANT}"].restrict_to_subscription`
    assert.deepEqual(run.json.problems.map(brief), [
      [
        'server.conf',
        10,
        `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".restrict_to_subscription`,
        message,
      ],
      ['server.conf', 13, 'plugins.NodeAttestor.azure_msi.plugin_data.foo', message],
    ])
    assert.equal(run.json.ok, true)
    assert.match(run.out, /1 file checked: 0 errors, 2 warnings\n$/)
    const strict = await validate(['--strict', 'server.conf'], { cwd: sub })
    assert.equal(strict.code, 1)
    assert.equal(strict.json.ok, false)
    assert.match(strict.out, /\(--strict: warnings fail\)\n$/)
  })

  test('agent plugins: each conflicting identity setting, and the agent binary on a server', async () => {
    const sub = mkdtempSync(join(dir, 'agent-'))
    writeFileSync(
      join(sub, 'agent.conf'),
      [
        'agent { trust_domain = "example.org" }', // 1
        'plugins {', // 2
        '  NodeAttestor "azure_msi" {', // 3
        '    plugin_data {', // 4
        `      client_id = "${SUB}"`, // 5
        `      object_id = "${SUB}"`, // 6
        '    }',
        '  }',
        '}',
      ].join('\n'),
    )
    const run = await validate(['agent.conf'], { cwd: sub })
    const message = 'error: only one of client_id, object_id or msi_res_id may be set'
    assert.deepEqual(run.json.problems.map(brief), [
      ['agent.conf', 5, 'plugins.NodeAttestor.azure_msi.plugin_data.client_id', message],
      ['agent.conf', 6, 'plugins.NodeAttestor.azure_msi.plugin_data.object_id', message],
    ])
    writeFileSync(
      join(sub, 'server.conf'),
      serverConf(`tenants = { "${TENANT}" = {} }`).replace(
        'spire-server-nodeattestor-azure-msi',
        'spire-agent-nodeattestor-azure-msi',
      ),
    )
    const wrong = await validate(['server.conf'], { cwd: sub })
    assert.equal(wrong.code, 1)
    assert.deepEqual(wrong.json.problems.map(brief), [
      [
        'server.conf',
        6,
        'plugins.NodeAttestor.azure_msi.plugin_cmd',
        'error: plugin_cmd "/opt/spire/plugins/spire-agent-nodeattestor-azure-msi" is the agent plugin, but this is a server config',
      ],
    ])
  })

  test('azure_imds: both credentials point at both blocks', async () => {
    const sub = mkdtempSync(join(dir, 'imds-'))
    writeFileSync(
      join(sub, 'server.conf'),
      serverConf(
        `tenants = {\n  "contoso.onmicrosoft.com" = {\n    secret_auth = { app_id = "a", app_secret = "s" }\n    token_auth = { app_id = "a", token_path = "/t" }\n  }\n}`,
      )
        .replace('"azure_msi"', '"azure_imds"')
        .replace('azure-msi', 'azure-imds'),
    )
    const run = await validate(['server.conf'], { cwd: sub })
    const message =
      'error: misconfigured tenant "contoso.onmicrosoft.com": only one of secret_auth or token_auth may be specified in the config'
    assert.deepEqual(run.json.problems.map(brief), [
      [
        'server.conf',
        10,
        'plugins.NodeAttestor.azure_imds.plugin_data.tenants."contoso.onmicrosoft.com".secret_auth',
        message,
      ],
      [
        'server.conf',
        11,
        'plugins.NodeAttestor.azure_imds.plugin_data.tenants."contoso.onmicrosoft.com".token_auth',
        message,
      ],
    ])
  })
})

describe('spire-azure validate: forms and sources', () => {
  test('a JSON config (SPIRE picks JSON by the first character, not the name)', async () => {
    const json = JSON.stringify(
      {
        server: { trust_domain: 'example.org' },
        plugins: {
          NodeAttestor: [
            {
              azure_msi: {
                plugin_cmd: '/opt/spire/plugins/spire-server-nodeattestor-azure-msi',
                plugin_data: {
                  tenants: { [TENANT]: { subscription_id: 'nope' } },
                  agent_path_template: '/{{ .PluginName }}/{{ .TenantID }}',
                },
              },
            },
          ],
        },
      },
      null,
      2,
    )
    write('server.json', json)
    const run = await validate(['server.json'], { cwd: dir })
    const line = json.split('\n').findIndex((l) => l.includes('"subscription_id"')) + 1
    assert.deepEqual(run.json.problems.map(brief), [
      [
        'server.json',
        line,
        `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".subscription_id`,
        `error: misconfigured tenant "${TENANT}": subscription_id must be a GUID`,
      ],
    ])
    // the same content with a .conf name is the same config
    write('server-json.conf', json)
    const renamed = await validate(['server-json.conf'], { cwd: dir })
    assert.deepEqual(
      renamed.json.problems.map((p) => p.line),
      run.json.problems.map((p) => p.line),
    )
  })

  test('plugin_data_file: read relative to the working directory; its problems are in it', async () => {
    const sub = mkdtempSync(join(dir, 'datafile-'))
    writeFileSync(
      join(sub, 'msi.hcl'),
      `tenants = {\n  "${TENANT}" = {\n    subscription_id = "x"\n  }\n}\n`,
    )
    const conf = serverConf('').replace(
      '    plugin_data {\n\n    }',
      '    plugin_data_file = "msi.hcl"',
    )
    writeFileSync(join(sub, 'server.conf'), conf)
    const run = await validate(['server.conf'], { cwd: sub })
    assert.deepEqual(run.json.problems.map(brief), [
      [
        'msi.hcl',
        3,
        `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".subscription_id`,
        `error: misconfigured tenant "${TENANT}": subscription_id must be a GUID`,
      ],
    ])
    assert.deepEqual(
      run.json.files[0]?.plugins.map((p) => [p.name, p.dataSource, p.pluginDataFile]),
      [['azure_msi', 'plugin_data_file', 'msi.hcl']],
    )
    // from another directory the relative path names nothing, as for SPIRE
    const elsewhere = await validate([join(sub, 'server.conf')], { cwd: dir })
    assert.equal(elsewhere.code, 1)
    assert.match(
      elsewhere.json.problems[0]?.message ?? '',
      /^cannot read plugin_data_file "msi.hcl" \(.*\): no such file$/,
    )
    assert.equal(elsewhere.json.problems[0]?.line, 7)
    assert.match(elsewhere.json.problems[0]?.hint ?? '', /relative to its working directory/)
  })

  test('--expand-env follows SPIRE: $$ is a dollar, unset variables are empty', async () => {
    write(
      'expand.conf',
      serverConf(
        `tenants = {\n  "\${TID}" = {\n    subscription_id = "\${SUB}"\n    app_id = "A"\n    app_secret = "pa$$word"\n  }\n}`,
      ),
    )
    const run = await validate(['--expand-env', 'expand.conf'], {
      cwd: dir,
      env: { TID: TENANT },
    })
    assert.deepEqual(run.json.problems.map(brief), [
      [
        'expand.conf',
        10,
        `plugins.NodeAttestor.azure_msi.plugin_data.tenants."${TENANT}".subscription_id`,
        `error: misconfigured tenant "${TENANT}": missing subscription id`,
      ],
    ])
  })

  test('a bare plugin_data text (HCL or JSON) with --plugin and --side', async () => {
    write('imds.hcl', 'tenants = {\n  "bad domain" = {}\n}\n')
    const hcl = await validate(['--plugin', 'azure_imds', '--side', 'server', 'imds.hcl'], {
      cwd: dir,
    })
    assert.deepEqual(hcl.json.problems.map(brief), [
      [
        'imds.hcl',
        2,
        'tenants."bad domain"',
        'error: misconfigured tenant "bad domain": the key must be a tenant domain or tenant ID',
      ],
    ])
    assert.deepEqual(hcl.json.files, [
      {
        file: 'imds.hcl',
        kind: 'plugin_data',
        side: 'server',
        plugins: [
          {
            type: 'NodeAttestor',
            name: 'azure_imds',
            status: 'checked',
            plugin: 'azure_imds',
            side: 'server',
          },
        ],
      },
    ])
    write(
      'agent.json',
      '{\n  "tenant_domain": "contoso.onmicrosoft.com",\n  "retry_timeout": "2m"\n}\n',
    )
    const json = await validate(['--plugin', 'azure_imds', '--side', 'agent', 'agent.json'], {
      cwd: dir,
    })
    assert.equal(json.code, 0)
    assert.deepEqual(json.json.problems.map(brief), [
      [
        'agent.json',
        3,
        'retry_timeout',
        `warning: retry_timeout "2m" is not below the server's 60s wait for the challenge response`,
      ],
    ])
    write('broken.hcl', 'tenant_domain = "x\n')
    const broken = await validate(['--plugin', 'azure_imds', '--side', 'agent', 'broken.hcl'], {
      cwd: dir,
    })
    assert.equal(broken.code, 1)
    assert.equal(broken.json.problems[0]?.line, 1)
    assert.match(broken.json.problems[0]?.message ?? '', /^unable to decode configuration: At 1:/)
    write('clean.hcl', `tenants = { "${TENANT}" = {} }\n`)
    const clean = await validate(['--plugin', 'azure_msi', '--side', 'server', 'clean.hcl'], {
      cwd: dir,
    })
    assert.equal(clean.code, 0)
    assert.equal(clean.out, 'clean.hcl: plugin_data for azure_msi (server)\n1 file checked: ok\n')
  })

  test('a config that enables neither plugin, a disabled one, a duplicate, a syntax error', async () => {
    write(
      'other.conf',
      'server { trust_domain = "example.org" }\nplugins {\n  NodeAttestor "join_token" {}\n}\n',
    )
    const other = await validate(['other.conf'], { cwd: dir })
    assert.equal(other.code, 1)
    assert.deepEqual(other.json.problems.map(brief), [
      ['other.conf', undefined, undefined, 'error: enables neither azure_msi nor azure_imds'],
    ])
    assert.deepEqual(other.json.files[0]?.plugins, [
      {
        type: 'NodeAttestor',
        name: 'join_token',
        status: 'skipped',
        reason: 'not a spire-azure plugin',
        line: 3,
      },
    ])
    write(
      'disabled.conf',
      'server { trust_domain = "example.org" }\nplugins {\n  NodeAttestor "azure_msi" {\n    enabled = false\n  }\n}\n',
    )
    const disabled = await validate(['disabled.conf'], { cwd: dir })
    assert.deepEqual(disabled.json.problems.map(brief), [
      [
        'disabled.conf',
        undefined,
        undefined,
        'error: enables neither azure_msi nor azure_imds (azure_msi: enabled = false)',
      ],
    ])
    write(
      'dup.conf',
      `server { trust_domain = "example.org" }\nplugins {\n  NodeAttestor "azure_msi" { plugin_data { tenants = { "${TENANT}" = {} } } }\n  NodeAttestor "azure_msi" {}\n}\n`,
    )
    const dup = await validate(['dup.conf'], { cwd: dir })
    assert.deepEqual(dup.json.problems.map(brief), [
      [
        'dup.conf',
        4,
        'plugins.NodeAttestor.azure_msi',
        'error: plugin "NodeAttestor"/"azure_msi" declared more than once',
      ],
    ])
    write('syntax.conf', 'server {\n  trust_domain = "example.org"\n\nplugins {\n')
    const syntax = await validate(['syntax.conf'], { cwd: dir })
    assert.equal(syntax.code, 1)
    assert.equal(syntax.json.problems[0]?.line, 5)
    assert.match(
      syntax.json.problems[0]?.message ?? '',
      /^unable to decode configuration at "syntax.conf": At 5:/,
    )
  })
})

describe('spire-azure validate: exit codes and usage', () => {
  test('usage errors exit 2 with a hint', async () => {
    for (const args of [
      [],
      ['--plugin', 'azure_msi', 'x.hcl'],
      ['--plugin', 'join_token', '--side', 'server', 'x.hcl'],
      ['--side', 'both', 'x.conf'],
      ['--trust-domain', '', 'x.conf'],
      ['--nope', 'x.conf'],
    ]) {
      const io = recordingIo({ cwd: dir })
      assert.equal(await runCli(['validate', ...args], io), 2, args.join(' '))
      assert.equal(io.out, '')
      assert.match(io.err, /^spire-azure: error: .*\nhint: /, args.join(' '))
    }
  })

  test('an unreadable file is a problem (exit 1), and the other files are still checked', async () => {
    write('ok.hcl', `tenants = { "${TENANT}" = {} }\n`)
    const run = await validate(
      ['--plugin', 'azure_msi', '--side', 'server', 'missing.hcl', 'ok.hcl'],
      { cwd: dir },
    )
    assert.equal(run.code, 1)
    assert.deepEqual(run.json.problems.map(brief), [
      ['missing.hcl', undefined, undefined, 'error: cannot read "missing.hcl": no such file'],
    ])
    assert.equal(run.json.files.length, 2)
  })

  test('the built dist/bin/spire-azure validates an example (exit 0) and a broken config (exit 1)', () => {
    const bin = join(REPO_ROOT, 'dist', 'bin', 'spire-azure')
    const ok = spawnSync(bin, ['validate', 'examples/azure-imds/server.conf'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    })
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(
      ok.stdout,
      /^examples\/azure-imds\/server\.conf: server config; checked NodeAttestor "azure_imds"/,
    )
    const broken = spawnSync(
      bin,
      [
        'validate',
        '--json',
        '--side',
        'server',
        join(HCL_FIXTURES_DIR, 'invalid_msi_server_type_tenants_as_list', 'server.conf'),
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    )
    assert.equal(broken.status, 1, broken.stderr)
    const doc = JSON.parse(broken.stdout) as ValidationResult & { ok: boolean }
    assert.equal(doc.ok, false)
    assert.deepEqual(
      doc.problems.map((p) => [p.line, p.keyPath]),
      [[5, 'plugins.NodeAttestor.azure_msi.plugin_data.tenants']],
    )
  })
})
