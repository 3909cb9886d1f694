import { cpus, loadavg, totalmem } from 'node:os'

/** What a bench's JSON report says about the machine it ran on. */
export interface BenchMachine {
  cpus: number
  model: string
  memoryGiB: number
  node: string
  /** The 1-minute load average when the run began (other work on a shared machine shows here). */
  loadAverageAtStart?: number
  loadAverageAtEnd: number
}

/** The machine now: cores, CPU model, memory, Node version, load average (and the start's, if given). */
export function benchMachine(loadAverageAtStart?: number): BenchMachine {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    ...(loadAverageAtStart === undefined ? {} : { loadAverageAtStart }),
    loadAverageAtEnd: loadavg()[0] ?? 0,
  }
}
