/**
 * Collects configuration problems the way SPIRE's pluginconf.Status does: every problem becomes a note,
 * the first error fails Configure with InvalidArgument, warnings never fail.
 */
export class Report {
  readonly errors: string[] = []
  readonly warnings: string[] = []

  error(message: string): void {
    this.errors.push(message)
  }

  warn(message: string): void {
    this.warnings.push(message)
  }

  get ok(): boolean {
    return this.errors.length === 0
  }

  /** Errors first (the first one is what Configure returns), then warnings. */
  get notes(): string[] {
    return [...this.errors, ...this.warnings]
  }
}
