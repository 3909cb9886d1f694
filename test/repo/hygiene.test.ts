// Rules the repository keeps about its own tests and scripts, checked over the source text:
// - no assertion depends on wall-clock speed (issue 8: counts, order or an injected clock instead);
// - nothing under test/, bench/ or scripts/ reads project data from outside the repository.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, test } from 'node:test'
import { REPO_ROOT } from '../support/paths.js'

const CLOCK_CALL = /\b(?:Date\.now|performance\.now)\s*\(|process\.hrtime/

/** Source files under `dir` with one of the extensions, skipping fixtures and build output. */
function sources(dir: string, exts: readonly string[]): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name)
      if (e.isDirectory()) {
        if (!['fixtures', 'node_modules', 'dist', 'go-probe'].includes(e.name)) walk(full)
      } else if (exts.some((x) => e.name.endsWith(x))) out.push(full)
    }
  }
  walk(dir)
  return out.sort()
}

/** The text from an opening parenthesis to its match, skipping string and template literals. */
function balanced(text: string, open: number): string {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    const c = text[i]
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++
      continue
    }
    if (c === '(') depth++
    else if (c === ')' && --depth === 0) return text.slice(open, i + 1)
  }
  return text.slice(open)
}

/**
 * Where a file asserts on the clock: an assertion whose arguments call Date.now()/performance.now()
 * or name a variable computed from one, or an `if (<clock>) assert.fail(...)`.
 */
export function clockAssertions(text: string): string[] {
  const clockVars = new Set<string>()
  const decl = /\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*([^\n;]*)/g
  for (let grew = true; grew;) {
    grew = false
    for (const m of text.matchAll(decl)) {
      const [, name, init] = m as unknown as [string, string, string]
      if (clockVars.has(name)) continue
      const derived = [...clockVars].some((v) =>
        new RegExp(`\\b${v.replace('$', '\\$')}\\b`).test(init),
      )
      if (CLOCK_CALL.test(init) || derived) {
        clockVars.add(name)
        grew = true
      }
    }
  }
  const usesClock = (args: string): boolean =>
    CLOCK_CALL.test(args) ||
    [...clockVars].some((v) => new RegExp(`\\b${v.replace('$', '\\$')}\\b`).test(args))
  const found: string[] = []
  for (const m of text.matchAll(/\bassert(?:\.[A-Za-z]+)?\s*\(/g)) {
    const args = balanced(text, (m.index ?? 0) + m[0].length - 1)
    if (usesClock(args)) found.push(`${m[0]}${args.slice(1, 80)}`)
  }
  for (const m of text.matchAll(/\bif\s*\(/g)) {
    const cond = balanced(text, (m.index ?? 0) + m[0].length - 1)
    const after = text.slice((m.index ?? 0) + m[0].length - 1 + cond.length).trimStart()
    if (usesClock(cond) && /^\{?\s*assert\b/.test(after)) found.push(`if ${cond.slice(0, 80)}`)
  }
  return found
}

describe('no test asserts on wall-clock time', () => {
  test('the guard finds the shapes it forbids', () => {
    assert.equal(clockAssertions('assert.ok(Date.now() - t0 < 1_500)').length, 1)
    assert.equal(
      clockAssertions('const t0 = performance.now()\nrun()\nassert.ok(performance.now() - t0 < 9)')
        .length,
      1,
    )
    assert.equal(
      clockAssertions('const t0 = performance.now()\nconst took = later - t0\nassert.ok(took < 9)')
        .length,
      1,
    )
    assert.equal(clockAssertions('if (Date.now() > deadline) assert.fail("slow")').length, 1)
    assert.deepEqual(clockAssertions('const n = count()\nassert.equal(n, 2)'), [])
    assert.deepEqual(
      clockAssertions('if (Date.now() > end) throw new Error("hang guard")\nassert.ok(done)'),
      [],
    )
  })

  test('every test source is clean', () => {
    const offenders: string[] = []
    for (const file of sources(join(REPO_ROOT, 'test'), ['.ts', '.mjs'])) {
      if (file.endsWith(join('repo', 'hygiene.test.ts'))) continue
      for (const hit of clockAssertions(readFileSync(file, 'utf8')))
        offenders.push(`${relative(REPO_ROOT, file)}: ${hit}`)
    }
    assert.deepEqual(offenders, [], 'assert on counts, order or an injected clock instead')
  })
})

describe('the repository is self-contained', () => {
  test('no test, bench or script reads from beside the repository', () => {
    const outside = [
      /SPIRE_AZURE_KIT/,
      /\.\.\/shared\/(?:fixtures|docs)/,
      /['"]\.\.['"]\s*,\s*['"]shared['"]/,
      /join\(\s*(?:REPO_ROOT|ROOT|root)\s*,\s*['"]\.\.['"]/,
    ]
    const offenders: string[] = []
    for (const dir of ['test', 'bench', 'scripts']) {
      for (const file of sources(join(REPO_ROOT, dir), ['.ts', '.mjs', '.js', '.sh'])) {
        if (file.endsWith(join('repo', 'hygiene.test.ts'))) continue
        const text = readFileSync(file, 'utf8')
        for (const re of outside)
          if (re.test(text)) offenders.push(`${relative(REPO_ROOT, file)}: ${re}`)
      }
    }
    assert.deepEqual(offenders, [])
  })
})
