// Compiles a parsed RE2 regexp to a Pike VM program and runs it: linear in the input for any pattern
// (no catastrophic backtracking), with Go's leftmost-first submatch semantics.

import {
  type Assertion,
  type ParsedRegexp,
  type Re,
  Re2Parser,
  RegexpError,
  isWordChar,
} from './re2-parse.js'

export { RegexpError }

/** Most instructions a compiled regexp may have. deviation: Go allows far larger programs. */
export const MAX_PROGRAM_SIZE = 100_000

type Inst =
  | { op: 'char'; test: (cp: number) => boolean }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'save'; n: number }
  | { op: 'assert'; kind: Assertion }
  | { op: 'match' }

export interface CompiledRegexp {
  readonly expr: string
  readonly names: readonly string[]
  readonly prog: readonly Inst[]
}

/** A match in UTF-16 offsets: groups[i] is [start, end] or undefined when group i did not take part. */
export interface RegexpMatch {
  readonly start: number
  readonly end: number
  readonly groups: readonly ([number, number] | undefined)[]
}

class Compiler {
  readonly prog: Inst[] = []

  constructor(private readonly expr: string) {}

  private emit(i: Inst): number {
    if (this.prog.length >= MAX_PROGRAM_SIZE) {
      throw new RegexpError(`error parsing regexp: expression too large: \`${this.expr}\``, true)
    }
    this.prog.push(i)
    return this.prog.length - 1
  }

  private patch(at: number, i: Inst): void {
    this.prog[at] = i
  }

  compile(re: Re): void {
    switch (re.op) {
      case 'empty':
        return
      case 'char':
        this.emit({ op: 'char', test: re.test })
        return
      case 'assert':
        this.emit({ op: 'assert', kind: re.kind })
        return
      case 'cat':
        for (const s of re.subs) this.compile(s)
        return
      case 'alt': {
        const jumps: number[] = []
        re.subs.forEach((s, k) => {
          if (k < re.subs.length - 1) {
            const split = this.emit({ op: 'jmp', x: 0 })
            this.compile(s)
            jumps.push(this.emit({ op: 'jmp', x: 0 }))
            this.patch(split, { op: 'split', x: split + 1, y: this.prog.length })
          } else this.compile(s)
        })
        for (const j of jumps) this.patch(j, { op: 'jmp', x: this.prog.length })
        return
      }
      case 'cap':
        this.emit({ op: 'save', n: 2 * re.index })
        this.compile(re.sub)
        this.emit({ op: 'save', n: 2 * re.index + 1 })
        return
      case 'rep':
        this.repeat(re.sub, re.min, re.max, re.greedy)
    }
  }

  private split(at: number, body: number, out: number, greedy: boolean): void {
    this.patch(at, greedy ? { op: 'split', x: body, y: out } : { op: 'split', x: out, y: body })
  }

  private repeat(sub: Re, min: number, max: number, greedy: boolean): void {
    for (let k = 0; k < min; k++) this.compile(sub)
    if (max < 0) {
      const loop = this.emit({ op: 'jmp', x: 0 })
      this.compile(sub)
      this.emit({ op: 'jmp', x: loop })
      this.split(loop, loop + 1, this.prog.length, greedy)
      return
    }
    const splits: number[] = []
    for (let k = min; k < max; k++) {
      splits.push(this.emit({ op: 'jmp', x: 0 }))
      this.compile(sub)
    }
    for (const s of splits) this.split(s, s + 1, this.prog.length, greedy)
  }
}

/** regexp.Compile. Throws RegexpError with Go's message. */
export function compileRe2(expr: string): CompiledRegexp {
  const parsed: ParsedRegexp = new Re2Parser(expr).parse()
  const c = new Compiler(expr)
  c.compile({ op: 'cap', index: 0, sub: parsed.re })
  c.prog.push({ op: 'match' })
  return { expr, names: parsed.names, prog: c.prog }
}

/** A string prepared for matching: its code points and their UTF-16 offsets. */
export interface Subject {
  readonly cps: readonly number[]
  readonly offsets: readonly number[] // offsets[i] = UTF-16 index of cps[i]; offsets[cps.length] = length
}

export function toSubject(s: string): Subject {
  const cps: number[] = []
  const offsets: number[] = []
  for (let i = 0; i < s.length;) {
    const c = s.codePointAt(i) ?? 0
    cps.push(c)
    offsets.push(i)
    i += c > 0xffff ? 2 : 1
  }
  offsets.push(s.length)
  return { cps, offsets }
}

function assertOk(kind: Assertion, cps: readonly number[], pos: number): boolean {
  const prev = pos > 0 ? (cps[pos - 1] ?? -1) : -1
  const next = pos < cps.length ? (cps[pos] ?? -1) : -1
  switch (kind) {
    case 'bot':
      return pos === 0
    case 'eot':
      return pos === cps.length
    case 'bol':
      return pos === 0 || prev === 10
    case 'eol':
      return pos === cps.length || next === 10
    case 'wb':
      return isWordChar(prev) !== isWordChar(next)
    case 'nwb':
      return isWordChar(prev) === isWordChar(next)
  }
}

interface Thread {
  readonly pc: number
  readonly caps: number[]
}

/**
 * Finds the leftmost-first match starting the search at code point `from`. `charge(n)` is told how
 * much work each input position took, so callers can bound it.
 */
export function execRe2(
  c: CompiledRegexp,
  subj: Subject,
  from: number,
  charge: (n: number) => void,
): number[] | undefined {
  const { prog } = c
  const { cps } = subj
  const ncap = 2 * c.names.length
  let matched: number[] | undefined

  // Adds the thread and everything reachable from it without consuming input, in priority order.
  const add = (
    list: Thread[],
    seen: Set<number>,
    pc0: number,
    caps0: number[],
    pos: number,
  ): void => {
    const stack: Thread[] = [{ pc: pc0, caps: caps0 }]
    while (stack.length > 0) {
      const t = stack.pop()
      if (t === undefined || seen.has(t.pc)) continue
      seen.add(t.pc)
      const inst = prog[t.pc]
      if (inst === undefined) continue
      switch (inst.op) {
        case 'jmp':
          stack.push({ pc: inst.x, caps: t.caps })
          break
        case 'split':
          stack.push({ pc: inst.y, caps: t.caps }, { pc: inst.x, caps: t.caps })
          break
        case 'save': {
          const caps = t.caps.slice()
          caps[inst.n] = pos
          stack.push({ pc: t.pc + 1, caps })
          break
        }
        case 'assert':
          if (assertOk(inst.kind, cps, pos)) stack.push({ pc: t.pc + 1, caps: t.caps })
          break
        default:
          list.push(t)
      }
    }
  }

  let clist: Thread[] = []
  let cseen = new Set<number>()
  for (let pos = from; pos <= cps.length; pos++) {
    // Unanchored search: a new lowest-priority thread starts here until something has matched.
    if (matched === undefined) add(clist, cseen, 0, new Array<number>(ncap).fill(-1), pos)
    if (clist.length === 0) {
      if (matched !== undefined) break
      cseen = new Set()
      continue
    }
    charge(Math.ceil(clist.length / 64))
    const nlist: Thread[] = []
    const nseen = new Set<number>()
    const cp = pos < cps.length ? (cps[pos] ?? -1) : -1
    for (const t of clist) {
      const inst = prog[t.pc]
      if (inst?.op === 'match') {
        matched = t.caps
        break // lower-priority threads lose to this match
      }
      if (inst?.op === 'char' && cp >= 0 && inst.test(cp))
        add(nlist, nseen, t.pc + 1, t.caps, pos + 1)
    }
    clist = nlist
    cseen = nseen
  }
  return matched
}

/** Converts code point capture positions to a UTF-16 RegexpMatch. */
export function toMatch(caps: readonly number[], subj: Subject): RegexpMatch {
  const off = (i: number): number => subj.offsets[i] ?? 0
  const groups: ([number, number] | undefined)[] = []
  for (let g = 0; 2 * g < caps.length; g++) {
    const a = caps[2 * g] ?? -1
    const b = caps[2 * g + 1] ?? -1
    groups.push(a >= 0 && b >= 0 ? [off(a), off(b)] : undefined)
  }
  const whole = groups[0] ?? [0, 0]
  return { start: whole[0], end: whole[1], groups }
}
