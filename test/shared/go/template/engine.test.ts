// The general parseTemplate API: options, custom functions, how JavaScript data maps to Go values,
// and readable tables of the core text/template features (expected values taken from Go 1.26).

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  AGENT_PATH_FUNCS,
  type FuncMap,
  GoNil,
  GoTypedInt,
  Iface,
  TemplateError,
  goStruct,
  parseTemplate,
} from '../../../../shared/go/template/index.js'
import { render } from './helpers.js'

const SAMPLE = {
  s: 'Hello World',
  n: 42,
  f: 1.5,
  l: ['b', 'a'],
  m: { z: 1, a: 'x' },
  nil: null,
  e: '',
}

describe('features (Go 1.26 output)', () => {
  const cases: readonly { feature: string; text: string; out: string }[] = [
    { feature: 'text and actions', text: 'a{{ "b" }}c', out: 'abc' },
    { feature: 'trim markers', text: 'a  {{- "b" -}}  c', out: 'abc' },
    { feature: 'comments', text: 'a {{- /* note */ -}} b', out: 'ab' },
    { feature: 'field chains', text: '{{ .m.a }}', out: 'x' },
    { feature: 'dot and $', text: '{{ with .m }}{{ .a }}{{ $.s }}{{ end }}', out: 'xHello World' },
    {
      feature: 'variables',
      text: '{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}',
      out: '2',
    },
    { feature: 'pipelines', text: '{{ .s | upper | printf "%s!" }}', out: 'HELLO WORLD!' },
    { feature: 'parenthesised sub-pipelines', text: '{{ print (print "a") (len .l) }}', out: 'a2' },
    { feature: 'string literals', text: '{{ "a\\tb" }}|{{ `raw\\n` }}', out: 'a\tb|raw\\n' },
    {
      feature: 'numbers',
      text: "{{ 0x1F }} {{ 0o17 }} {{ 1_000 }} {{ 1.5 }} {{ 1e3 }} {{ 'a' }}",
      out: '31 15 1000 1.5 1000 97',
    },
    { feature: 'bool and nil', text: '{{ true }} {{ print nil }}', out: 'true <nil>' },
    {
      feature: 'if / else if / else',
      text: '{{ if .e }}e{{ else if .n }}n{{ else }}-{{ end }}',
      out: 'n',
    },
    {
      feature: 'range over a list',
      text: '{{ range $i, $v := .l }}{{ $i }}={{ $v }} {{ end }}',
      out: '0=b 1=a ',
    },
    {
      feature: 'range over a map (sorted keys)',
      text: '{{ range $k, $v := .m }}{{ $k }}={{ $v }} {{ end }}',
      out: 'a=x z=1 ',
    },
    { feature: 'range else', text: '{{ range .nil }}x{{ else }}none{{ end }}', out: 'none' },
    {
      feature: 'range break/continue',
      text: '{{ range .l }}{{ if eq . "a" }}{{ break }}{{ end }}{{ . }}{{ end }}',
      out: 'b',
    },
    { feature: 'range over an int', text: '{{ range 3 }}{{ . }}{{ end }}', out: '012' },
    {
      feature: 'with / else with',
      text: '{{ with .e }}a{{ else with .s }}{{ . }}{{ end }}',
      out: 'Hello World',
    },
    {
      feature: 'define / template / block',
      text: '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .n }}{{ block "b" .f }}<{{ . }}>{{ end }}',
      out: '[42]<1.5>',
    },
    {
      feature: 'and / or / not',
      text: '{{ and 1 .e }}|{{ or .e "d" }}|{{ not .e }}',
      out: '|d|true',
    },
    {
      feature: 'comparisons',
      text: '{{ eq .n 42 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ ge 1.5 .f }} {{ eq .s "x" "Hello World" }}',
      out: 'true true true true true',
    },
    {
      feature: 'len / index / slice',
      text: '{{ len .s }} {{ index .l 1 }} {{ index .m "a" }}',
      out: '11 a x',
    },
    {
      feature: 'print / println',
      text: '{{ print "a" 1 2 "b" }}|{{ println 1 "x" }}',
      out: 'a1 2b|1 x\n',
    },
    {
      feature: 'printf verbs',
      text: '{{ printf "%s|%d|%v|%q|%x|%t|%%|%5.2f|%-4s|" "s" 42 .l "q" "hi" true 3.14159 "a" }}',
      out: 's|42|[b a]|"q"|6869|true|%| 3.14|a   |',
    },
    {
      feature: 'html / js / urlquery',
      text: '{{ html "<a&b>" }} {{ js "it\'s" }} {{ urlquery "a b&c" }}',
      out: "&lt;a&amp;b&gt; it\\'s a+b%26c",
    },
    {
      feature: 'Go value printing',
      text: '{{ .m }} {{ .l }} {{ .nil }} {{ .f }} {{ 1e21 }}',
      out: 'map[a:x z:1] [b a] <no value> 1.5 1e+21',
    },
  ]
  for (const c of cases) {
    test(c.feature, () => assert.deepEqual(render(c.text, SAMPLE), { out: c.out }))
  }
})

describe('missingkey option', () => {
  const data = { m: {} }
  const cases = [
    {
      key: 'default',
      text: '{{ .missing }}|{{ .missing.x }}|{{ print .missing }}',
      out: '<no value>|<no value>|<nil>',
    },
    { key: 'zero', text: '{{ .missing }}|{{ .m.missing }}', out: '<no value>|<no value>' },
    {
      key: 'zero',
      text: '{{ .missing.x }}',
      err: 'template: custom:1:11: executing "custom" at <.missing.x>: nil pointer evaluating interface {}.x',
    },
    {
      key: 'error',
      text: '{{ .m.missing }}',
      err: 'template: custom:1:5: executing "custom" at <.m.missing>: map has no entry for key "missing"',
    },
    {
      key: 'error',
      text: '{{ if .missing }}y{{ end }}',
      err: 'template: custom:1:6: executing "custom" at <.missing>: map has no entry for key "missing"',
    },
  ] as const
  for (const c of cases) {
    test(`${c.key}: ${c.text}`, () => {
      const t = parseTemplate('custom', c.text, { missingKey: c.key })
      if ('out' in c) assert.equal(t.execute(data), c.out)
      else assert.throws(() => t.execute(data), { name: 'TemplateError', message: c.err })
    })
  }
  test("Go's default is missingkey=default", () => {
    assert.equal(parseTemplate('x', '{{ .nope }}').execute({}), '<no value>')
  })
})

describe('custom functions', () => {
  const funcs: FuncMap = {
    shout: { params: ['string'], result: 'string', call: ([s]) => `${String(s)}!` },
    repeatN: {
      params: ['int', 'string'],
      result: 'string',
      call: ([n, s]) => String(s).repeat(Number(n)),
    },
    pick: {
      params: ['interface {}'],
      variadic: 'interface {}',
      result: 'interface {}',
      call: (args) => args[args.length - 1] ?? null,
    },
    nothing: { params: [], result: 'interface {}', call: () => null },
    boom: {
      params: [],
      result: 'string',
      call: () => {
        throw new Error('went wrong')
      },
    },
    len: { params: ['interface {}'], result: 'string', call: () => 'shadowed' },
  }
  const cases = [
    { text: '{{ shout "hi" }} {{ "yo" | shout }}', out: 'hi! yo!' },
    { text: '{{ repeatN 3 "ab" }}', out: 'ababab' },
    { text: '{{ pick 1 2 "three" }}', out: 'three' },
    { text: '{{ nothing }}', out: '<no value>' },
    { text: '{{ len "abc" }}', out: 'shadowed' },
    {
      text: '{{ shout 1 }}',
      err: 'template: f:1:9: executing "f" at <1>: expected string; found 1',
    },
    {
      text: '{{ shout .n }}',
      err: 'template: f:1:9: executing "f" at <.n>: wrong type for value; expected string; got int',
    },
    {
      text: '{{ shout }}',
      err: 'template: f:1:3: executing "f" at <shout>: wrong number of args for shout: want 1 got 0',
    },
    {
      text: '{{ repeatN 1.5 "x" }}',
      err: 'template: f:1:11: executing "f" at <1.5>: expected integer; found 1.5',
    },
    {
      text: '{{ pick }}',
      err: 'template: f:1:3: executing "f" at <pick>: wrong number of args for pick: want at least 1 got 0',
    },
    {
      text: '{{ boom }}',
      err: 'template: f:1:3: executing "f" at <boom>: error calling boom: went wrong',
    },
  ]
  for (const c of cases) {
    test(c.text, () => {
      const t = parseTemplate('f', c.text, { funcs })
      if (c.out !== undefined) assert.equal(t.execute({ n: 1 }), c.out)
      else assert.throws(() => t.execute({ n: 1 }), { name: 'TemplateError', message: c.err })
    })
  }
  test('unknown functions fail at parse time', () => {
    assert.throws(
      () => parseTemplate('f', '{{ nope }}', { funcs }),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError)
        assert.equal(err.phase, 'parse')
        assert.equal(err.message, 'template: f:1: function "nope" not defined')
        return true
      },
    )
  })
  test('reflect.Value parameters receive interface-held values as Iface', () => {
    const seen: unknown[] = []
    const t = parseTemplate('f', '{{ raw (index .l 0) }}{{ raw .m.a }}', {
      funcs: {
        raw: { params: ['reflect.Value'], result: 'string', call: ([a]) => (seen.push(a), '') },
      },
    })
    t.execute({ l: ['x'], m: { a: 1 } })
    assert.equal(seen[0], 'x') // a pipeline result is unwrapped, as in Go
    assert.ok(seen[1] instanceof Iface)
  })
})

describe('JavaScript data as Go values', () => {
  const cases = [
    {
      name: 'safe integers are int, other numbers float64',
      data: { a: 1, b: 1.5, c: 2 ** 53 + 2, d: -0 },
      text: '{{ .a }} {{ .b }} {{ .c }} {{ .d }} {{ printf "%T %T" .a .b }}',
      out: '1 1.5 9.007199254740994e+15 0 int float64',
    },
    {
      name: 'NaN and infinities',
      data: { a: NaN, b: -Infinity },
      text: '{{ .a }} {{ .b }}',
      out: 'NaN -Inf',
    },
    {
      name: 'bigint is int',
      data: { a: 9007199254740993n },
      text: '{{ .a }}',
      out: '9007199254740993',
    },
    {
      name: 'null and undefined are nil',
      data: { a: null, b: undefined },
      text: '{{ .a }} {{ .b }} {{ printf "%v" .a }}',
      out: '<no value> <no value> <nil>',
    },
    {
      name: 'maps sort keys byte-wise',
      data: { b: 1, B: 2, é: 3, z: 4, a: 5, '😀': 6, '\uffff': 7 },
      text: '{{ . }}',
      out: 'map[B:2 a:5 b:1 z:4 é:3 \uffff:7 😀:6]',
    },
    { name: 'Map input', data: new Map([['k', 'v']]), text: '{{ .k }}', out: 'v' },
    {
      name: 'typed values',
      data: { u: new GoTypedInt('uint8', 65n, true), p: new GoNil('*jwt.NumericDate') },
      text: '{{ .u }} {{ printf "%c %T" .u .u }} {{ .p }} {{ printf "%T" .p }}',
      out: '65 A uint8 <nil> *jwt.NumericDate',
    },
    {
      name: 'structs',
      data: goStruct('pkg.T', { Name: 'n', Ptr: null }, '*int'),
      text: '{{ .Name }} {{ .Ptr }} {{ printf "%+v" . }}',
      out: 'n <nil> {Name:n Ptr:<nil>}',
    },
  ]
  for (const c of cases) {
    test(c.name, () => assert.equal(parseTemplate('d', c.text).execute(c.data), c.out))
  }
  test('execute does not modify the caller data', () => {
    const data = { m: { a: 1 } }
    const t = parseTemplate('d', '{{ $_ := set .m "b" 2 }}{{ .m }}', { funcs: AGENT_PATH_FUNCS })
    assert.equal(t.execute(data), 'map[a:1 b:2]')
    assert.deepEqual(data, { m: { a: 1 } })
  })
})

describe('TemplateError', () => {
  test('parse errors carry phase "parse" and Go text', () => {
    assert.throws(
      () => parseTemplate('t', 'x\n{{ .a'),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError)
        assert.equal(err.name, 'TemplateError')
        assert.equal(err.phase, 'parse')
        assert.equal(err.limit, false)
        assert.equal(err.message, 'template: t:2: unclosed action')
        return true
      },
    )
  })
  test('execution errors carry phase "execute" and Go line:column context', () => {
    assert.throws(
      () => parseTemplate('t', 'é\n  {{ index .l 5 }}').execute({ l: [] }),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError)
        assert.equal(err.phase, 'execute')
        assert.equal(
          err.message,
          'template: t:2:5: executing "t" at <index .l 5>: error calling index: index out of range: 5',
        )
        return true
      },
    )
  })
})
