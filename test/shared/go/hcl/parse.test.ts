// Grammar features of HCL v1's native syntax. Every expected value and message here was checked
// against Go's hashicorp/hcl v1.0.1-vault-7 (hcl.Decode's parser plus Token.Value).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { HclSyntaxError, literalText, parseHcl } from '../../../../shared/go/hcl/index.js'

interface OkCase {
  name: string
  text: string
  want: unknown
}

const check = (cases: readonly OkCase[]): void => {
  for (const c of cases) test(c.name, () => assert.deepEqual(parseHcl(c.text), c.want))
}

describe('keys, blocks and objects', () => {
  check([
    { name: 'quoted and unquoted keys', text: '"a" = 1\nb = 2', want: { a: 1, b: 2 } },
    { name: 'identifiers may hold - and .', text: 'a.b-c = 1', want: { 'a.b-c': 1 } },
    {
      name: 'multi-label block: labels are path segments',
      text: 'tenants "ID" token_auth { app_id = "x" }',
      want: { tenants: { ID: { token_auth: { app_id: 'x' } } } },
    },
    {
      name: 'SPIRE JSON-config form: quoted multi-label blocks and quoted keys',
      text: '"tenants" "ID" {\n  "app_id" = "A"\n}\n\n"agent_path_template" = "/x"',
      want: { tenants: { ID: { app_id: 'A' } }, agent_path_template: '/x' },
    },
    {
      name: 'k = { } and k { } are the same object',
      text: 'a = { b = { c = 1 } }\nx { y { z = 1 } }',
      want: { a: { b: { c: 1 } }, x: { y: { z: 1 } } },
    },
    {
      name: 'repeated objects deep-merge in source order',
      text: 't "A" { x = 1 }\nt "B" { y = 2 }\nt = { "A" = { z = 3 } }\nt { "A" { x = 4 } }',
      want: { t: { A: { x: 4, z: 3 }, B: { y: 2 } } },
    },
    { name: 'repeated scalars: the last one wins', text: 'a = 1\na = "two"', want: { a: 'two' } },
    {
      name: 'repeated lists concatenate',
      text: 'tags = ["a"]\ntags = ["b", "c"]',
      want: { tags: ['a', 'b', 'c'] },
    },
    { name: 'items may be separated by commas', text: 'k = 1, j = 2', want: { k: 1, j: 2 } },
    { name: 'empty block', text: 'tenants "ID" {}', want: { tenants: { ID: {} } } },
    {
      name: '__proto__ and constructor are ordinary keys',
      text: 'tenants "__proto__" { app_id = "x" }\nconstructor = 1',
      want: JSON.parse('{"tenants":{"__proto__":{"app_id":"x"}},"constructor":1}'),
    },
  ])
})

describe('lists', () => {
  check([
    { name: 'trailing comma', text: 'a = [1,]', want: { a: [1] } },
    { name: 'a lone comma is an empty list', text: 'a = [,]', want: { a: [] } },
    {
      name: 'multi-line with comments inside',
      text: 'a = [\n  // c\n  "x", # d\n  /* e */ "y",\n]',
      want: { a: ['x', 'y'] },
    },
    {
      name: 'mixed types',
      text: 'a = [1, 2.5, true, "three"]',
      want: { a: [1, 2.5, true, 'three'] },
    },
    {
      name: 'objects stay separate',
      text: 'a = [{ b = 1 }, { b = 2 }]',
      want: { a: [{ b: 1 }, { b: 2 }] },
    },
    {
      name: 'nested lists need no comma between them',
      text: 'a = [[1] [2]]',
      want: { a: [[1], [2]] },
    },
    { name: 'heredoc element', text: 'a = [<<EOT\nx\nEOT\n]', want: { a: ['x\n'] } },
  ])
})

describe('comments and blank input', () => {
  check([
    { name: 'empty text', text: '', want: {} },
    { name: 'only whitespace', text: ' \n\t\r\n', want: {} },
    { name: 'only comments', text: '# a\n// b\n/* c\n d */', want: {} },
    {
      name: 'comment markers inside a string are text',
      text: 'a = "not # a comment, // nor this, /* nor this */" // but this is',
      want: { a: 'not # a comment, // nor this, /* nor this */' },
    },
    { name: 'a key with no value at the very end is dropped', text: 'a = 1\nb = ', want: { a: 1 } },
  ])
})

describe('strings', () => {
  check([
    {
      name: 'escapes \\" \\\\ \\n \\t \\uXXXX \\UXXXXXXXX',
      text: String.raw`a = "q\"b\\n\nt\tu\u00e9U\U0001F600"`,
      want: { a: 'q"b\\n\nt\tuéU😀' },
    },
    {
      name: '\\x and octal escapes are bytes (UTF-8)',
      text: String.raw`a = "\xc3\xa9\101"`,
      want: { a: 'éA' },
    },
    {
      name: 'a \\u surrogate becomes U+FFFD',
      text: String.raw`a = "\uD800"`,
      want: { a: '\ufffd' },
    },
    {
      name: '${...} is copied as is, quotes and newlines included',
      text: 'a = "x${"}"\nb = "${x\ny}"\nc = "${a} and \\t"',
      want: { a: 'x${"}', b: '${x\ny}', c: '${a} and \t' },
    },
    {
      name: 'raw UTF-8 and non-ASCII keys',
      text: '"tenant-ü" = "日本語"',
      want: { 'tenant-ü': '日本語' },
    },
  ])
})

describe('heredocs', () => {
  check([
    {
      name: '<<EOT keeps the final newline',
      text: 'a = <<EOT\nx "y" ${z}\nEOT\n',
      want: { a: 'x "y" ${z}\n' },
    },
    {
      name: '<<-EOT removes the terminator indentation',
      text: 'a = <<-EOT\n    x\n      y\n    EOT\n',
      want: { a: 'x\n  y\n' },
    },
    {
      name: '<<-EOT with a line less indented than the terminator keeps the text',
      text: 'a = <<-EOT\n    x\n  y\n  EOT\n',
      want: { a: '  x\ny\n' },
    },
    {
      name: '<<EOT with an indented terminator keeps its indentation (Go quirk)',
      text: 'a = <<EOT\nfoo\n  EOT\n',
      want: { a: 'foo\n  ' },
    },
    { name: 'followed by more items', text: 'a = <<EOT\nx\nEOT\nb = 1', want: { a: 'x\n', b: 1 } },
    { name: 'CRLF line endings', text: 'a = <<EOT\r\nx\r\nEOT\r\n', want: { a: 'x\n' } },
  ])
})

describe('numbers and booleans', () => {
  check([
    {
      name: 'Go ParseInt(text, 0, 64): hex, leading-0 octal, negative',
      text: 'h = 0x1F\no = 017\nn = -42\nz = 0\nnh = -0x1F',
      want: { h: 31, o: 15, n: -42, z: 0, nh: -31 },
    },
    {
      name: 'floats and exponents',
      text: 'a = 0.75\nb = 1e3\nc = 1.5e-2\nd = .5\ne = 1.e5\nf = 08.5',
      want: { a: 0.75, b: 1000, c: 0.015, d: 0.5, e: 100000, f: 8.5 },
    },
    { name: 'booleans', text: 'a = true\nb = false', want: { a: true, b: false } },
    {
      name: 'CRLF input',
      text: 'a = 1\r\nb {\r\n  c = "x"\r\n}\r\n',
      want: { a: 1, b: { c: 'x' } },
    },
  ])

  test('the literal text of each number is kept beside its value', () => {
    const tree = parseHcl('h = 0x1F\nlist = [017, 1e3]\nbig = 99999999999999999999')
    assert.equal(tree.h, 31)
    assert.equal(literalText(tree, 'h'), '0x1F')
    assert.ok(Array.isArray(tree.list))
    assert.equal(literalText(tree.list, 0), '017')
    assert.equal(literalText(tree.list, 1), '1e3')
    // outside int64: Go reads it only as text, so the value is approximate and the text exact
    assert.equal(literalText(tree, 'big'), '99999999999999999999')
  })
})

interface ErrorCase {
  name: string
  text: string
  message: string
  reason?: HclSyntaxError['reason']
}

const ERRORS: readonly ErrorCase[] = [
  { name: 'unterminated string', text: 'a = "x', message: 'At 1:7: literal not terminated' },
  // upstream parity: the scanner goes on after an error and the last one is reported
  { name: 'newline in a string', text: 'a = "x\ny"', message: 'At 2:3: literal not terminated' },
  {
    name: 'labels before =',
    text: 'a b = 1',
    message: 'At 1:5: nested object expected: LBRACE got: ASSIGN',
  },
  { name: 'no key', text: '= 1', message: 'At 1:1: no object keys found!' },
  {
    name: 'list without commas',
    text: 'a = [1 2]',
    message: 'At 1:8: error parsing list, expected comma or list end, got: NUMBER',
  },
  {
    name: 'bare identifier value',
    text: 'a = foo',
    message: 'At 1:5: Unknown token: 1:5 IDENT foo',
  },
  {
    name: 'unterminated block comment',
    text: '/* open',
    message: 'At 1:8: comment not terminated',
  },
  { name: 'empty hex number', text: 'a = 0x', message: 'At 1:7: illegal hexadecimal number' },
  { name: 'illegal octal', text: 'a = 0089', message: 'At 1:9: illegal octal number' },
  { name: 'bad escape', text: String.raw`a = "\q"`, message: 'At 1:7: illegal char escape' },
  {
    name: 'heredoc at end of input',
    text: 'a = <<EOT\nx\nEOT',
    message: 'At 3:4: heredoc not terminated',
  },
  {
    name: '<<-EOT needs an indented terminator (Go quirk)',
    text: 'a = <<-EOT\nfoo\nEOT\n',
    message: 'At 4:1: heredoc not terminated',
  },
  {
    name: 'space after <<',
    text: 'a = << EOT\nx\nEOT\n',
    message: 'At 1:7: invalid characters in heredoc anchor',
  },
  {
    name: 'empty heredoc anchor',
    text: 'a = <<\nx\n',
    message: 'At 1:7: zero-length heredoc anchor',
  },
  {
    name: 'missing }',
    text: 'x {\n  a = 1\n',
    message: 'At 3:2: object expected closing RBRACE got: EOF',
  },
  {
    name: 'extra }',
    text: 'x {\n}\n}',
    message: 'At 3:1: expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE',
  },
  {
    name: 'key alone',
    text: 'a',
    message: "At 1:3: key 'a' expected start of object ('{') or assignment ('=')",
  },
  {
    name: 'a bare string body (plugin_data = "...")',
    text: '"s"',
    message: `At 1:4: key '"s"' expected start of object ('{') or assignment ('=')`,
  },
  {
    name: 'error inside an object in a list',
    text: 'a = [{b = }]',
    message:
      'At 1:6: error while trying to parse object within list: At 1:11: Unknown token: 1:11 RBRACE }',
  },
  {
    name: 'NUL character',
    text: 'a = 1\n\u0000',
    message: 'At 2:1: unexpected null character (0x00)',
  },
  { name: 'byte-order mark', text: '\ufeffa = 1', message: 'At 1:1: illegal char' },
  {
    name: 'a float token Go cannot read (Go panics)',
    text: 'a = 1e',
    message: 'At 1:5: invalid number: 1e',
    reason: 'invalid-literal',
  },
  {
    name: 'a decimal 08 (Go panics)',
    text: 'a = 08',
    message: 'At 1:5: invalid number: 08',
    reason: 'invalid-literal',
  },
  {
    name: 'an octal escape past \\377 (Go panics)',
    text: String.raw`a = "\400"`,
    message: String.raw`At 1:5: invalid string literal: "\400"`,
    reason: 'invalid-literal',
  },
]

describe('syntax errors: Go messages and 1-based positions', () => {
  for (const c of ERRORS) {
    test(c.name, () => {
      assert.throws(
        () => parseHcl(c.text),
        (err: unknown) => {
          assert.ok(err instanceof HclSyntaxError)
          assert.equal(err.message, c.message)
          assert.equal(err.reason, c.reason ?? 'syntax')
          const [, line, column] = /(\d+):(\d+)/.exec(c.message) ?? []
          assert.deepEqual([err.line, err.column], [Number(line), Number(column)])
          return true
        },
      )
    })
  }
})
