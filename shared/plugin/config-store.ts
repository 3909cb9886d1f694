import { PluginError } from './errors.js'
import { Report } from './report.js'
import type { BuildConfig, CoreConfig } from './types.js'

export interface ConfigInput {
  core: CoreConfig
  hcl: string
}

/**
 * Holds the live config. Configure swaps the whole object only on success; Validate never touches it.
 * Node runs one handler at a time, so a reference swap is atomic; an attestation that captured the
 * previous reference keeps its rules until it ends.
 */
export class ConfigStore<C> {
  #current: C | undefined
  readonly #build: BuildConfig<C>

  constructor(build: BuildConfig<C>) {
    this.#build = build
  }

  /** Builds and installs a config; throws InvalidArgument with the first problem. */
  configure(input: ConfigInput): Report {
    const report = this.#run(input)
    const config = report.config
    if (!report.ok || config === undefined) {
      throw new PluginError(
        'InvalidArgument',
        'invalid_configuration',
        report.errors[0] ?? 'invalid configuration',
      )
    }
    this.#current = config
    return report
  }

  /** Builds a config and returns every problem, leaving the live config alone. */
  validate(input: ConfigInput): Report {
    return this.#run(input)
  }

  /** The live config; FailedPrecondition "not configured" before the first successful Configure. */
  get(): C {
    if (this.#current === undefined) {
      throw new PluginError('FailedPrecondition', 'not_configured', 'not configured')
    }
    return this.#current
  }

  get configured(): boolean {
    return this.#current !== undefined
  }

  #run(input: ConfigInput): Report & { config?: C } {
    const report: Report & { config?: C } = new Report()
    const trustDomain = input.core.trustDomain
    // upstream parity: pluginconf checks the core config first, says "server" even on the agent,
    // and still runs the plugin's own builder so every note is reported
    if (trustDomain === '') {
      report.error('server core configuration must contain trust_domain')
    } else if (!isTrustDomainName(trustDomain)) {
      report.error(
        'server core configuration trust_domain is malformed: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
      )
    }
    let config: C | undefined
    try {
      config = this.#build(input.hcl, input.core, report)
    } catch (err) {
      report.error(err instanceof Error ? err.message : String(err))
    }
    if (report.ok && config !== undefined) report.config = config
    return report
  }
}

/** SPIFFE trust domain names: lower-case letters, digits, dots, dashes and underscores. */
export function isTrustDomainName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && /^[a-z0-9._-]+$/.test(name)
}
