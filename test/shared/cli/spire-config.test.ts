// shared/cli/spire-config.ts: SPIRE's reading of server.conf / agent.conf, checked against the HCL
// fixture corpus, whose plugin_data.txt files are the exact bytes real SPIRE (HCL v1.0.1-vault-7's
// decode and printer) hands each plugin.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import {
  SpireConfigError,
  expandEnv,
  formatKeyPath,
  loadSpireConfig,
  parseSpireConfig,
} from '../../../shared/cli/spire-config.js'
import { HCL_FIXTURES_DIR } from '../../support/paths.js'

interface FixtureCase {
  case: string
  attestor: string
  side: 'server' | 'agent'
  config_file: string
  plugin_name: string
  data_source: 'plugin_data' | 'plugin_data_file' | 'none'
  plugin_data_file?: string
  plugin_data_file_path_in_config?: string
  expect: string
}

const CASES = (
  JSON.parse(readFileSync(join(HCL_FIXTURES_DIR, 'cases.json'), 'utf8')) as { cases: FixtureCase[] }
).cases

describe('plugin_data as SPIRE hands it to the plugin (every fixture case)', () => {
  for (const c of CASES) {
    test(c.case, () => {
      const dir = join(HCL_FIXTURES_DIR, c.case)
      const text = readFileSync(join(dir, c.config_file), 'utf8')
      const reads: string[] = []
      const config = parseSpireConfig(text, c.config_file, {
        cwd: '/opt/spire',
        readFile: (p) => {
          reads.push(p)
          assert.equal(p, c.plugin_data_file_path_in_config)
          return readFileSync(join(dir, c.plugin_data_file ?? 'missing'), 'utf8')
        },
      })
      assert.deepEqual(config.problems, [])
      const plugin = config.plugins.find((p) => p.type === 'NodeAttestor')
      assert.ok(plugin)
      assert.equal(plugin.name, c.plugin_name)
      assert.equal(plugin.dataSource, c.data_source)
      const expected = readFileSync(join(dir, 'plugin_data.txt'), 'utf8')
      assert.equal(plugin.pluginData, expected)
      assert.equal(reads.length, c.data_source === 'plugin_data_file' ? 1 : 0)
    })
  }
})

describe('parseSpireConfig', () => {
  const SERVER = [
    'server {', // 1
    '  trust_domain = "example.org"', // 2
    '}', // 3
    'plugins {', // 4
    '  DataStore "sql" {', // 5
    '    plugin_data {', // 6
    '      database_type = "sqlite3"', // 7
    '    }', // 8
    '  }', // 9
    '  NodeAttestor "azure_msi" {', // 10
    '    plugin_cmd = "/opt/spire/plugins/msi"', // 11
    '    plugin_checksum = "abc"', // 12
    '    plugin_data {', // 13
    '      tenants = {', // 14
    '        "t1" = {', // 15
    '          subscription_id = "nope"', // 16
    '          allowed_vm_tags = ["a",', // 17
    '            "b"]', // 18
    '        }', // 19
    '      }', // 20
    '    }', // 21
    '  }', // 22
    '  KeyManager "memory" {', // 23
    '    enabled = false', // 24
    '  }', // 25
    '}', // 26
  ].join('\n')

  test('side, trust domain and plugins in declaration order', () => {
    const config = parseSpireConfig(SERVER, 'server.conf')
    assert.equal(config.file, 'server.conf')
    assert.equal(config.side, 'server')
    assert.equal(config.trustDomain, 'example.org')
    assert.deepEqual(
      config.plugins.map((p) => [p.type, p.name, p.line, p.disabled ?? false]),
      [
        ['DataStore', 'sql', 5, false],
        ['NodeAttestor', 'azure_msi', 10, false],
        ['KeyManager', 'memory', 23, true],
      ],
    )
    const msi = config.plugins[1]
    assert.ok(msi)
    assert.equal(msi.pluginCmd, '/opt/spire/plugins/msi')
    assert.equal(msi.pluginChecksum, 'abc')
    assert.equal(msi.dataSource, 'plugin_data')
    assert.equal(
      msi.pluginData,
      'tenants = {\n  "t1" = {\n    subscription_id = "nope"\n\n    allowed_vm_tags = [\n      "a",\n      "b",\n    ]\n  }\n}',
    )
    assert.equal(config.plugins[2]?.pluginData, '')
    assert.equal(config.plugins[2]?.dataSource, 'none')
  })

  test('key paths map to lines, case-insensitively for field names', () => {
    const config = parseSpireConfig(SERVER, 'server.conf')
    const msi = config.plugins[1]
    assert.ok(msi)
    assert.deepEqual(msi.locateData(['tenants', 't1', 'subscription_id']), {
      file: 'server.conf',
      line: 16,
    })
    assert.deepEqual(msi.locateData(['Tenants', 't1', 'allowed_vm_tags', 1]), {
      file: 'server.conf',
      line: 18,
    })
    // a key that is not there: the deepest part that is
    assert.deepEqual(msi.locateData(['tenants', 't1', 'app_id']), { file: 'server.conf', line: 15 })
    assert.deepEqual(msi.locateData(['nothing']), { file: 'server.conf', line: 13 })
    assert.deepEqual(msi.locateData([]), { file: 'server.conf', line: 13 })
    assert.equal(config.locate(['plugins', 'NodeAttestor', 'azure_msi', 'plugin_checksum']), 12)
    assert.equal(config.locate(['server', 'trust_domain']), 2)
  })

  test('the agent side, and a config with neither section', () => {
    const agent = parseSpireConfig('agent { trust_domain = "td" }\nplugins {}', 'agent.conf')
    assert.equal(agent.side, 'agent')
    assert.equal(agent.trustDomain, 'td')
    assert.deepEqual(agent.plugins, [])
    const neither = parseSpireConfig('plugins { NodeAttestor "x" {} }', 'x.conf')
    assert.equal(neither.side, undefined)
    assert.equal(neither.trustDomain, undefined)
    assert.equal(neither.plugins.length, 1)
  })

  test('every shape upstream accepts for a plugin declaration', () => {
    const shapes = [
      'plugins { NodeAttestor "azure_msi" { plugin_data { a = "1" } } }',
      'plugins { NodeAttestor { azure_msi { plugin_data { a = "1" } } } }',
      'plugins { "NodeAttestor" "azure_msi" plugin_data { a = "1" } }',
      'plugins NodeAttestor "azure_msi" { plugin_data = { a = "1" } }',
      '{"plugins": {"NodeAttestor": {"azure_msi": {"plugin_data": {"a": "1"}}}}}',
      '{"plugins": {"NodeAttestor": [{"azure_msi": {"plugin_cmd": "x", "plugin_data": {"a": "1"}}}]}}',
    ]
    for (const shape of shapes) {
      const config = parseSpireConfig(shape, 'c')
      assert.deepEqual(config.problems, [], shape)
      assert.deepEqual(
        config.plugins.map((p) => [p.type, p.name, p.dataSource]),
        [['NodeAttestor', 'azure_msi', 'plugin_data']],
        shape,
      )
      const data = config.plugins[0]?.pluginData ?? ''
      assert.match(data, /^"?a"? = "1"$/, shape)
    }
  })

  test('problems SPIRE refuses to start with, with their lines', () => {
    const config = parseSpireConfig(
      [
        'plugins {',
        '  NodeAttestor "azure_msi" {',
        '    plugin_data_file = "x.hcl"',
        '    plugin_data { a = 1 }',
        '  }',
        '  NodeAttestor "azure_msi" {}',
        '  NodeAttestor "azure_imds" {',
        '    plugin_cmd = ["a"]',
        '    enabled = "yes"',
        '  }',
        '}',
      ].join('\n'),
      'server.conf',
    )
    assert.deepEqual(
      config.problems.map((p) => [p.message, formatKeyPath(p.keyPath), p.line]),
      [
        [
          'plugins.NodeAttestor.azure_msi: only one of [plugin_data, plugin_data_file] can be used',
          'plugins.NodeAttestor.azure_msi',
          2,
        ],
        [
          'plugin "NodeAttestor"/"azure_msi" declared more than once',
          'plugins.NodeAttestor.azure_msi',
          6,
        ],
        [
          'plugins.NodeAttestor.azure_imds.plugin_cmd: expected string, got list',
          'plugins.NodeAttestor.azure_imds.plugin_cmd',
          8,
        ],
        [
          'plugins.NodeAttestor.azure_imds.enabled: expected bool, got string',
          'plugins.NodeAttestor.azure_imds.enabled',
          9,
        ],
      ],
    )
  })

  test('a syntax error is a SpireConfigError with its line', () => {
    assert.throws(
      () => parseSpireConfig('plugins {\n  NodeAttestor "x" {\n', 'server.conf'),
      (err: unknown) => {
        assert.ok(err instanceof SpireConfigError)
        assert.equal(err.file, 'server.conf')
        assert.equal(err.line, 3)
        assert.match(err.message, /^unable to decode configuration at "server.conf": At 3:/)
        return true
      },
    )
  })

  test('plugin_data_file: read as given, relative to the working directory', () => {
    const config = parseSpireConfig(
      'plugins {\n  NodeAttestor "azure_msi" {\n    plugin_data_file = "conf/msi.hcl"\n  }\n}',
      'server.conf',
      { cwd: '/work', readFile: () => 'tenants = {\n  "t" = {\n    app_id = 3\n  }\n}\n' },
    )
    const msi = config.plugins[0]
    assert.ok(msi)
    assert.equal(msi.pluginDataFile, 'conf/msi.hcl')
    assert.equal(msi.dataSource, 'plugin_data_file')
    assert.equal(msi.pluginData, 'tenants = {\n  "t" = {\n    app_id = 3\n  }\n}\n')
    assert.deepEqual(msi.locateData(['tenants', 't', 'app_id']), { file: 'conf/msi.hcl', line: 3 })
    assert.deepEqual(msi.locateData([]), { file: 'server.conf', line: 3 })

    const unread = parseSpireConfig(
      'plugins { NodeAttestor "azure_msi" { plugin_data_file = "gone.hcl" } }',
      'server.conf',
      {
        cwd: '/work',
        readFile: () => {
          throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
        },
      },
    )
    assert.equal(
      unread.plugins[0]?.pluginDataError,
      'cannot read plugin_data_file "gone.hcl" (/work/gone.hcl): no such file',
    )
  })

  test('loadSpireConfig reads the file and the data file from the working directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spire-config-'))
    try {
      writeFileSync(join(dir, 'msi.json'), '{"tenants": {}}')
      writeFileSync(
        join(dir, 'server.conf'),
        'server { trust_domain = "${TD}" }\nplugins { NodeAttestor "azure_msi" { plugin_data_file = "msi.json" } }\n',
      )
      const config = loadSpireConfig(join(dir, 'server.conf'), {
        cwd: dir,
        expandEnv: true,
        env: { TD: 'td.example' },
      })
      assert.equal(config.trustDomain, 'td.example')
      assert.equal(config.plugins[0]?.pluginData, '{"tenants": {}}')
      assert.throws(
        () => loadSpireConfig(join(dir, 'nope.conf')),
        /unable to read configuration at ".*nope.conf": no such file/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('expandEnv (SPIRE -expandEnv: os.Expand, $$ is $)', () => {
  const env = { A: 'x', AB: 'y', '1': 'one' }
  const cases: [string, string][] = [
    ['$A', 'x'],
    ['${A}B', 'xB'],
    ['$AB', 'y'],
    ['$A-b', 'x-b'],
    ['$$A', '$A'],
    ['$$', '$'],
    ['cost: $', 'cost: $'],
    ['$1', 'one'],
    ['${}', ''],
    ['${A', 'A'],
    ['$UNSET.', '.'],
    ['a $ b', 'a $ b'],
    ['{{ .PluginName }}', '{{ .PluginName }}'],
  ]
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => assert.equal(expandEnv(input, env), want))
  }
})
