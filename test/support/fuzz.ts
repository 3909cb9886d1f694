// Property-based fuzzing (issue #14): the targets — every parser that reads untrusted or operator
// input — with near-valid and random input generators, the one property they all keep (every input
// ends in a result or one of the target's own typed errors, with an output proportional to the
// input), and a runner that executes a target in a worker thread under a stall watchdog, so a hang,
// a crash or a memory blow-up is reported with the input that caused it instead of stopping the run.
// Used by the `*.fuzz.test.ts` files (seeded, bounded) and by bench/fuzz.ts (the long run).
import assert from 'node:assert/strict'
import { Buffer } from 'node:buffer'
import { generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test as nodeTest } from 'node:test'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import fc from 'fast-check'
import { AZURE_FIXTURES_DIR, FIXTURES_DIR, HCL_FIXTURES_DIR, REPO_ROOT } from './paths.js'

/** The regression corpus: one directory per target (README.md there says what each file is). */
export const FUZZ_CORPUS_DIR = join(FIXTURES_DIR, 'fuzz-corpus')

/** The fixed seed `npm test` uses (FUZZ_SEED overrides it, to explore). */
export const DEFAULT_FUZZ_SEED = 20261202

/** Every target, by the name its corpus directory has. */
export const FUZZ_TARGET_NAMES = [
  'hcl-native',
  'hcl-json',
  'msi-payload',
  'imds-payload',
  'jwt',
  'der',
  'pkcs7',
  'certificate',
  'verify-document',
  'agent-path',
] as const
export type FuzzTargetName = (typeof FUZZ_TARGET_NAMES)[number]

/** What a target is, for reports and docs. */
export const FUZZ_TARGET_INFO: Readonly<Record<FuzzTargetName, { covers: string; typed: string }>> =
  {
    'hcl-native': {
      covers:
        'shared/go/hcl parseHcl (native syntax) and every plugin buildConfig (both attestors, both sides)',
      typed: 'HclSyntaxError from parseHcl; buildConfig only reports problems, never throws',
    },
    'hcl-json': {
      covers: 'shared/go/hcl parseHcl (JSON mode) and every plugin buildConfig',
      typed: 'HclSyntaxError from parseHcl; buildConfig only reports problems, never throws',
    },
    'msi-payload': {
      covers: 'shared/azure/payloads.ts parseMsiPayload',
      typed: 'PluginError',
    },
    'imds-payload': {
      covers: 'shared/azure/imds-payload.ts parseImdsPayload',
      typed: 'PluginError',
    },
    jwt: {
      covers:
        'the azure_msi server attestor end to end (payload, parseMsiToken, signature, claims, issuer, ARM) with fakes',
      typed: 'PluginError',
    },
    der: {
      covers: 'server-plugin/azure-imds/der.ts readTlv, childrenOf, oidText over a whole tree',
      typed: 'DerError',
    },
    pkcs7: {
      covers:
        'server-plugin/azure-imds/document.ts parseSignedDocument + verifyDocumentSignature, content.ts parse and checks',
      typed: 'PluginError',
    },
    certificate: {
      covers:
        'server-plugin/azure-imds/certificate.ts parseDerOrPem (parseCertificate, PEM), leaf.ts checks',
      typed: 'CertificateParseError, PluginError',
    },
    'verify-document': {
      covers:
        'the agent challenge response through parseImdsPayload and verify-document.ts verifyAttestedDocument (chain to the pinned roots, AIA from memory)',
      typed: 'PluginError',
    },
    'agent-path': {
      covers:
        'shared/go/template parseAgentPathTemplate + buildAgentPath with both attestors’ template data and a plain map',
      typed: 'TemplateError, SpiffeIdError',
    },
  }

/** A target: its inputs (bytes; text targets read them as UTF-8) and what it runs. */
export interface FuzzTarget {
  readonly name: FuzzTargetName
  /** Near-valid (mutated fixtures, structured) and random inputs, bounded in size. */
  readonly inputs: fc.Arbitrary<Uint8Array>
  /** Runs one input; the value returned is the target's output (sized for proportionality). */
  run(input: Uint8Array): unknown
  /** A short label when `err` is one of the target's own typed errors, else undefined. */
  typed(err: unknown): string | undefined
  /** Largest output size (sizeOf) accepted for an input of `n` bytes. */
  maxOutput(n: number): number
  /** A label for a result, when results differ in kind (default `ok`). */
  okLabel?(output: unknown): string
}

/** How one input ended. */
export type Outcome =
  | { kind: 'ok'; label: string; size: number }
  | { kind: 'typed'; label: string }
  | { kind: 'untyped'; label: string; message: string }
  | { kind: 'oversized'; label: string; size: number; limit: number }

export interface Finding {
  kind: 'untyped' | 'oversized' | 'hang' | 'crash' | 'memory' | 'unhandled-rejection'
  message: string
  /** The input (shrunk by fast-check where it could), base64. */
  inputBase64: string
  inputBytes: number
  /** fast-check seed and path that reproduce it (absent for hangs and crashes). */
  seed?: number
  path?: string
}

export interface FuzzReport {
  target: FuzzTargetName
  seed: number
  /** Generated inputs run (fast-check's numRuns summed over chunks; shrinking not counted). */
  runs: number
  /** Every execution, shrinking included. */
  executed: number
  ok: number
  typedErrors: number
  /** Count per outcome label (error class and reason, or `ok`), at most 64 labels. */
  outcomes: Record<string, number>
  /** Largest output size over input size seen on an ok result. */
  maxOutputRatio: number
  largestInputBytes: number
  findings: Finding[]
}

export interface FuzzOptions {
  target: FuzzTargetName
  runs: number
  seed: number
  /** Runs per fast-check check; each chunk uses seed + index and a finding ends only its chunk. */
  chunk?: number
  /** Stop after this many findings (default 5). */
  maxFindings?: number
  /** For the harness's own tests: misbehave on the first input as a broken parser would. */
  simulate?: 'hang' | 'memory' | 'unhandled-rejection'
}

const UNTYPED_LABEL_MAX = 64

/** Runs one input through a target and classifies how it ended. */
export async function classify(target: FuzzTarget, input: Uint8Array): Promise<Outcome> {
  let output: unknown
  try {
    output = await target.run(input)
  } catch (err) {
    const label = target.typed(err)
    if (label !== undefined) return { kind: 'typed', label }
    const e = err instanceof Error ? err : new Error(String(err))
    return {
      kind: 'untyped',
      label: `untyped:${e.name}`,
      message: `${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 8).join('\n')}`,
    }
  }
  const size = sizeOf(output)
  const limit = target.maxOutput(input.length)
  if (size > limit) return { kind: 'oversized', label: 'oversized', size, limit }
  return { kind: 'ok', label: target.okLabel?.(output) ?? 'ok', size }
}

/** Approximate retained size of a result: string and byte lengths, 8 per other leaf. */
export function sizeOf(value: unknown, budget = 1_000_000): number {
  const seen = new Set<object>()
  let nodes = 0
  const walk = (v: unknown): number => {
    if (++nodes > budget) return 0
    if (typeof v === 'string') return v.length
    if (v === null || typeof v !== 'object') return 8
    if (seen.has(v)) return 8
    seen.add(v)
    if (ArrayBuffer.isView(v)) return v.byteLength
    if (v instanceof Map) {
      let n = 8
      for (const [k, x] of v) n += walk(k) + walk(x)
      return n
    }
    if (v instanceof Set || Array.isArray(v)) {
      let n = 8
      for (const x of v as Iterable<unknown>) n += walk(x)
      return n
    }
    const proto = Object.getPrototypeOf(v) as unknown
    if (proto !== Object.prototype && proto !== null) {
      // class instances (KeyObject, X509Certificate, Go values): their own enumerable fields
      let n = 16
      for (const x of Object.values(v)) n += walk(x)
      return n
    }
    let n = 8
    for (const [k, x] of Object.entries(v)) n += k.length + walk(x)
    return n
  }
  return walk(value)
}

// ---------------------------------------------------------------------------------------------
// Running a target: in-process (fuzzInProcess) and in a watched worker (runFuzzIsolated).

/** Where the worker shows what it runs: a case counter and the current input. */
interface Progress {
  counter: Int32Array
  input: Uint8Array
}
const PROGRESS_INPUT_MAX = 1024 * 1024

function noteInput(progress: Progress | undefined, input: Uint8Array): void {
  if (progress === undefined) return
  const n = Math.min(input.length, PROGRESS_INPUT_MAX)
  progress.input.set(input.subarray(0, n))
  Atomics.store(progress.counter, 1, n)
  Atomics.add(progress.counter, 0, 1)
}

/** Runs the property on `options.runs` generated inputs of one target, in this thread. */
export async function fuzzInProcess(
  options: FuzzOptions,
  progress?: Progress,
): Promise<FuzzReport> {
  const target = await loadTarget(options.target)
  const report = emptyReport(options)
  const maxFindings = options.maxFindings ?? 5
  const chunk = Math.max(1, options.chunk ?? options.runs)
  const record = (outcome: Outcome, input: Uint8Array): void => {
    report.executed++
    report.largestInputBytes = Math.max(report.largestInputBytes, input.length)
    if (outcome.kind === 'ok') {
      report.ok++
      report.maxOutputRatio = Math.max(
        report.maxOutputRatio,
        outcome.size / Math.max(1, input.length),
      )
    } else if (outcome.kind === 'typed') report.typedErrors++
    const labels = Object.keys(report.outcomes)
    if (outcome.label in report.outcomes || labels.length < UNTYPED_LABEL_MAX)
      report.outcomes[outcome.label] = (report.outcomes[outcome.label] ?? 0) + 1
  }
  for (let done = 0, i = 0; done < options.runs && report.findings.length < maxFindings; i++) {
    const numRuns = Math.min(chunk, options.runs - done)
    const seed = (options.seed + i) | 0
    const property = fc.asyncProperty(target.inputs, async (input) => {
      noteInput(progress, input)
      if (options.simulate !== undefined) simulateFailure(options.simulate)
      const outcome = await classify(target, input)
      record(outcome, input)
      if (outcome.kind === 'untyped') throw new Error(outcome.message)
      if (outcome.kind === 'oversized')
        throw new Error(`output size ${outcome.size} exceeds ${outcome.limit}`)
    })
    const details = await fc.check(property, { seed, numRuns })
    report.runs += details.failed ? details.numRuns : numRuns
    done += numRuns
    if (details.failed && details.counterexample !== null) {
      const [input] = details.counterexample
      const outcome = await classify(target, input)
      report.findings.push({
        kind: outcome.kind === 'oversized' ? 'oversized' : 'untyped',
        message:
          outcome.kind === 'untyped'
            ? outcome.message
            : outcome.kind === 'oversized'
              ? `output size ${outcome.size} exceeds ${outcome.limit}`
              : `flaky: ${details.errorInstance instanceof Error ? details.errorInstance.message : ''}`,
        inputBase64: Buffer.from(input).toString('base64'),
        inputBytes: input.length,
        seed,
        path: details.counterexamplePath ?? '',
      })
    }
  }
  return report
}

function simulateFailure(kind: NonNullable<FuzzOptions['simulate']>): void {
  if (kind === 'unhandled-rejection') {
    void Promise.reject(new Error('simulated unhandled rejection'))
    return
  }
  const hoard: unknown[] = []
  for (let i = 0; ; i++) if (kind === 'memory') hoard.push(new Array(1 << 16).fill(i))
}

/** Replays files (bytes) through a target in this thread; one outcome per file. */
export async function replayInProcess(
  name: FuzzTargetName,
  files: readonly string[],
  progress?: Progress,
): Promise<{ file: string; outcome: Outcome }[]> {
  const target = await loadTarget(name)
  const out: { file: string; outcome: Outcome }[] = []
  for (const file of files) {
    const input = readFileSync(file)
    noteInput(progress, input)
    out.push({ file, outcome: await classify(target, input) })
  }
  return out
}

function emptyReport(options: FuzzOptions): FuzzReport {
  return {
    target: options.target,
    seed: options.seed,
    runs: 0,
    executed: 0,
    ok: 0,
    typedErrors: 0,
    outcomes: {},
    maxOutputRatio: 0,
    largestInputBytes: 0,
    findings: [],
  }
}

export interface IsolationOptions {
  /** A case that makes no progress for this long is a hang (default 30 s; not a speed check). */
  stallMs?: number
  /** The worker's heap limit; exceeding it is a memory finding (default 1024 MB). */
  maxHeapMb?: number
}

type WorkerJob =
  | { mode: 'fuzz'; options: FuzzOptions }
  | { mode: 'replay'; target: FuzzTargetName; files: string[] }
type WorkerReply =
  | { mode: 'error'; message: string }
  | { mode: 'fuzz'; report: FuzzReport; unhandledRejections: string[] }
  | {
      mode: 'replay'
      results: { file: string; outcome: Outcome }[]
      unhandledRejections: string[]
    }

const WORKER_MARK = 'spire-azure-fuzz-worker'

/**
 * Fuzzes one target in a worker thread. A case that stalls longer than `stallMs`, a worker that
 * dies (crash, heap limit) and an unhandled rejection become findings with the input that was
 * running; the watchdog counts ticks without progress (it never reads the clock).
 */
export async function runFuzzIsolated(
  options: FuzzOptions,
  isolation: IsolationOptions = {},
): Promise<FuzzReport> {
  const { reply, failure } = await runWorker({ mode: 'fuzz', options }, isolation)
  if (reply?.mode === 'fuzz') {
    const report = reply.report
    for (const message of reply.unhandledRejections)
      report.findings.push({
        kind: 'unhandled-rejection',
        message,
        inputBase64: '',
        inputBytes: 0,
      })
    return report
  }
  const report = emptyReport(options)
  if (failure !== undefined) report.findings.push(failure)
  return report
}

/** Replays corpus files through a target in a watched worker. */
export async function replayIsolated(
  target: FuzzTargetName,
  files: readonly string[],
  isolation: IsolationOptions = {},
): Promise<{ results: { file: string; outcome: Outcome }[]; findings: Finding[] }> {
  const { reply, failure } = await runWorker(
    { mode: 'replay', target, files: [...files] },
    isolation,
  )
  const findings: Finding[] = failure === undefined ? [] : [failure]
  if (reply?.mode !== 'replay') return { results: [], findings }
  for (const message of reply.unhandledRejections)
    findings.push({ kind: 'unhandled-rejection', message, inputBase64: '', inputBytes: 0 })
  return { results: reply.results, findings }
}

function runWorker(
  job: WorkerJob,
  isolation: IsolationOptions,
): Promise<{ reply?: WorkerReply; failure?: Finding }> {
  const stallMs = isolation.stallMs ?? 30_000
  const tickMs = 250
  const shared = new SharedArrayBuffer(8 + PROGRESS_INPUT_MAX)
  const counter = new Int32Array(shared, 0, 2)
  const inputView = new Uint8Array(shared, 8)
  const current = (): Buffer => Buffer.from(inputView.subarray(0, Atomics.load(counter, 1)))
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { mark: WORKER_MARK, job, shared },
    resourceLimits: { maxOldGenerationSizeMb: isolation.maxHeapMb ?? 1024 },
  })
  return new Promise((resolve) => {
    let settled = false
    let last = -1
    let idleTicks = 0
    const finish = (result: { reply?: WorkerReply; failure?: Finding }): void => {
      if (settled) return
      settled = true
      clearInterval(timer)
      void worker.terminate()
      resolve(result)
    }
    const failure = (kind: Finding['kind'], message: string): Finding => {
      const input = current()
      return { kind, message, inputBase64: input.toString('base64'), inputBytes: input.length }
    }
    const timer = setInterval(() => {
      const now = Atomics.load(counter, 0)
      if (now !== last) {
        last = now
        idleTicks = 0
        return
      }
      if (++idleTicks * tickMs >= stallMs)
        finish({ failure: failure('hang', `no progress for ${stallMs} ms on one input`) })
    }, tickMs)
    worker.on('message', (reply: WorkerReply) =>
      finish(reply.mode === 'error' ? { failure: failure('crash', reply.message) } : { reply }),
    )
    worker.on('error', (err: Error & { code?: string }) => {
      const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
      finish({ failure: failure(oom ? 'memory' : 'crash', `${err.name}: ${err.message}`) })
    })
    worker.on('exit', (code) =>
      finish({
        failure: failure(
          'crash',
          `worker exited with ${code} before reporting (a promise that never settled?)`,
        ),
      }),
    )
  })
}

async function workerMain(data: { job: WorkerJob; shared: SharedArrayBuffer }): Promise<void> {
  const progress: Progress = {
    counter: new Int32Array(data.shared, 0, 2),
    input: new Uint8Array(data.shared, 8),
  }
  const unhandledRejections: string[] = []
  process.on('unhandledRejection', (reason) => {
    if (unhandledRejections.length < 10)
      unhandledRejections.push(
        reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason),
      )
  })
  const { job } = data
  let reply: WorkerReply
  try {
    if (job.mode === 'fuzz') {
      const report = await fuzzInProcess(job.options, progress)
      // let stray promises settle before reporting them
      await new Promise((r) => setImmediate(r))
      reply = { mode: 'fuzz', report, unhandledRejections }
    } else {
      const results = await replayInProcess(job.target, job.files, progress)
      await new Promise((r) => setImmediate(r))
      reply = { mode: 'replay', results, unhandledRejections }
    }
  } catch (err) {
    // the harness itself failed (a generator, fast-check): reported with the input being run
    const e = err instanceof Error ? err : new Error(String(err))
    reply = { mode: 'error', message: `harness: ${e.name}: ${e.message}\n${e.stack ?? ''}` }
  }
  parentPort?.postMessage(reply)
}

if (!isMainThread && (workerData as { mark?: string } | null)?.mark === WORKER_MARK) {
  void workerMain(workerData as { job: WorkerJob; shared: SharedArrayBuffer })
}

// ---------------------------------------------------------------------------------------------
// The regression corpus: test/fixtures/fuzz-corpus/<target>/<file>.

/** Corpus files of a target (README.md excluded), sorted. */
export function corpusFiles(name: FuzzTargetName): string[] {
  const dir = join(FUZZ_CORPUS_DIR, name)
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  return entries
    .filter((f) => !f.startsWith('.') && f !== 'README.md')
    .sort()
    .map((f) => join(dir, f))
}

/** Seed for the fuzz tests: FUZZ_SEED when set (exploring), else the fixed one. */
export function fuzzSeed(): number {
  const env = process.env['FUZZ_SEED']
  return env !== undefined && /^-?\d+$/.test(env) ? Number(env) | 0 : DEFAULT_FUZZ_SEED
}

/** One line per finding, for an assertion message. */
export function describeFindings(findings: readonly Finding[]): string {
  return findings
    .map(
      (f) =>
        `${f.kind} (${f.inputBytes} bytes, seed ${f.seed ?? '-'}, path ${f.path ?? '-'}): ${f.message}\n  input base64: ${f.inputBase64.slice(0, 400)}`,
    )
    .join('\n')
}

// ---------------------------------------------------------------------------------------------
// Generic mutation operators over bytes and text.

/** One mutation; positions and sizes are taken modulo the current input when applied. */
export interface Mutation {
  op: number
  a: number
  b: number
  c: number
  bytes: Uint8Array
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.nat(),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  bytes: fc.uint8Array({ maxLength: 12 }),
})

const INTERESTING_BYTES = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x1f, 0x20, 0x22, 0x24, 0x30, 0x31, 0x3d, 0x5c, 0x7b,
  0x7d, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0xa0, 0xa1, 0xa3, 0xc0, 0xfe, 0xff,
]

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))

/** Byte-level mutations: flips, interesting bytes, truncation, deletion, insertion, repeats. */
export function mutateBytes(input: Uint8Array, m: Mutation, maxBytes: number): Uint8Array {
  const len = input.length
  const at = len === 0 ? 0 : m.a % len
  let out: Uint8Array
  switch (m.op % 10) {
    case 0: {
      out = Uint8Array.from(input)
      if (len > 0) out[at] = out[at]! ^ (1 << (m.b % 8))
      break
    }
    case 1: {
      out = Uint8Array.from(input)
      if (len > 0) out[at] = INTERESTING_BYTES[m.b % INTERESTING_BYTES.length]!
      break
    }
    case 2:
      out = input.subarray(0, m.a % (len + 1))
      break
    case 3:
      out = concat(input.subarray(0, at), input.subarray(at + 1 + (m.b % 32)))
      break
    case 4:
      out = concat(input.subarray(0, m.a % (len + 1)), m.bytes, input.subarray(m.a % (len + 1)))
      break
    case 5: {
      const slice = input.subarray(at, at + 1 + (m.b % 64))
      const dest = m.c % (len + 1)
      const copies = 1 + (m.c % 4)
      out = concat(
        input.subarray(0, dest),
        ...Array<Uint8Array>(copies).fill(slice),
        input.subarray(dest),
      )
      break
    }
    case 6: {
      out = Uint8Array.from(input)
      for (let i = 0; i < 1 + (m.b % 8) && at + i < len; i++) out[at + i] = (m.c >> (i % 4)) & 0xff
      break
    }
    case 7: {
      const x = at
      const y = len === 0 ? 0 : m.b % len
      const n = Math.min(1 + (m.c % 16), len - Math.max(x, y))
      out = Uint8Array.from(input)
      if (n > 0 && x !== y) {
        const tmp = out.slice(x, x + n)
        out.copyWithin(x, y, y + n)
        out.set(tmp, y)
      }
      break
    }
    case 8:
      out = concat(input, m.bytes)
      break
    default: {
      out = Uint8Array.from(input)
      out.fill(0, at, at + 1 + (m.b % 16))
      break
    }
  }
  return out.length > maxBytes ? out.subarray(0, maxBytes) : out
}

/** Text mutations with a dictionary of tokens the grammar cares about. */
export function mutateText(
  input: string,
  m: Mutation,
  dictionary: readonly string[],
  maxChars: number,
): string {
  const len = input.length
  const at = len === 0 ? 0 : m.a % (len + 1)
  const token = dictionary[m.b % dictionary.length] ?? ''
  let out: string
  switch (m.op % 8) {
    case 0:
      out = input.slice(0, at) + token + input.slice(at)
      break
    case 1:
      out = input.slice(0, at) + input.slice(at + 1 + (m.c % 24))
      break
    case 2: {
      const slice = input.slice(at, at + 1 + (m.c % 80))
      out = input.slice(0, at) + slice.repeat(2 + (m.b % 6)) + input.slice(at)
      break
    }
    case 3:
      out = input.slice(0, at) + token + input.slice(at + 1 + (m.c % 8))
      break
    case 4:
      out = input.slice(0, at)
      break
    case 5:
      out =
        input.slice(0, at) +
        String.fromCodePoint(INTERESTING_CODEPOINTS[m.c % INTERESTING_CODEPOINTS.length]!) +
        input.slice(at)
      break
    case 6: {
      // byte-level mutation of the UTF-8, read back leniently (may produce U+FFFD)
      out = Buffer.from(
        mutateBytes(Buffer.from(input, 'utf8'), { ...m, op: m.c }, maxChars * 4),
      ).toString('utf8')
      break
    }
    default: {
      const other = len === 0 ? 0 : m.c % len
      const n = 1 + (m.b % 16)
      out = input.slice(0, at) + input.slice(other, other + n) + input.slice(at)
      break
    }
  }
  return out.length > maxChars ? out.slice(0, maxChars) : out
}

const INTERESTING_CODEPOINTS = [
  0x00, 0x09, 0x0a, 0x0d, 0x22, 0x24, 0x5c, 0x7b, 0x7d, 0x85, 0xa0, 0xfeff, 0x2028, 0xfffd, 0xd800,
  0x1f600, 0x10ffff, 0x7f, 0x3000,
]

// ---------------------------------------------------------------------------------------------
// DER structure: a lenient tree for structure-aware mutations that re-encode valid lengths.

interface DerNode {
  tag: number
  /** Constructed content, or primitive content that itself parsed as DER (OCTET/BIT STRING). */
  children?: DerNode[]
  /** For a BIT STRING that wraps DER: its unused-bits byte. */
  bitPrefix?: boolean
  value?: Uint8Array
}

function readHeader(b: Uint8Array, at: number, end: number) {
  if (at + 2 > end) return undefined
  const tag = b[at]!
  if ((tag & 0x1f) === 0x1f) return undefined
  const first = b[at + 1]!
  let len = first
  let start = at + 2
  if (first >= 0x80) {
    const n = first & 0x7f
    if (n === 0 || n > 3 || at + 2 + n > end) return undefined
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + b[at + 2 + i]!
    start = at + 2 + n
  }
  if (start + len > end) return undefined
  return { tag, start, end: start + len }
}

function parseDerNodes(
  b: Uint8Array,
  start: number,
  end: number,
  depth: number,
): DerNode[] | undefined {
  if (depth > 24) return undefined
  const out: DerNode[] = []
  for (let at = start; at < end;) {
    const h = readHeader(b, at, end)
    if (h === undefined) return undefined
    const value = b.subarray(h.start, h.end)
    if ((h.tag & 0x20) !== 0) {
      const children = parseDerNodes(b, h.start, h.end, depth + 1)
      if (children === undefined) return undefined
      out.push({ tag: h.tag, children })
    } else if (h.tag === 0x04 && value.length > 1 && (value[0] === 0x30 || value[0] === 0x04)) {
      const children = parseDerNodes(b, h.start, h.end, depth + 1)
      out.push(children === undefined ? { tag: h.tag, value } : { tag: h.tag, children })
    } else if (h.tag === 0x03 && value.length > 2 && value[0] === 0 && value[1] === 0x30) {
      const children = parseDerNodes(b, h.start + 1, h.end, depth + 1)
      out.push(
        children === undefined ? { tag: h.tag, value } : { tag: h.tag, children, bitPrefix: true },
      )
    } else out.push({ tag: h.tag, value })
    at = h.end
  }
  return out
}

function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n)
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

function encodeDer(node: DerNode): Uint8Array {
  const content =
    node.children !== undefined
      ? concat(
          ...(node.bitPrefix === true ? [Uint8Array.of(0)] : []),
          ...node.children.map(encodeDer),
        )
      : (node.value ?? new Uint8Array())
  return concat(Uint8Array.of(node.tag), encodeLength(content.length), content)
}

function flatten(nodes: DerNode[], into: { parent: DerNode[]; index: number }[] = []) {
  nodes.forEach((n, index) => {
    into.push({ parent: nodes, index })
    if (n.children !== undefined) flatten(n.children, into)
  })
  return into
}

const DER_TAGS = [
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x24, 0x30, 0x31, 0x80, 0x81,
  0x82, 0x86, 0xa0, 0xa1, 0xa2, 0xa3, 0x00, 0x1e, 0x1f, 0xff,
]

const cloneNode = (n: DerNode): DerNode => ({
  ...n,
  ...(n.children === undefined ? {} : { children: n.children.map(cloneNode) }),
})

/**
 * Structure-aware DER mutations that keep every length right (so the parser goes deep): delete,
 * duplicate, swap or re-tag an element, wrap it (deeply), replace or grow a primitive value.
 * Raw length tampering (wrong, indefinite, non-minimal, huge) breaks the encoding on purpose.
 */
export function mutateDer(input: Uint8Array, m: Mutation, maxBytes: number): Uint8Array {
  const op = m.op % 12
  if (op >= 9) return tamperLength(input, m, maxBytes)
  const roots = parseDerNodes(input, 0, input.length, 0)
  if (roots === undefined || roots.length === 0) return mutateBytes(input, m, maxBytes)
  const tree = roots.map(cloneNode)
  const all = flatten(tree)
  const pick = all[m.a % all.length]!
  const node = pick.parent[pick.index]!
  switch (op) {
    case 0:
      pick.parent.splice(pick.index, 1)
      break
    case 1:
      pick.parent.splice(
        pick.index,
        0,
        ...Array.from({ length: 1 + (m.b % 3) }, () => cloneNode(node)),
      )
      break
    case 2: {
      const j = (pick.index + 1 + (m.b % 3)) % pick.parent.length
      pick.parent[pick.index] = pick.parent[j]!
      pick.parent[j] = node
      break
    }
    case 3:
      node.tag = DER_TAGS[m.b % DER_TAGS.length]!
      break
    case 4: {
      let wrapped: DerNode = node
      for (let i = 0; i < 1 + (m.c % 40); i++)
        wrapped = { tag: [0x30, 0x31, 0xa0, 0x04][(m.b + i) % 4]!, children: [wrapped] }
      pick.parent[pick.index] = wrapped
      break
    }
    case 5:
      pick.parent[pick.index] = { tag: node.tag & ~0x20, value: m.bytes }
      break
    case 6:
      pick.parent[pick.index] = {
        tag: node.tag & ~0x20,
        value: new Uint8Array(Buffer.alloc(m.b % 600, m.c & 0xff)),
      }
      break
    case 7:
      // an element from elsewhere in the tree put here (e.g. a name where a key belongs)
      pick.parent[pick.index] = cloneNode(
        all[m.c % all.length]!.parent[all[m.c % all.length]!.index]!,
      )
      break
    default:
      if (node.children !== undefined) node.children.reverse()
      else if (node.value !== undefined && node.value.length > 0) {
        const v = Uint8Array.from(node.value)
        v[m.b % v.length] = v[m.b % v.length]! ^ (1 << (m.c % 8))
        node.value = v
      }
      break
  }
  const out = concat(...tree.map(encodeDer))
  return out.length > maxBytes ? out.subarray(0, maxBytes) : out
}

/** Rewrites one element's length field (the rest of the bytes stay as they are). */
function tamperLength(input: Uint8Array, m: Mutation, maxBytes: number): Uint8Array {
  const headers: number[] = []
  const walk = (start: number, end: number, depth: number): void => {
    for (let at = start; at < end && depth < 24 && headers.length < 4096;) {
      const h = readHeader(input, at, end)
      if (h === undefined) return
      headers.push(at)
      if ((h.tag & 0x20) !== 0) walk(h.start, h.end, depth + 1)
      at = h.end
    }
  }
  walk(0, input.length, 0)
  if (headers.length === 0) return mutateBytes(input, m, maxBytes)
  const at = headers[m.a % headers.length]!
  const h = readHeader(input, at, input.length)!
  const len = h.end - h.start
  const forms: Uint8Array[] = [
    encodeLength(Math.max(0, len + 1 + (m.c % 5))),
    encodeLength(Math.max(0, len - 1 - (m.c % 5))),
    Uint8Array.of(0x80),
    Uint8Array.of(0x84, 0xff, 0xff, 0xff, 0xff),
    Uint8Array.of(0x84, 0x00, 0x00, (len >> 8) & 0xff, len & 0xff),
    Uint8Array.of(0x81, Math.min(len, 0x7f)),
    Uint8Array.of(0x85, 0x01, 0x00, 0x00, 0x00, 0x00),
    Uint8Array.of(0x00),
    Uint8Array.of(0xff),
    Uint8Array.of(0x83, 0x7f, 0xff, 0xff),
  ]
  const form = forms[m.b % forms.length]!
  const out = concat(input.subarray(0, at + 1), form, input.subarray(h.start))
  return out.length > maxBytes ? out.subarray(0, maxBytes) : out
}

/** Picks a seed and applies 0..maxMutations mutations with `apply`. */
export function mutated<T>(
  seeds: readonly T[],
  apply: (value: T, m: Mutation) => T,
  maxMutations = 4,
): fc.Arbitrary<T> {
  return fc
    .tuple(fc.nat(seeds.length - 1), fc.array(mutationArb, { maxLength: maxMutations }))
    .map(([i, ms]) => ms.reduce<T>((v, m) => apply(v, m), seeds[i]!))
}

const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'))

// ---------------------------------------------------------------------------------------------
// Fixture seeds.

interface HclCase {
  case: string
}

let hclSeedCache: string[] | undefined
/** Every `plugin_data.txt` and plugin_data_file of the HCL fixture corpus. */
export function hclSeeds(): string[] {
  if (hclSeedCache !== undefined) return hclSeedCache
  const index = JSON.parse(readFileSync(join(HCL_FIXTURES_DIR, 'cases.json'), 'utf8')) as {
    cases: HclCase[]
  }
  const out: string[] = []
  for (const c of index.cases) {
    const dir = join(HCL_FIXTURES_DIR, c.case)
    for (const f of readdirSync(dir)) {
      if (f === 'plugin_data.txt' || f.startsWith('plugin_data_file'))
        out.push(readFileSync(join(dir, f), 'utf8'))
    }
  }
  hclSeedCache = out
  return out
}

/** The attested documents of test/fixtures/azure: IMDS response and its facts. */
export interface AzureDocumentFixture {
  name: string
  body: { encoding: string; signature: string }
  der: Uint8Array
}

let docCache: AzureDocumentFixture[] | undefined
export function azureDocuments(): AzureDocumentFixture[] {
  if (docCache !== undefined) return docCache
  const dir = join(AZURE_FIXTURES_DIR, 'attested-documents')
  docCache = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.meta.json'))
    .sort()
    .map((f) => {
      const body = JSON.parse(readFileSync(join(dir, f), 'utf8')) as AzureDocumentFixture['body']
      return { name: f.replace(/\.json$/, ''), body, der: utf8Base64(body.signature) }
    })
  return docCache
}

const utf8Base64 = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, 'base64'))

/** DER of every PEM certificate in test/fixtures/azure (roots, intermediates). */
export function azureCertificateDers(): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const sub of ['roots', 'intermediates']) {
    const dir = join(AZURE_FIXTURES_DIR, sub)
    for (const f of readdirSync(dir).sort()) {
      const pem = readFileSync(join(dir, f), 'utf8')
      for (const m of pem.matchAll(
        /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g,
      ))
        out.push(utf8Base64((m[1] ?? '').replace(/\s+/g, '')))
    }
  }
  return out
}

/** The certificates inside each document's bag (the real IMDS leaves). */
export function azureLeafDers(): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const d of azureDocuments()) {
    const roots = parseDerNodes(d.der, 0, d.der.length, 0)
    // ContentInfo → [0] → SignedData → [0] certificates
    const sd = roots?.[0]?.children?.[1]?.children?.[0]?.children ?? []
    const bag = sd.find((n) => n.tag === 0xa0)
    for (const c of bag?.children ?? []) out.push(encodeDer(c))
  }
  return out
}

/** Agent-path templates of the Go parity corpus. */
export function templateSeeds(): string[] {
  const parity = JSON.parse(
    readFileSync(join(REPO_ROOT, 'test', 'shared', 'go', 'template', 'go-parity.json'), 'utf8'),
  ) as { cases: { tmpl: string }[] }
  return [...new Set(parity.cases.map((c) => c.tmpl))].sort()
}

// ---------------------------------------------------------------------------------------------
// The targets.

export async function loadTarget(name: FuzzTargetName): Promise<FuzzTarget> {
  switch (name) {
    case 'hcl-native':
      return hclTarget(name, false)
    case 'hcl-json':
      return hclTarget(name, true)
    case 'msi-payload':
      return msiPayloadTarget()
    case 'imds-payload':
      return imdsPayloadTarget()
    case 'jwt':
      return jwtTarget()
    case 'der':
      return derTarget()
    case 'pkcs7':
      return pkcs7Target()
    case 'certificate':
      return certificateTarget()
    case 'verify-document':
      return verifyDocumentTarget()
    case 'agent-path':
      return agentPathTarget()
  }
}

async function pluginErrorLabel(): Promise<(err: unknown) => string | undefined> {
  const { PluginError } = await import('../../shared/plugin/index.js')
  return (err) => (err instanceof PluginError ? `PluginError:${err.reason}` : undefined)
}

// --- HCL ---------------------------------------------------------------------------------------

const HCL_MAX_CHARS = 16 * 1024

const HCL_DICTIONARY = [
  '{',
  '}',
  '[',
  ']',
  '=',
  ',',
  '"',
  '\\"',
  '\\u00e9',
  '\\U0001F600',
  '\\x',
  '\\',
  '${',
  '}',
  '$${x}',
  '<<EOT\nx\nEOT\n',
  '<<-EOT\n  x\n  EOT\n',
  '<<EOT',
  'EOT',
  '#',
  '//',
  '/*',
  '*/',
  '\n',
  '\r\n',
  ' ',
  '\t',
  '0x1F',
  '017',
  '08',
  '1e309',
  '-1',
  '1.5',
  '.5',
  '1e',
  '0x',
  'true',
  'false',
  'null',
  'tenants',
  'agent_path_template',
  'allowed_vm_tags',
  'resource_id',
  'tenant_domain',
  'subscription_id',
  'app_id',
  'app_secret',
  'endpoints',
  'cloud_environment',
  'secret_auth',
  'token_auth',
  'tenant_id',
  '"a" "b" {',
  'x = ',
  '= {',
  '{}',
  '[]',
  '[,]',
  ',,',
  ':',
  '"00000000-0000-0000-0000-000000000000"',
  '{{ .PluginName }}',
  '"\u0000"',
  '\u00a0',
  '\ufeff',
]

/** Every field name in a schema tree (the keys a near-valid config uses). */
function schemaKeys(schema: unknown, into = new Set<string>()): Set<string> {
  const s = schema as { kind?: string; fields?: Record<string, unknown>; of?: unknown }
  if (s.fields !== undefined)
    for (const [k, v] of Object.entries(s.fields)) {
      into.add(k)
      schemaKeys(v, into)
    }
  if (s.of !== undefined) schemaKeys(s.of, into)
  return into
}

/** A value of HCL v1's data model, printed natively or as JSON. */
type HclGen =
  | { t: 'str'; v: string }
  | { t: 'heredoc'; v: string; indent: boolean }
  | { t: 'num'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'list'; v: HclGen[] }
  | {
      t: 'obj'
      v: { key: string; quoted: boolean; block: boolean; labels: string[]; value: HclGen }[]
    }

function hclGenArb(keys: readonly string[], strings: readonly string[]): fc.Arbitrary<HclGen> {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...keys) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,12}$/) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  )
  const str = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...strings) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  )
  const num = fc.oneof(
    fc.integer().map(String),
    fc.constantFrom(
      '0x1F',
      '0X7fffffffffffffff',
      '0x8000000000000000',
      '017',
      '09',
      '1e3',
      '1.5e-3',
      '-0',
      '99999999999999999999',
      '1e400',
      '0.000001',
      '-1',
      '+1',
      '0b1',
      '1_000',
    ),
    fc.double({ noNaN: true }).map(String),
  )
  const { tree } = fc.letrec<{ tree: HclGen; obj: HclGen }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      str.map((v): HclGen => ({ t: 'str', v })),
      fc.record({ v: str, indent: fc.boolean() }).map((r): HclGen => ({ t: 'heredoc', ...r })),
      num.map((v): HclGen => ({ t: 'num', v })),
      fc.boolean().map((v): HclGen => ({ t: 'bool', v })),
      fc.array(tie('tree'), { maxLength: 4 }).map((v): HclGen => ({ t: 'list', v })),
      tie('obj'),
    ),
    obj: fc
      .array(
        fc.record({
          key,
          quoted: fc.boolean(),
          block: fc.boolean(),
          labels: fc.array(key, { maxLength: 2 }),
          value: tie('tree'),
        }),
        { maxLength: 5 },
      )
      .map((v): HclGen => ({ t: 'obj', v })),
  }))
  return tree
}

const goQuote = (s: string): string =>
  `"${[...s]
    .map((ch) => {
      const cp = ch.codePointAt(0)!
      if (ch === '"') return '\\"'
      if (ch === '\\') return '\\\\'
      if (ch === '\n') return '\\n'
      if (cp < 0x20) return `\\u${cp.toString(16).padStart(4, '0')}`
      return ch
    })
    .join('')}"`

function printHcl(g: HclGen, indent = ''): string {
  switch (g.t) {
    case 'str':
      return goQuote(g.v)
    case 'heredoc':
      return `<<${g.indent ? '-' : ''}EOT\n${g.v.replace(/EOT/g, 'E0T')}\n${g.indent ? '  ' : ''}EOT\n`
    case 'num':
      return g.v
    case 'bool':
      return String(g.v)
    case 'list':
      return `[${g.v.map((x) => printHcl(x, indent)).join(', ')}]`
    case 'obj': {
      const inner = indent + '  '
      const items = g.v.map((e) => {
        const k = e.quoted ? goQuote(e.key) : e.key
        if (e.block && e.value.t === 'obj')
          return `${inner}${k} ${e.labels.map(goQuote).join(' ')} ${printHcl(e.value, inner)}`
        return `${inner}${k} = ${printHcl(e.value, inner)}`
      })
      return `{\n${items.join('\n')}\n${indent}}`
    }
  }
}

/** The top-level body: an object's items without braces. */
function printHclBody(g: HclGen): string {
  if (g.t !== 'obj') return `x = ${printHcl(g)}`
  const text = printHcl(g)
  return text.slice(1, -1)
}

function printJson(g: HclGen): string {
  switch (g.t) {
    case 'str':
    case 'heredoc':
      return JSON.stringify(g.v)
    case 'num':
      return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(g.v) ? g.v : JSON.stringify(g.v)
    case 'bool':
      return String(g.v)
    case 'list':
      return `[${g.v.map(printJson).join(',')}]`
    case 'obj':
      return `{${g.v.map((e) => `${JSON.stringify(e.key)}:${printJson(e.value)}`).join(',')}}`
  }
}

function stringLeaves(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') into.add(value)
  else if (Array.isArray(value)) value.forEach((v) => stringLeaves(v, into))
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      into.add(k)
      stringLeaves(v, into)
    }
}

async function hclTarget(name: FuzzTargetName, json: boolean): Promise<FuzzTarget> {
  const hcl = await import('../../shared/go/hcl/index.js')
  const { Report } = await import('../../shared/plugin/index.js')
  const msiServer = await import('../../server-plugin/azure-msi/config.js')
  const imdsServer = await import('../../server-plugin/azure-imds/config.js')
  const msiAgent = await import('../../agent-plugin/azure-msi/config.js')
  const imdsAgent = await import('../../agent-plugin/azure-imds/config.js')
  const builders = [
    msiServer.buildConfig,
    imdsServer.buildConfig,
    msiAgent.buildConfig,
    imdsAgent.buildConfig,
  ] as ((
    hcl: string,
    core: { trustDomain: string },
    report: InstanceType<typeof Report>,
  ) => unknown)[]
  const keys = new Set<string>()
  for (const s of [
    msiServer.RAW_CONFIG_SCHEMA,
    imdsServer.RAW_CONFIG_SCHEMA,
    msiAgent.RAW_CONFIG_SCHEMA,
    imdsAgent.RAW_CONFIG_SCHEMA,
  ])
    schemaKeys(s, keys)
  const seeds = hclSeeds()
  const strings = new Set<string>([
    '',
    '5m',
    '-1s',
    '1h30m',
    '9999999h',
    'AzurePublicCloud',
    'AzureUSGovernmentCloud',
    'https://127.0.0.1:1/',
    'http://[::1]:99999',
    'file:///etc/passwd',
    '/{{ .PluginName }}/{{ .TenantID }}/{{ .PrincipalID }}',
    '{{ range . }}{{ end }}',
    'contoso.onmicrosoft.com',
    'Contoso.ONMICROSOFT.com',
    '0a1b2c3d-1111-2222-3333-444455556666',
  ])
  for (const c of readdirSync(HCL_FIXTURES_DIR)) {
    try {
      stringLeaves(
        JSON.parse(readFileSync(join(HCL_FIXTURES_DIR, c, 'decoded.json'), 'utf8')),
        strings,
      )
    } catch {
      // cases without decoded.json (errors)
    }
  }
  const keyList = [...keys].sort()
  const stringList = [...strings].sort()
  const gen = hclGenArb(keyList, stringList)
  const dictionary = [...HCL_DICTIONARY, ...keyList]
  const textSeeds = seeds.filter((s) => (s.trimStart().startsWith('{') ? json : !json))
  const structured = json
    ? gen.map((g) =>
        printJson(
          g.t === 'obj'
            ? g
            : { t: 'obj', v: [{ key: 'x', quoted: true, block: false, labels: [], value: g }] },
        ),
      )
    : gen.map(printHclBody)
  // nesting around MAX_NESTING_DEPTH (64), closed or not
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 90 }), fc.nat(2), fc.boolean())
    .map(([n, form, closed]) => {
      const shut = (s: string): string => (closed ? s.repeat(n) : '')
      if (json)
        return form === 0
          ? `{"a":${'['.repeat(n)}1${shut(']')}}`
          : `${'{"a":'.repeat(n)}1${shut('}')}`
      if (form === 0) return `a = ${'{ b = '.repeat(n)}1${shut(' }')}`
      if (form === 1) return `${'a "b" { '.repeat(n)}${shut('}')}`
      return `a = ${'['.repeat(n)}1${shut(']')}`
    })
  const text = fc.oneof(
    {
      weight: 4,
      arbitrary: mutated(textSeeds.length > 0 ? textSeeds : [''], (s, m) =>
        mutateText(s, m, dictionary, HCL_MAX_CHARS),
      ),
    },
    { weight: 3, arbitrary: structured },
    {
      weight: 2,
      arbitrary: fc
        .tuple(structured, fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
        .map(([s, ms]) => ms.reduce((v, m) => mutateText(v, m, dictionary, HCL_MAX_CHARS), s)),
    },
    { weight: 1, arbitrary: deep },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.constantFrom(...dictionary), { maxLength: 40 })
        .map((parts) => (json ? '{' : '') + parts.join(json ? '' : ' ')),
    },
    {
      weight: 1,
      arbitrary: fc.string({ maxLength: 200, unit: 'binary' }).map((s) => (json ? `{${s}` : s)),
    },
  )
  return {
    name,
    inputs: text.map(utf8),
    run(input) {
      const source = Buffer.from(input).toString('utf8')
      // buildConfig runs whether or not the text parses, as Configure would; then the parse's
      // own outcome: its typed error, or a tree proportional to the text
      let syntaxError: unknown
      let tree: unknown
      try {
        tree = hcl.parseHcl(source)
      } catch (err) {
        if (!(err instanceof hcl.HclSyntaxError)) throw err
        syntaxError = err
      }
      const configs = builders.map((build) => {
        const report = new Report()
        const config = build(source, { trustDomain: 'example.org' }, report)
        if (config === undefined && report.errors.length === 0)
          throw new Error('buildConfig returned nothing without reporting an error')
        return config
      })
      if (syntaxError !== undefined) throw syntaxError
      const treeSize = sizeOf(tree)
      if (treeSize > 8 * input.length + 1024)
        throw new Error(`parse tree of size ${treeSize} for ${input.length} bytes`)
      return configs
    },
    okLabel: (configs) =>
      `ok:built-${(configs as unknown[]).filter((c) => c !== undefined).length}-of-4`,
    typed: (err) =>
      err instanceof hcl.HclSyntaxError ? `HclSyntaxError:${err.reason}` : undefined,
    // a config holds its defaults (clouds, endpoints: a few KiB) plus what the text said
    maxOutput: (n) => 16 * n + 256 * 1024,
  }
}

// --- payloads ----------------------------------------------------------------------------------

const PAYLOAD_MAX_BYTES = 80 * 1024

const JSON_DICTIONARY = [
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  '"',
  'null',
  'true',
  'false',
  '0',
  '-0',
  '1e999',
  '\\u0000',
  '\\ud800',
  '"token"',
  '"Token"',
  '"TOKEN"',
  '"document"',
  '"metadata"',
  '"encoding"',
  '"signature"',
  '"agentDomain"',
  '"vmssName"',
  '"resourceId"',
  '"__proto__"',
  '"constructor"',
  '{"__proto__":{}}',
  ' ',
  '\n',
]

/** Random JSON-ish values whose keys are mostly the payload's own (any case). */
function payloadJsonArb(keys: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    fc.constantFrom(...keys),
    fc.constantFrom(...keys).map((k) => k.toUpperCase()),
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'),
    fc.string({ maxLength: 8 }),
  )
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.double(),
      fc.string({ maxLength: 60, unit: 'binary' }),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 5 }),
    ),
  }))
  return value.map((v) => JSON.stringify(v) ?? 'null')
}

async function msiPayloadTarget(): Promise<FuzzTarget> {
  const { parseMsiPayload, encodeMsiPayload } = await import('../../shared/azure/payloads.js')
  const label = await pluginErrorLabel()
  const seeds = [
    encodeMsiPayload('eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2ln'),
    utf8('{"Token":"a","token":"b","TOKEN":null}'),
    utf8('null'),
    utf8('{"token":"\\u003c\\u2028x"}'),
  ]
  return {
    name: 'msi-payload',
    inputs: fc.oneof(
      mutated(seeds, (b, m) => mutateBytes(b, m, PAYLOAD_MAX_BYTES)),
      mutated(
        seeds.map((s) => Buffer.from(s).toString('utf8')),
        (s, m) => mutateText(s, m, JSON_DICTIONARY, PAYLOAD_MAX_BYTES),
      ).map(utf8),
      payloadJsonArb(['token']).map(utf8),
      fc.string({ maxLength: 100 }).map((t) => encodeMsiPayload(t)),
      fc.uint8Array({ maxLength: 200 }),
      fc.integer({ min: 60, max: 70 }).map((k) => utf8(`{"token":"${'x'.repeat(k * 1024)}"}`)),
    ),
    run: (input) => parseMsiPayload(input),
    typed: label,
    maxOutput: (n) => 2 * n + 256,
  }
}

async function imdsPayloadTarget(): Promise<FuzzTarget> {
  const { parseImdsPayload, encodeImdsPayload } = await import('../../shared/azure/imds-payload.js')
  const label = await pluginErrorLabel()
  const seeds = azureDocuments().map((d) =>
    encodeImdsPayload({
      document: d.body,
      metadata: {
        agentDomain: 'contoso.onmicrosoft.com',
        vmssName: d.name.length % 2 === 0 ? null : 'scale',
        resourceId: null,
      },
    }),
  )
  seeds.push(
    utf8('{"Document":{"ENCODING":"pkcs7","signature":null},"metadata":{"vmssName":null}}'),
  )
  const keys = [
    'document',
    'metadata',
    'encoding',
    'signature',
    'agentDomain',
    'vmssName',
    'resourceId',
  ]
  return {
    name: 'imds-payload',
    inputs: fc.oneof(
      mutated(seeds, (b, m) => mutateBytes(b, m, PAYLOAD_MAX_BYTES)),
      mutated(
        seeds.map((s) => Buffer.from(s).toString('utf8')),
        (s, m) => mutateText(s, m, JSON_DICTIONARY, PAYLOAD_MAX_BYTES),
      ).map(utf8),
      payloadJsonArb(keys).map(utf8),
      fc
        .record({
          encoding: fc.string({ maxLength: 10 }),
          signature: fc.string({ maxLength: 100 }),
          agentDomain: fc.string({ maxLength: 30 }),
          vmssName: fc.option(fc.string({ maxLength: 20 })),
          resourceId: fc.option(fc.string({ maxLength: 40 })),
        })
        .map((r) =>
          encodeImdsPayload({
            document: { encoding: r.encoding, signature: r.signature },
            metadata: {
              agentDomain: r.agentDomain,
              vmssName: r.vmssName,
              resourceId: r.resourceId,
            },
          }),
        ),
      fc.uint8Array({ maxLength: 200 }),
    ),
    run: (input) => parseImdsPayload(input),
    typed: label,
    maxOutput: (n) => 2 * n + 512,
  }
}

// --- JWT through the azure_msi server attestor ---------------------------------------------------

const FUZZ_KID = 'fuzz-key-1'
let fuzzKey: { privateKey: KeyObject; jwk: Record<string, unknown> } | undefined

/** An RSA key made once per process: tokens are really signed, so the claims checks are reached. */
function fuzzSigningKey() {
  if (fuzzKey === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    fuzzKey = {
      privateKey,
      jwk: { ...publicKey.export({ format: 'jwk' }), kid: FUZZ_KID, use: 'sig' },
    }
  }
  return fuzzKey
}

const b64url = (text: string | Uint8Array): string => Buffer.from(text).toString('base64url')

const JWT_DICTIONARY = [
  '.',
  '..',
  '=',
  '+',
  '/',
  '-',
  '_',
  'eyJ',
  'e30',
  'bnVsbA',
  'W10',
  'InRva2VuIg',
  ' ',
  '\n',
  '%',
  'AAAA',
  '.e30.',
  '"',
]

async function jwtTarget(): Promise<FuzzTarget> {
  const { createAttestor } = await import('../../server-plugin/azure-msi/attestor.js')
  const { encodeMsiPayload } = await import('../../shared/azure/payloads.js')
  const support = await import('./azure-msi.js')
  const label = await pluginErrorLabel()
  const { privateKey, jwk } = fuzzSigningKey()
  const config = support.serverConfig(`${support.BASIC_HCL}\nallowed_vm_tags = ["env", "role"]`)
  const signCompact = (header: string, payload: string): string => {
    const input = `${b64url(header)}.${b64url(payload)}`
    return `${input}.${b64url(rsaSign('sha256', Buffer.from(input), privateKey))}`
  }
  const claimNames = [
    'aud',
    'iss',
    'iat',
    'nbf',
    'exp',
    'appid',
    'azp',
    'idtyp',
    'oid',
    'sub',
    'tid',
    'ver',
    'xms_mirid',
    'xms_az_rid',
    'scp',
    'jti',
    'idp',
  ]
  const claimValue = fc.oneof(
    fc.constantFrom<unknown>(
      undefined,
      null,
      '',
      support.TENANT_ID,
      support.TENANT_ID.toUpperCase(),
      support.OTHER_TENANT_ID,
      support.PRINCIPAL_ID,
      support.ARM_AUD,
      [support.ARM_AUD],
      [support.ARM_AUD, 'api://other'],
      [],
      '2.0',
      '1.0',
      'app',
      'user',
      `https://sts.windows.net/${support.TENANT_ID}/`,
      `https://login.microsoftonline.com/${support.TENANT_ID}/v2.0`,
      support.vmId('frontend', 'blog'),
      support.vmId('frontend', 'blog').toLowerCase(),
      support.vmssId('rg', 'set'),
      support.uamiId('rg', 'id'),
      `/subscriptions/${support.SUBSCRIPTION_ID}/resourceGroups/x/providers/Microsoft.Compute/virtualMachineScaleSets/s/virtualMachines/0`,
      '/subscriptions//resourceGroups//providers/',
      support.NOW_S,
      support.NOW_S + 86_400,
      support.NOW_S - 10_000_000,
      1e300,
      -1,
      0.5,
      Number.MAX_SAFE_INTEGER,
    ),
    fc.jsonValue({ maxDepth: 2 }),
    fc.string({ maxLength: 80 }),
  )
  const claimEdits = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom(...claimNames), fc.string({ maxLength: 6 })), claimValue),
    {
      maxLength: 4,
    },
  )
  const randomHeader = fc.record({
    alg: fc.constantFrom<unknown>(
      'RS256',
      'RS256',
      'RS256',
      'RS384',
      'ES256',
      'PS256',
      'HS256',
      'none',
      '',
      'rs256',
      7,
    ),
    kid: fc.constantFrom<unknown>(FUZZ_KID, FUZZ_KID, 'other', '', undefined, 1, null),
    typ: fc.constantFrom<unknown>('JWT', undefined, 'at+jwt'),
    extra: fc.option(
      fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    ),
  })
  const header = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constant({
        alg: 'RS256' as unknown,
        kid: FUZZ_KID as unknown,
        typ: 'JWT' as unknown,
        extra: null,
      }),
    },
    { weight: 1, arbitrary: randomHeader },
  )
  const token = fc
    .record({
      header,
      edits: claimEdits,
      rawClaims: fc.oneof(
        { weight: 8, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
      ),
      signed: fc.constantFrom(true, true, true, false),
      mutations: fc.oneof(
        { weight: 2, arbitrary: fc.constant([]) },
        { weight: 1, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) },
      ),
    })
    .map((r) => {
      const claims = support.msiClaims(Object.fromEntries(r.edits))
      const h: Record<string, unknown> = {
        ...(r.header.extra ?? {}),
        alg: r.header.alg,
        kid: r.header.kid,
        typ: r.header.typ,
      }
      for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k]
      const headerText = JSON.stringify(h)
      const claimsText = r.rawClaims ?? JSON.stringify(claims)
      let compact = r.signed
        ? signCompact(headerText, claimsText)
        : `${b64url(headerText)}.${b64url(claimsText)}.${b64url('not a signature')}`
      for (const m of r.mutations) compact = mutateText(compact, m, JWT_DICTIONARY, 20 * 1024)
      return compact
    })
  const payload = fc.oneof(
    { weight: 12, arbitrary: token.map((t) => encodeMsiPayload(t)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          token,
          fc.constantFrom('Token', 'TOKEN', 'token'),
          fc.constantFrom('', ',"token":null', ',"extra":[1,2]'),
        )
        .map(([t, k, extra]) => utf8(`{"${k}":${JSON.stringify(t)}${extra}}`)),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 15, max: 18 })
        .map((k) =>
          encodeMsiPayload(`${b64url('{"alg":"RS256","kid":"x"}')}.${'A'.repeat(k * 1024)}.sig`),
        ),
    },
  )
  const io = {
    challenge: () => Promise.reject(new Error('azure_msi never challenges')),
    signal: new AbortController().signal,
    metadata: {},
  }
  const deps = support.testDeps()
  deps.keys.add(jwk)
  deps.arm.addVm({
    rg: 'frontend',
    name: 'blog',
    principalId: support.PRINCIPAL_ID,
    tags: { env: 'prod', role: 'web' },
    nics: [
      {
        name: 'nic',
        nsg: support.nsgId('frontend', 'webservers'),
        subnets: [support.subnetId('frontend', 'vnet', 'default')],
      },
    ],
  })
  const attestor = createAttestor(deps)
  return {
    name: 'jwt',
    inputs: payload,
    run: (input) => attestor.attest(input, config, io),
    typed: label,
    maxOutput: (n) => 4 * n + 16 * 1024,
  }
}

// --- DER, PKCS#7, certificates, documents ------------------------------------------------------

const DER_MAX_BYTES = 24 * 1024

function derInputs(seeds: readonly Uint8Array[], maxMutations = 3): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    {
      weight: 5,
      arbitrary: mutated(seeds, (b, m) => mutateDer(b, m, DER_MAX_BYTES), maxMutations),
    },
    {
      weight: 2,
      arbitrary: mutated(seeds, (b, m) => mutateBytes(b, m, DER_MAX_BYTES), maxMutations),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(0x30, 0x31, 0xa0, 0x04, 0x02, 0x06),
          fc.uint8Array({ maxLength: 64 }),
        )
        .map(([tag, body]) => concat(Uint8Array.of(tag), encodeLength(body.length), body)),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 128 }) },
  )
}

async function derTarget(): Promise<FuzzTarget> {
  const der = await import('../../server-plugin/azure-imds/der.js')
  const seeds = [...azureDocuments().map((d) => d.der), ...azureCertificateDers().slice(0, 4)]
  return {
    name: 'der',
    inputs: derInputs(seeds),
    run(input) {
      let elements = 0
      let oids = 0
      const walk = (
        tlv: { tag: number; start: number; valueStart: number; end: number },
        depth: number,
      ): void => {
        elements++
        if (tlv.tag === der.TAG.OID) {
          der.oidText(input, tlv)
          oids++
        }
        if ((tlv.tag & 0x20) !== 0 && depth < 64)
          for (const c of der.childrenOf(input, tlv)) walk(c, depth + 1)
      }
      walk(der.readTlv(input, 0, input.length), 0)
      return { elements, oids }
    },
    typed: (err) => (err instanceof der.DerError ? 'DerError' : undefined),
    maxOutput: () => 64,
  }
}

async function pkcs7Target(): Promise<FuzzTarget> {
  const doc = await import('../../server-plugin/azure-imds/document.js')
  const content = await import('../../server-plugin/azure-imds/content.js')
  const label = await pluginErrorLabel()
  return {
    name: 'pkcs7',
    inputs: derInputs(azureDocuments().map((d) => d.der)),
    run(input) {
      const signed = doc.parseSignedDocument({
        encoding: 'pkcs7',
        signature: Buffer.from(input).toString('base64'),
      })
      doc.verifyDocumentSignature(signed)
      const parsed = content.parseDocumentContent(signed.content)
      // the clock at the document's own creation, so an unmutated document passes every check
      const created = content.parseAzureTimestamp(parsed.createdOn)
      content.checkDocumentContent(parsed, {
        nonce: parsed.nonce,
        now: new Date((created?.getTime() ?? Date.UTC(2024, 0, 1)) + 60_000),
      })
      return { content: parsed, signer: signed.signer.fingerprint, bag: signed.bag.length }
    },
    typed: label,
    maxOutput: (n) => 2 * n + 1024,
  }
}

async function certificateTarget(): Promise<FuzzTarget> {
  const cert = await import('../../server-plugin/azure-imds/certificate.js')
  const leaf = await import('../../server-plugin/azure-imds/leaf.js')
  const label = await pluginErrorLabel()
  const seeds = [...azureLeafDers(), ...azureCertificateDers()]
  const pem = (der: Uint8Array): Uint8Array =>
    utf8(
      `junk\n-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`,
    )
  return {
    name: 'certificate',
    inputs: fc.oneof(
      { weight: 6, arbitrary: derInputs(seeds) },
      { weight: 1, arbitrary: derInputs(seeds, 2).map(pem) },
      {
        weight: 1,
        arbitrary: mutated(
          seeds.slice(0, 3).map((d) => Buffer.from(pem(d)).toString('latin1')),
          (s, m) =>
            mutateText(
              s,
              m,
              ['-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '\n', '=', '!'],
              32 * 1024,
            ),
        ).map((s) => new Uint8Array(Buffer.from(s, 'latin1'))),
      },
    ),
    run(input) {
      const c = cert.parseDerOrPem(input)
      // a Cert is a promise its facts are readable: chain building formats these dates
      if (Number.isNaN(c.notBefore.getTime()) || Number.isNaN(c.notAfter.getTime()))
        throw new Error('a certificate with an unreadable validity was accepted')
      const facts = {
        self: cert.namesIssuer(c, c),
        signed: cert.signedBy(c, c),
        valid: cert.validAt(c, new Date(Date.UTC(2025, 0, 1))),
      }
      leaf.checkSignerDomain(c, ['metadata.azure.com'])
      leaf.checkSignerUsage(c)
      return { ...c, x509: undefined, publicKey: undefined, facts }
    },
    typed: (err) =>
      err instanceof cert.CertificateParseError ? 'CertificateParseError' : label(err),
    maxOutput: (n) => 8 * n + 4096,
  }
}

async function verifyDocumentTarget(): Promise<FuzzTarget> {
  const { verifyAttestedDocument } =
    await import('../../server-plugin/azure-imds/verify-document.js')
  const { parseImdsPayload, encodeImdsPayload } = await import('../../shared/azure/imds-payload.js')
  const { parsePemCertificates } = await import('../../server-plugin/azure-imds/certificate.js')
  const { createAiaFetcher } = await import('../../server-plugin/azure-imds/aia.js')
  const roots = await import('../../server-plugin/azure-imds/roots.js')
  const label = await pluginErrorLabel()
  const docs = azureDocuments()
  // AIA answered from memory with every certificate of the fixtures, by its real download path
  const index = JSON.parse(readFileSync(join(AZURE_FIXTURES_DIR, 'index.json'), 'utf8')) as {
    certificates: { file: string; original_download_url: string }[]
  }
  const byPath = new Map<string, Buffer>()
  for (const c of index.certificates) {
    const [parsed] = parsePemCertificates(readFileSync(join(AZURE_FIXTURES_DIR, c.file), 'utf8'))
    if (parsed !== undefined) byPath.set(new URL(c.original_download_url).pathname, parsed.der)
  }
  const http = async (req: { url: string }) => {
    const der = byPath.get(new URL(req.url).pathname)
    return der === undefined
      ? { status: 404, headers: {}, body: Buffer.alloc(0) }
      : { status: 200, headers: {}, body: der }
  }
  const payload = (signature: string, domain = 'contoso.onmicrosoft.com'): Uint8Array =>
    encodeImdsPayload({
      document: { encoding: 'pkcs7', signature },
      metadata: { agentDomain: domain, vmssName: null, resourceId: null },
    })
  const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64')
  const inputs = fc.oneof(
    { weight: 5, arbitrary: derInputs(docs.map((d) => d.der)).map((der) => payload(b64(der))) },
    {
      weight: 2,
      arbitrary: mutated(
        docs.map((d) => d.body.signature),
        (s, m) =>
          mutateText(s, m, ['=', '==', '\r\n', '\n', '-', '_', '+', '/', 'A', ' ', '%'], 96 * 1024),
      ).map((s) => payload(s)),
    },
    {
      weight: 1,
      arbitrary: mutated(
        docs.map((d) => Buffer.from(payload(d.body.signature)).toString('utf8')),
        (s, m) => mutateText(s, m, JSON_DICTIONARY, PAYLOAD_MAX_BYTES),
      ).map(utf8),
    },
  )
  return {
    name: 'verify-document',
    inputs,
    async run(input) {
      const p = parseImdsPayload(input)
      // the harness sets the clock and the expected nonce from the (unverified) content, so an
      // unmutated document verifies end to end; what is fuzzed is everything read before that
      const der = Buffer.from(p.document.signature, 'base64')
      const text = der.toString('latin1')
      const nonce = /"nonce":"([^"]*)"/.exec(text)?.[1] ?? ''
      const created = /"createdOn":"(\d\d)\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)/.exec(text)
      const now =
        created === null
          ? new Date(Date.UTC(2024, 0, 1))
          : new Date(
              Date.UTC(
                2000 + Number(created[3]),
                Number(created[1]) - 1,
                Number(created[2]),
                Number(created[4]),
                Number(created[5]) + 1,
              ),
            )
      const at = Number.isNaN(now.getTime()) ? Date.UTC(2024, 0, 1) : now.getTime()
      const intermediates = new roots.IntermediatePool({
        bundled: roots.bundledIntermediates(),
        fetcher: createAiaFetcher({ http: http as never, now: () => at }),
        now: () => at,
      })
      const verified = await verifyAttestedDocument(p.document, {
        now: new Date(at),
        roots: roots.pinnedRoots(),
        intermediates,
        allowedDomains: ['metadata.azure.com'],
        expectedNonce: nonce,
      })
      return { content: verified.content, chain: verified.chain.map((c) => c.fingerprint) }
    },
    typed: label,
    maxOutput: (n) => n + 2048,
  }
}

// --- agent path templates ----------------------------------------------------------------------

const TEMPLATE_MAX_CHARS = 4 * 1024

async function agentPathTarget(): Promise<FuzzTarget> {
  const tpl = await import('../../shared/go/template/index.js')
  const msiId = await import('../../server-plugin/azure-msi/agent-id.js')
  const imdsId = await import('../../server-plugin/azure-imds/agent-id.js')
  const seeds = templateSeeds()
  const funcs = [
    ...Object.keys(tpl.AGENT_PATH_FUNCS),
    ...tpl.OMITTED_SPRIG_FUNCS,
    'and',
    'or',
    'not',
    'len',
    'index',
    'slice',
    'print',
    'printf',
    'println',
    'html',
    'js',
    'urlquery',
    'call',
    'eq',
    'ne',
    'lt',
    'le',
    'gt',
    'ge',
  ]
  const fields = [
    '.PluginName',
    '.TenantID',
    '.PrincipalID',
    '.VMID',
    '.SubscriptionID',
    '.Nonce',
    '.Claims',
    '.Audience',
    '.Expiry',
    '.MSITokenClaims.TenantID',
    '.AttestedDocumentContent',
    '.VMName',
    '.Missing',
    '.',
    '$',
    '$x',
    '.l',
    '.m',
    '.s',
    '.n',
    '.nil',
  ]
  const dictionary = [
    '{{',
    '}}',
    '{{- ',
    ' -}}',
    '{{/*',
    '*/}}',
    '|',
    '(',
    ')',
    ' ',
    '"',
    '`',
    "'a'",
    ':=',
    '=',
    ',',
    'if',
    'else',
    'else if',
    'end',
    'range',
    'with',
    'define "x"',
    'template "x"',
    'template "agent-path"',
    'block "b" .',
    'break',
    'continue',
    'nil',
    'true',
    'false',
    '0x1p-2',
    '1e9',
    '-1',
    '9223372036854775807',
    '18446744073709551616',
    "'\\U0010ffff'",
    '"%v"',
    '"%*d"',
    '"%[2]s"',
    '"(?:a+)+$"',
    '/',
    '..',
    '//',
    '-',
    '_',
    '\u00e9',
    '\n',
    ...funcs,
    ...fields,
  ]
  const token = fc.constantFrom(...dictionary)
  const action = fc
    .tuple(
      fc.constantFrom(...funcs),
      fc.array(
        fc.oneof(
          fc.constantFrom(...fields),
          fc.constantFrom('"a"', '1', '3', '-2', '"."', '"^a"', '100000', '"x"'),
          token,
        ),
        { maxLength: 3 },
      ),
    )
    .map(([f, args]) => `{{ ${f} ${args.join(' ')} }}`)
  const structured = fc
    .array(
      fc.oneof(
        action,
        fc.constantFrom(...fields).map((f) => `{{ ${f} }}`),
        fc.constantFrom(
          '/',
          'a',
          '-',
          '{{ range $i, $v := .l }}',
          '{{ if .s }}',
          '{{ else }}',
          '{{ end }}',
          '{{ with .m }}',
        ),
        token,
      ),
      { maxLength: 16 },
    )
    .map((parts) => parts.join(''))
  const inputs = fc
    .oneof(
      {
        weight: 4,
        arbitrary: mutated(seeds, (s, m) => mutateText(s, m, dictionary, TEMPLATE_MAX_CHARS)),
      },
      { weight: 3, arbitrary: structured },
      { weight: 1, arbitrary: fc.string({ maxLength: 120, unit: 'binary' }) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.integer({ min: 1, max: 150 }),
            fc.constantFrom(
              '{{ if 1 }}',
              '{{ (',
              '{{ range .l }}',
              '{{ template "agent-path" . }}',
              '{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}',
            ),
          )
          .map(([n, s]) => s.repeat(n)),
      },
    )
    .map(utf8)
  const claims = {
    tenantId: '0a1b2c3d-1111-2222-3333-444455556666',
    principalId: 'b0f31bfd-1234-4321-abcd-0123456789ab',
    issuer: 'https://sts.windows.net/x/',
    audience: ['https://management.azure.com/'],
    expiry: 1_800_000_000,
    notBefore: undefined,
    issuedAt: 1_700_000_000,
    jwtId: undefined,
    version: '1.0',
    objectId: 'b0f31bfd-1234-4321-abcd-0123456789ab',
    clientId: 'c',
    identityType: 'app',
    delegated: false,
    identityResourceId:
      '/subscriptions/d5b40d61-272e-48da-beb9-05f295c42bd6/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm',
    computeResourceId: undefined,
  }
  const msiData = msiId.buildTemplateData(claims)
  const imdsData = imdsId.buildTemplateData({
    tenantId: claims.tenantId,
    subscriptionId: 'd5b40d61-272e-48da-beb9-05f295c42bd6',
    vmId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
    nonce: 'abc',
  })
  const plain = {
    PluginName: 'azure_msi',
    s: 'Hello World',
    n: 42,
    f: 1.5,
    t: true,
    nil: null,
    l: ['b', 'a', 'c'],
    m: { z: 1, a: 'x', nested: { k: ['v'] } },
  }
  return {
    name: 'agent-path',
    inputs,
    run(input) {
      const t = tpl.parseAgentPathTemplate(Buffer.from(input).toString('utf8'))
      const out: string[] = []
      for (const data of [msiData, imdsData, plain]) {
        try {
          out.push(tpl.buildAgentPath(t, data))
        } catch (err) {
          if (!(err instanceof tpl.TemplateError || err instanceof tpl.SpiffeIdError)) throw err
        }
      }
      for (const p of out)
        if (Buffer.byteLength(p) > tpl.MAX_AGENT_PATH_BYTES)
          throw new Error(`agent path of ${Buffer.byteLength(p)} bytes`)
      return out
    },
    okLabel: (out) => `ok:rendered-${(out as string[]).length}-of-3`,
    typed: (err) =>
      err instanceof tpl.TemplateError
        ? `TemplateError:${err.phase}${err.limit ? ':limit' : ''}`
        : err instanceof tpl.SpiffeIdError
          ? 'SpiffeIdError'
          : undefined,
    maxOutput: () => 3 * 2048 + 64,
  }
}

/**
 * Registers the seeded, bounded fuzz test of a target: `runs` generated inputs in a watched worker,
 * no finding, and both kinds of ending seen (the generators reach results and typed errors).
 */
export function fuzzTest(
  target: FuzzTargetName,
  runs: number,
  expect: { results: boolean; typedErrors: boolean } = { results: true, typedErrors: true },
): void {
  const { typed } = FUZZ_TARGET_INFO[target]
  void nodeTest(
    `${target}: ${runs} seeded inputs each end in a result or a typed error (${typed})`,
    async () => {
      const report = await runFuzzIsolated({ target, runs, seed: fuzzSeed() })
      assert.equal(report.findings.length, 0, describeFindings(report.findings))
      assert.equal(report.runs, runs)
      const seen = JSON.stringify(report.outcomes)
      if (expect.results) assert.ok(report.ok > 0, `no input ended in a result: ${seen}`)
      if (expect.typedErrors)
        assert.ok(report.typedErrors > 0, `no input ended in a typed error: ${seen}`)
    },
  )
}
