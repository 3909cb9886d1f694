/**
 * Collects configuration problems the way SPIRE's pluginconf.Status does: every problem becomes a note,
 * the first error fails Configure with InvalidArgument, warnings never fail. Each problem may name
 * the key paths of `plugin_data` it is about, so tools (`spire-azure validate`) can point at a line;
 * the messages, and so what Configure returns, do not depend on them.
 */

/** A path of keys inside `plugin_data`: field names, map keys (tenant IDs), list indices. */
export type KeyPath = readonly (string | number)[]

export interface ReportedProblem {
  severity: 'error' | 'warning'
  message: string
  /** The settings the problem is about (none: the configuration as a whole). */
  keyPaths: readonly KeyPath[]
}

export class Report {
  readonly errors: string[] = []
  readonly warnings: string[] = []
  /** Every problem in the order reported, with its key paths. */
  readonly problems: ReportedProblem[] = []

  error(message: string, ...keyPaths: KeyPath[]): void {
    this.errors.push(message)
    this.problems.push({ severity: 'error', message, keyPaths })
  }

  warn(message: string, ...keyPaths: KeyPath[]): void {
    this.warnings.push(message)
    this.problems.push({ severity: 'warning', message, keyPaths })
  }

  get ok(): boolean {
    return this.errors.length === 0
  }

  /** Errors first (the first one is what Configure returns), then warnings. */
  get notes(): string[] {
    return [...this.errors, ...this.warnings]
  }
}
