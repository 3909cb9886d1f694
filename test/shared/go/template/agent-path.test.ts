// agent_path_template as upstream SPIRE's azure_msi and azure_imds use it: parsing, rendering with
// upstream's template data, SPIFFE path validation and agent ID construction.

import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import {
  AGENT_PATH_FUNCS,
  MAX_AGENT_PATH_BYTES,
  OMITTED_SPRIG_FUNCS,
  SpiffeIdError,
  TemplateError,
  UPSTREAM_SPRIG_FUNC_NAMES,
  buildAgentId,
  buildAgentPath,
  parseAgentPathTemplate,
  validateSpiffePath,
} from '../../../../shared/go/template/index.js'
import { HCL_FIXTURES_DIR } from '../../../support/paths.js'
import { imdsTemplateData, msiTemplateData } from './helpers.js'

const MSI_DEFAULT = '/{{ .PluginName }}/{{ .TenantID }}/{{ .PrincipalID }}'
const IMDS_DEFAULT = '/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .VMID }}'
const TID = '00000000-1111-2222-3333-444444444444'
const SUB = '9f1c3a2b-0d4e-4f5a-8b6c-7d8e9f0a1b2c'
const SUBSCRIPTION = 'd5b40d61-272e-48da-beb9-05f295c42bd6'
const VM = 'a2b3c4d5-e6f7-4890-abcd-ef0123456789'

describe('default templates', () => {
  const cases = [
    {
      name: 'azure_msi default with upstream struct data',
      text: MSI_DEFAULT,
      data: msiTemplateData(TID, SUB),
      path: `/azure_msi/${TID}/${SUB}`,
    },
    {
      name: 'azure_msi default with a plain object',
      text: MSI_DEFAULT,
      data: { PluginName: 'azure_msi', TenantID: TID, PrincipalID: SUB },
      path: `/azure_msi/${TID}/${SUB}`,
    },
    {
      name: 'azure_imds default with upstream struct data',
      text: IMDS_DEFAULT,
      data: imdsTemplateData('TENANTID', SUBSCRIPTION, VM, 'nonce'),
      path: `/azure_imds/TENANTID/${SUBSCRIPTION}/${VM}`,
    },
    {
      name: 'azure_imds custom suffix (fixture imds_server_doc_custom_template)',
      text: `${IMDS_DEFAULT}/custom`,
      data: imdsTemplateData('TENANTID', SUBSCRIPTION, VM, 'nonce'),
      path: `/azure_imds/TENANTID/${SUBSCRIPTION}/${VM}/custom`,
    },
  ]
  for (const c of cases) {
    test(c.name, () => {
      const path = buildAgentPath(parseAgentPathTemplate(c.text), c.data)
      assert.equal(path, c.path)
      assert.equal(buildAgentId('example.org', path), `spiffe://example.org/spire/agent${c.path}`)
    })
  }
})

describe('templates operators write (HCL fixtures)', () => {
  const templates = new Set<string>()
  for (const dir of readdirSync(HCL_FIXTURES_DIR, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue
    let typed: unknown
    try {
      typed = JSON.parse(readFileSync(join(HCL_FIXTURES_DIR, dir.name, 'go_typed.json'), 'utf8'))
    } catch {
      continue
    }
    if (typeof typed === 'object' && typed !== null && 'agent_path_template' in typed) {
      const t = typed.agent_path_template
      if (typeof t === 'string' && t !== '') templates.add(t)
    }
  }

  test('the fixtures provide several templates', () => assert.ok(templates.size >= 5))

  const data = {
    PluginName: 'azure_imds',
    TenantID: 'tid',
    PrincipalID: 'sub',
    SubscriptionID: 'sub',
    VMID: 'vm',
  }
  for (const t of templates) {
    test(`parses and renders ${JSON.stringify(t)}`, () => {
      const parsed = parseAgentPathTemplate(t)
      const rendered = parsed.template.execute(data)
      // upstream parity: a heredoc keeps its trailing newline and HCL leaves ${...} alone; both end up
      // in the path, and ValidatePath rejects them.
      if (/[\n$]/.test(rendered)) {
        assert.throws(() => buildAgentPath(parsed, data), {
          name: 'SpiffeIdError',
          message: `invalid agent path suffix ${JSON.stringify(rendered)}: path segment characters are limited to letters, numbers, dots, dashes, and underscores`,
        })
      } else {
        assert.equal(buildAgentPath(parsed, data), rendered)
      }
    })
  }
})

describe('parse failures', () => {
  const cases = [
    { text: '{{ .TenantID', message: 'template: agent-path:1: unclosed action' },
    { text: '/{{ foo .TenantID }}', message: 'template: agent-path:1: function "foo" not defined' },
    { text: '/{{ uuidv4 }}', message: 'template: agent-path:1: function "uuidv4" not defined' },
    { text: '/{{ env "HOME" }}', message: 'template: agent-path:1: function "env" not defined' },
    { text: '/{{ now }}', message: 'template: agent-path:1: function "now" not defined' },
    {
      text: '/{{ if .A }}\n{{ end }}\n{{ end }}',
      message: 'template: agent-path:3: unexpected {{end}}',
    },
    { text: '/{{ $x }}', message: 'template: agent-path:1: undefined variable "$x"' },
  ]
  for (const c of cases) {
    test(c.message, () => {
      assert.throws(
        () => parseAgentPathTemplate(c.text),
        (err: unknown) => {
          assert.ok(err instanceof TemplateError)
          assert.equal(err.phase, 'parse')
          assert.equal(err.limit, false)
          assert.equal(err.message, c.message)
          return true
        },
      )
    })
  }
})

describe('execution failures', () => {
  const cases = [
    {
      name: 'missing map key (missingkey=error)',
      text: '/{{ .PluginName }}/{{ .Foo }}',
      data: { PluginName: 'azure_msi' },
      message:
        'template: agent-path:1:22: executing "agent-path" at <.Foo>: map has no entry for key "Foo"',
    },
    {
      name: 'unknown field of upstream msi data',
      text: '/{{ .Foo }}',
      data: msiTemplateData(TID, SUB),
      message: `template: agent-path:1:4: executing "agent-path" at <.Foo>: can't evaluate field Foo in type azure.agentPathTemplateData`,
    },
    {
      name: 'unknown field of upstream imds data',
      text: '/{{ .Subscription }}',
      data: imdsTemplateData('t', 's', 'v', 'n'),
      message: `template: agent-path:1:4: executing "agent-path" at <.Subscription>: can't evaluate field Subscription in type azure.imdsAgentPathTemplateData`,
    },
    {
      name: 'fail',
      text: '/{{ fail "no" }}',
      data: {},
      message:
        'template: agent-path:1:4: executing "agent-path" at <fail "no">: error calling fail: no',
    },
    {
      name: 'builtin slice is replaced by Sprig slice',
      text: '/{{ slice .TenantID 1 }}',
      data: { TenantID: 'abc' },
      message:
        'template: agent-path:1:4: executing "agent-path" at <slice .TenantID 1>: error calling slice: list should be type of slice or array but string',
    },
  ]
  for (const c of cases) {
    test(c.name, () => {
      assert.throws(
        () => buildAgentPath(parseAgentPathTemplate(c.text), c.data),
        (err: unknown) => {
          assert.ok(err instanceof TemplateError)
          assert.equal(err.phase, 'execute')
          assert.equal(err.message, c.message)
          return true
        },
      )
    })
  }

  test('an empty struct field renders as "" and then fails path validation (upstream parity)', () => {
    const t = parseAgentPathTemplate('/{{ .PluginName }}/{{ .Subject }}/{{ .PrincipalID }}')
    assert.throws(() => buildAgentPath(t, msiTemplateData(TID, SUB)), {
      name: 'SpiffeIdError',
      message: `invalid agent path suffix "/azure_msi//${SUB}": path cannot contain empty segments`,
    })
  })

  test(`output is capped at ${MAX_AGENT_PATH_BYTES} bytes`, () => {
    const t = parseAgentPathTemplate('/{{ repeat 3000 "a" }}')
    assert.throws(
      () => buildAgentPath(t, {}),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError)
        assert.equal(err.limit, true)
        assert.match(err.message, /output exceeds 2048 bytes$/)
        return true
      },
    )
    const ok = parseAgentPathTemplate(`/{{ repeat ${MAX_AGENT_PATH_BYTES - 1} "a" }}`)
    assert.equal(buildAgentPath(ok, {}).length, MAX_AGENT_PATH_BYTES)
  })
})

describe('validateSpiffePath (go-spiffe spiffeid.ValidatePath)', () => {
  const valid = ['', '/a', '/a/b', '/azure_msi/t/p', '/A-Z_0-9', '/a/.b', '/a/..b', '/a/b.', '/...']
  for (const p of valid) test(`accepts ${JSON.stringify(p)}`, () => validateSpiffePath(p))
  const invalid = [
    ['a', 'path must have a leading slash'],
    ['/', 'path cannot have a trailing slash'],
    ['/a/', 'path cannot have a trailing slash'],
    ['//a', 'path cannot contain empty segments'],
    ['/a//b', 'path cannot contain empty segments'],
    ['/.', 'path cannot contain dot segments'],
    ['/..', 'path cannot contain dot segments'],
    ['/a/./b', 'path cannot contain dot segments'],
    ['/a/../b', 'path cannot contain dot segments'],
    [
      '/a b',
      'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
    ],
    [
      '/ä',
      'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
    ],
    [
      '/a:b',
      'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
    ],
    [
      '/a%20b',
      'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
    ],
    [
      '/a\n',
      'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
    ],
  ] as const
  for (const [p, message] of invalid) {
    test(`rejects ${JSON.stringify(p)}: ${message}`, () => {
      assert.throws(() => validateSpiffePath(p), { name: 'SpiffeIdError', message })
    })
  }
})

describe('buildAgentId (idutil.AgentID)', () => {
  test('joins the rendered path under /spire/agent exactly as rendered', () => {
    assert.equal(
      buildAgentId('example.org', '/azure_msi/t/p'),
      'spiffe://example.org/spire/agent/azure_msi/t/p',
    )
  })
  test('the plugin name plays no part (three-argument form)', () => {
    assert.equal(
      buildAgentId('example.org', 'my_azure_msi', '/azure_msi/t/p'),
      'spiffe://example.org/spire/agent/azure_msi/t/p',
    )
  })
  test('upstream parity: an empty path gives the bare agent namespace', () => {
    assert.equal(buildAgentId('example.org', ''), 'spiffe://example.org/spire/agent')
  })
  test('an invalid path is reported as an invalid agent path suffix', () => {
    assert.throws(() => buildAgentId('example.org', 'azure_msi/t'), {
      message: 'invalid agent path suffix "azure_msi/t": path must have a leading slash',
    })
  })
  test('an empty trust domain', () => {
    assert.throws(() => buildAgentId('', '/a'), {
      message: 'cannot create agent ID with suffix "/a" for empty trust domain',
    })
  })
  test('a malformed trust domain', () => {
    assert.throws(
      () => buildAgentId('Example.org', '/a'),
      (err: unknown) => {
        assert.ok(err instanceof SpiffeIdError)
        assert.equal(
          err.message,
          'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
        )
        return true
      },
    )
  })
})

describe('function set', () => {
  test('upstream v1.15.3 lists 118 Sprig functions', () => {
    assert.equal(UPSTREAM_SPRIG_FUNC_NAMES.length, 118)
    assert.equal(new Set(UPSTREAM_SPRIG_FUNC_NAMES).size, 118)
  })
  test("we offer exactly upstream's list minus uuidv4", () => {
    assert.deepEqual(OMITTED_SPRIG_FUNCS, ['uuidv4'])
    assert.deepEqual(
      Object.keys(AGENT_PATH_FUNCS).sort(),
      UPSTREAM_SPRIG_FUNC_NAMES.filter((n) => n !== 'uuidv4').sort(),
    )
  })
  test('nothing that reads the environment, files, time or randomness', () => {
    for (const name of [
      'env',
      'expandenv',
      'now',
      'date',
      'randAlpha',
      'randInt',
      'uuidv4',
      'getHostByName',
      'genPrivateKey',
    ]) {
      assert.equal(Object.hasOwn(AGENT_PATH_FUNCS, name), false, name)
    }
  })
})
