// The typed schema layer. Where a test says "as Go", the outcome was checked against Go's
// hcl.Decode (v1.0.1-vault-7) into an equivalent struct.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeConfig, h, parseAndDecode, parseHcl } from '../../../../shared/go/hcl/index.js'
import type {
  Fields,
  HclObject,
  InferFields,
  ObjectSchema,
  Problems,
} from '../../../../shared/go/hcl/index.js'
import { IMDS_SERVER } from './spire-schemas.js'
import { Report } from '../../../../shared/plugin/report.js'

class Collect implements Problems {
  readonly errors: string[] = []
  readonly warnings: string[] = []
  error(message: string): void {
    this.errors.push(message)
  }
  warn(message: string): void {
    this.warnings.push(message)
  }
}

function decode<F extends Fields>(text: string, schema: ObjectSchema<F>) {
  const problems = new Collect()
  const value = decodeConfig<F>(parseHcl(text), schema, problems)
  return { value, errors: problems.errors, warnings: problems.warnings }
}

const PREFIX = 'unable to decode configuration: '
const SCALARS = h.object({
  name: h.string(),
  port: h.int(),
  ratio: h.number(),
  flag: h.bool(),
})

describe('scalars', () => {
  const ok: readonly { name: string; text: string; want: unknown }[] = [
    {
      name: 'each type',
      text: 'name = "x"\nport = 8\nratio = 0.5\nflag = true',
      want: { name: 'x', port: 8, ratio: 0.5, flag: true },
    },
    {
      name: 'an integer for a string reads as its text, as Go',
      text: 'name = 0x1F',
      want: { name: '0x1F' },
    },
    { name: 'octal text too', text: 'name = 017', want: { name: '017' } },
    { name: 'a heredoc is a string', text: 'name = <<EOT\nx\nEOT\n', want: { name: 'x\n' } },
    { name: 'int from a string, as Go', text: 'port = "0x10"', want: { port: 16 } },
    {
      name: 'int from a string with underscores, as Go',
      text: 'port = "1_000"',
      want: { port: 1000 },
    },
    { name: 'int keeps ParseInt rules', text: 'port = 017', want: { port: 15 } },
    { name: 'number reads 017 as decimal 17, as Go', text: 'ratio = 017', want: { ratio: 17 } },
    { name: 'number from an integer', text: 'ratio = 3', want: { ratio: 3 } },
    { name: 'the last value wins', text: 'name = "a"\nname = "b"', want: { name: 'b' } },
    { name: 'missing fields are absent', text: '', want: {} },
  ]
  for (const c of ok) {
    test(c.name, () => {
      const { value, errors } = decode(c.text, SCALARS)
      assert.deepEqual(errors, [])
      assert.deepEqual(value, c.want)
    })
  }

  const bad: readonly { name: string; text: string; error: string }[] = [
    { name: 'bool for a string', text: 'name = true', error: 'name: expected string, got bool' },
    {
      name: 'float for a string (Go rejects FLOAT)',
      text: 'name = 1e3',
      error: 'name: expected string, got float',
    },
    { name: 'list for a string', text: 'name = ["x"]', error: 'name: expected string, got list' },
    { name: 'block for a string', text: 'name { }', error: 'name: expected string, got object' },
    {
      name: 'labelled block for a string',
      text: 'name "x" { }',
      error: 'name: expected string, got object',
    },
    { name: 'float for an int', text: 'port = 1.5', error: 'port: expected int, got float' },
    {
      name: 'heredoc for an int',
      text: 'port = <<EOT\n1\nEOT\n',
      error: 'port: expected int, got string',
    },
    {
      name: 'non-numeric string for an int',
      text: 'port = "abc"',
      error: 'port: int "abc" is invalid',
    },
    {
      name: 'int outside int64',
      text: 'port = 9223372036854775808',
      error: 'port: int "9223372036854775808" is out of range',
    },
    {
      name: 'int outside the JS safe range',
      text: 'port = 9007199254740993',
      error: 'port: int "9007199254740993" is out of range',
    },
    {
      name: 'hex for a number (Go ParseFloat)',
      text: 'ratio = 0x1F',
      error: 'ratio: number "0x1F" is invalid',
    },
    {
      name: 'string for a number',
      text: 'ratio = "1"',
      error: 'ratio: expected number, got string',
    },
    { name: 'int for a bool', text: 'flag = 1', error: 'flag: expected bool, got int' },
    {
      name: 'an earlier value of the wrong type fails even when a later one is fine, as Go',
      text: 'name = true\nname = "x"',
      error: 'name: expected string, got bool',
    },
  ]
  for (const c of bad) {
    test(c.name, () => {
      const { value, errors } = decode(c.text, SCALARS)
      assert.equal(value, undefined)
      assert.deepEqual(errors, [PREFIX + c.error])
    })
  }
})

describe('lists', () => {
  const LISTS = h.object({
    tags: h.list(h.string()),
    nums: h.list(h.int()),
    items: h.list(h.object({ a: h.string() })),
    maps: h.list(h.map(h.string())),
  })
  const ok: readonly { name: string; text: string; want: unknown }[] = [
    {
      name: 'repeated lists concatenate',
      text: 'tags = ["a"]\ntags = ["b"]',
      want: { tags: ['a', 'b'] },
    },
    {
      name: 'numbers in a string list read as text',
      text: 'tags = [1, 0x10, "x"]',
      want: { tags: ['1', '0x10', 'x'] },
    },
    {
      name: 'strings in an int list are parsed, as Go',
      text: 'nums = [1, "0x10"]',
      want: { nums: [1, 16] },
    },
    { name: 'an empty list', text: 'tags = []', want: { tags: [] } },
    {
      name: 'objects in a list',
      text: 'items = [{ a = "x" }, { a = "y" }]',
      want: { items: [{ a: 'x' }, { a: 'y' }] },
    },
    {
      name: 'a block for a list of objects: one element per entry, as Go',
      text: 'items "l1" { a = "x" }\nitems "l2" { a = "y" }',
      want: { items: [{ a: 'x' }, { a: 'y' }] },
    },
    {
      name: 'a block whose entries are attributes: one-field elements, as Go',
      text: 'items { a = "x" }',
      want: { items: [{ a: 'x' }] },
    },
    {
      name: 'an empty block is an empty list, as Go',
      text: 'items {}\ntags {}',
      want: { items: [], tags: [] },
    },
    {
      name: 'a list, then an empty block: the list is kept, as Go',
      text: 'tags = ["a"]\ntags {}\ntags = ["b"]',
      want: { tags: ['a', 'b'] },
    },
    {
      name: 'a block for a list of maps: one-key maps',
      text: 'maps { k = "v" }',
      want: { maps: [{ k: 'v' }] },
    },
  ]
  for (const c of ok) {
    test(c.name, () => {
      const { value, errors } = decode(c.text, LISTS)
      assert.deepEqual(errors, [])
      assert.deepEqual(value, c.want)
    })
  }

  const bad: readonly { name: string; text: string; error: string }[] = [
    { name: 'a string for a list', text: 'tags = "a"', error: 'tags: expected list, got string' },
    {
      name: 'a wrong element names its index',
      text: 'tags = ["a", true]',
      error: 'tags[1]: expected string, got bool',
    },
    {
      name: 'the index counts across concatenated lists',
      text: 'tags = ["a"]\ntags = [["b"]]',
      error: 'tags[1]: expected string, got list',
    },
    {
      name: 'a list replaced by a block is still checked, as Go',
      text: 'nums = ["x"]\nnums {}\nnums = []',
      error: 'nums[0]: int "x" is invalid',
    },
    {
      name: 'a block entry for a string list',
      text: 'tags { a = "x" }',
      error: 'tags[0]: expected string, got object',
    },
  ]
  for (const c of bad) {
    test(c.name, () => {
      const { value, errors } = decode(c.text, LISTS)
      assert.equal(value, undefined)
      assert.deepEqual(errors, [PREFIX + c.error])
    })
  }
})

describe('maps and objects', () => {
  test('map keys are kept exactly; block and attribute forms merge', () => {
    const { value, errors } = decode(
      'tenants "Contoso" { auth_type = "a" }\ntenants = { "contoso" = { auth_type = "b" } }\n' +
        'tenants { "Contoso" { allowed_vm_tags = ["t"] } }',
      IMDS_SERVER,
    )
    assert.deepEqual(errors, [])
    assert.deepEqual(value, {
      tenants: {
        Contoso: { auth_type: 'a', allowed_vm_tags: ['t'] },
        contoso: { auth_type: 'b' },
      },
    })
  })

  test('field names match case-insensitively, as HCL v1 (including Go folds such as K)', () => {
    const { value, errors, warnings } = decode(
      'Tenants "T" { SECRET_AUTH { App_Id = "x" } }\nAGENT_PATH_TEMPLATE = "/p"\n\u212aEY = 1',
      h.object({ ...IMDS_SERVER.fields, key: h.int() }),
    )
    assert.deepEqual(errors, [])
    assert.deepEqual(warnings, [])
    assert.deepEqual(value, {
      tenants: { T: { secret_auth: { app_id: 'x' } } },
      agent_path_template: '/p',
      key: 1,
    })
  })

  test('case variants of one field combine in source order, as Go', () => {
    const { value } = decode(
      'app_id = "a"\nAPP_ID = "b"\napp_id = "c"\ntags = ["1"]\nTAGS = ["2"]\ntags = ["3"]',
      h.object({ app_id: h.string(), tags: h.list(h.string()) }),
    )
    assert.deepEqual(value, { app_id: 'c', tags: ['1', '2', '3'] })
  })

  const bad: readonly { name: string; text: string; error: string }[] = [
    { name: 'a list for a map', text: 'tenants = ["x"]', error: 'tenants: expected map, got list' },
    {
      name: 'a string for a map entry',
      text: 'tenants = { "T" = "x" }',
      error: 'tenants["T"]: expected object, got string',
    },
    {
      name: 'a string for a nested object',
      text: 'tenants "T" { secret_auth = "x" }',
      error: 'tenants["T"].secret_auth: expected object, got string',
    },
    {
      name: 'a list for a nested object',
      text: 'tenants "T" { token_auth = [{ app_id = "x" }] }',
      error: 'tenants["T"].token_auth: expected object, got list',
    },
    {
      name: 'a wrong type deep inside',
      text: 'tenants "T" { token_auth { token_path = false } }',
      error: 'tenants["T"].token_auth.token_path: expected string, got bool',
    },
  ]
  for (const c of bad) {
    test(c.name, () => {
      const { value, errors } = decode(c.text, IMDS_SERVER)
      assert.equal(value, undefined)
      assert.deepEqual(errors, [PREFIX + c.error])
    })
  }

  test('every type error is reported, in schema order', () => {
    const { errors } = decode(
      'trust_bundle_path = []\ntenants = 1\nagent_path_template = true',
      IMDS_SERVER,
    )
    assert.deepEqual(errors, [
      `${PREFIX}tenants: expected map, got int`,
      `${PREFIX}agent_path_template: expected string, got bool`,
      `${PREFIX}trust_bundle_path: expected string, got list`,
    ])
  })
})

describe('unknown and required keys', () => {
  test('unknown keys: one sorted warning with key paths; decoding still succeeds', () => {
    const { value, errors, warnings } = decode(
      'zeta = 1\ntenants "A" { use_msi = true\n secret_auth { client_secret = "s" } }\ncloud { name = "x" }',
      IMDS_SERVER,
    )
    assert.deepEqual(errors, [])
    assert.deepEqual(value, { tenants: { A: { secret_auth: {} } } })
    assert.deepEqual(warnings, [
      'unknown configurations detected: cloud,tenants["A"].secret_auth.client_secret,tenants["A"].use_msi,zeta',
    ])
  })

  test('unknown keys inside list elements carry the index', () => {
    const { warnings } = decode(
      'items = [{ a = "x", b = 1 }]',
      h.object({ items: h.list(h.object({ a: h.string() })) }),
    )
    assert.deepEqual(warnings, ['unknown configurations detected: items[0].b'])
  })

  test('a missing required key is an error naming its path', () => {
    const schema = h.object({
      tenant_domain: h.required(h.string()),
      tenants: h.map(h.object({ app_id: h.required(h.string()) })),
    })
    const { value, errors } = decode('tenants "T" {}', schema)
    assert.equal(value, undefined)
    assert.deepEqual(errors, [
      `${PREFIX}tenant_domain: missing required key`,
      `${PREFIX}tenants["T"].app_id: missing required key`,
    ])
  })
})

describe('inputs and outputs', () => {
  test('a tree built by hand decodes too (numbers read as their decimal text)', () => {
    const tree: HclObject = { name: 12, tags: ['a', 3] }
    const problems = new Collect()
    const value = decodeConfig(
      tree,
      h.object({ name: h.string(), tags: h.list(h.string()) }),
      problems,
    )
    assert.deepEqual(value, { name: '12', tags: ['a', '3'] })
  })

  test('map keys such as __proto__ stay data', () => {
    const { value } = decode('tenants "__proto__" { auth_type = "x" }', IMDS_SERVER)
    assert.ok(value?.tenants !== undefined)
    assert.deepEqual(Object.keys(value.tenants), ['__proto__'])
    assert.equal(Object.getPrototypeOf(value.tenants), Object.prototype)
  })

  test('parseAndDecode: a syntax error becomes an upstream-style problem', () => {
    const problems = new Collect()
    assert.equal(parseAndDecode('a = "x', SCALARS, problems), undefined)
    assert.deepEqual(problems.errors, [`${PREFIX}At 1:7: literal not terminated`])
  })

  test('parseAndDecode: a valid text decodes', () => {
    const problems = new Collect()
    assert.deepEqual(parseAndDecode('name = "n"', SCALARS, problems), { name: 'n' })
    assert.deepEqual(problems.errors, [])
  })

  test('result types follow the schema', () => {
    const schema = h.object({
      tenant_domain: h.required(h.string()),
      tenants: h.map(h.object({ tags: h.list(h.string()), port: h.int() })),
    })
    const value = decodeConfig(parseHcl('tenant_domain = "d"'), schema, new Collect())
    type Value = InferFields<typeof schema.fields>
    const typed: Value | undefined = value
    // compile-time checks: a required field is a plain string, others are optional
    const domain: string | undefined = typed?.tenant_domain
    const tags: string[] | undefined = typed?.tenants?.['x']?.tags
    const port: number | undefined = typed?.tenants?.['x']?.port
    assert.deepEqual([domain, tags, port], ['d', undefined, undefined])
  })
})

describe('key paths of problems (for spire-azure validate; messages unchanged)', () => {
  test('type errors, missing keys, map keys and list indices; every unknown key', () => {
    const report = new Report()
    const schema = h.object({
      tenants: h.map(h.object({ tags: h.list(h.int()), id: h.required(h.string()) })),
      flag: h.bool(),
    })
    decodeConfig(
      parseHcl(
        'tenants = { "a.b" = { tags = [1, "x"] id = "i" } "c" = {} }\nflag = "no"\nzz = 1\ntenants "c" { extra = 2 }',
      ),
      schema,
      report,
    )
    assert.deepEqual(
      report.problems.map((p) => [p.severity, p.message, p.keyPaths]),
      [
        [
          'error',
          `${PREFIX}tenants["a.b"].tags[1]: int "x" is invalid`,
          [['tenants', 'a.b', 'tags', 1]],
        ],
        ['error', `${PREFIX}tenants["c"].id: missing required key`, [['tenants', 'c', 'id']]],
        ['error', `${PREFIX}flag: expected bool, got string`, [['flag']]],
        [
          'warning',
          'unknown configurations detected: tenants["c"].extra,zz',
          [['tenants', 'c', 'extra'], ['zz']],
        ],
      ],
    )
    // the plain lists, which Configure returns, are what they were
    assert.deepEqual(
      report.errors,
      report.problems.filter((p) => p.severity === 'error').map((p) => p.message),
    )
  })

  test('a syntax error is about the whole text: no key path', () => {
    const report = new Report()
    parseAndDecode('a = [', h.object({ a: h.list(h.string()) }), report)
    assert.equal(report.problems.length, 1)
    assert.deepEqual(report.problems[0]?.keyPaths, [])
  })
})
