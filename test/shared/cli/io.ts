// A recording CliIo for the command tests: collects what a command writes, and holds its timers until
// the test fires them (progress lines are then deterministic).
import type { CliIo } from '../../../shared/cli/command.js'

export interface RecordingIo extends CliIo {
  out: string
  err: string
  /** Timers started and not cancelled, in start order. */
  pending: { ms: number; fn: () => void }[]
  /** Fires every pending timer. */
  fireTimers(): void
}

export function recordingIo(
  o: { cwd?: string; env?: Record<string, string>; now?: number; programPath?: string } = {},
): RecordingIo {
  const io: RecordingIo = {
    out: '',
    err: '',
    pending: [],
    stdout: (t) => void (io.out += t),
    stderr: (t) => void (io.err += t),
    env: o.env ?? {},
    cwd: o.cwd ?? process.cwd(),
    now: () => o.now ?? Date.UTC(2026, 11, 2),
    ...(o.programPath === undefined ? {} : { programPath: o.programPath }),
    setTimer(ms, fn) {
      const t = { ms, fn }
      io.pending.push(t)
      return { cancel: () => void io.pending.splice(io.pending.indexOf(t) >>> 0, 1) }
    },
    fireTimers() {
      for (const t of io.pending.splice(0)) t.fn()
    },
  }
  return io
}
