import type { IssuerFetcher } from './aia.js'
import { BUNDLED_INTERMEDIATE_PEMS, PINNED_ROOT_PEMS } from './bundled-certs.js'
import { parsePemCertificates, type Cert } from './certificate.js'
import type { IntermediateSource } from './chain.js'

/** Intermediates learned from AIA are kept this long, and at most this many. */
export const CACHED_INTERMEDIATE_TTL_MS = 24 * 3600_000
export const CACHED_INTERMEDIATES_MAX = 64

let pinned: readonly Cert[] | undefined
let bundled: readonly Cert[] | undefined

/**
 * The pinned roots: DigiCert Global Root G2, Microsoft TLS RSA Root G2, Microsoft RSA Root
 * Certificate Authority 2017 and DigiCert Global Root CA (certs/README.md). Parsed on first use.
 */
export function pinnedRoots(): readonly Cert[] {
  pinned ??= PINNED_ROOT_PEMS.flatMap((c) => parsePemCertificates(c.pem))
  return pinned
}

/** The known issuing CAs shipped with the plugin (certs/README.md). */
export function bundledIntermediates(): readonly Cert[] {
  bundled ??= BUNDLED_INTERMEDIATE_PEMS.flatMap((c) => parsePemCertificates(c.pem))
  return bundled
}

/**
 * Chain-building material: the bundle first, then intermediates that completed a verified chain
 * (bounded, expiring), then AIA through `fetcher`.
 */
export class IntermediatePool implements IntermediateSource {
  readonly fetcher: IssuerFetcher
  readonly #bundled: readonly Cert[]
  readonly #cached = new Map<string, { cert: Cert; expiresAt: number }>()
  readonly #now: () => number

  constructor(options: { bundled: readonly Cert[]; fetcher: IssuerFetcher; now(): number }) {
    this.#bundled = options.bundled
    this.fetcher = options.fetcher
    this.#now = options.now
  }

  lookup(child: Cert): readonly Cert[] {
    const now = this.#now()
    const cached: Cert[] = []
    for (const [key, entry] of this.#cached) {
      if (entry.expiresAt <= now) this.#cached.delete(key)
      else if (entry.cert.subjectKey === child.issuerKey) cached.push(entry.cert)
    }
    const fromBundle = this.#bundled.filter((c) => c.subjectKey === child.issuerKey)
    const seen = new Set(fromBundle.map((c) => c.fingerprint))
    return [...fromBundle, ...cached.filter((c) => !seen.has(c.fingerprint))]
  }

  remember(certs: readonly Cert[]): void {
    const expiresAt = this.#now() + CACHED_INTERMEDIATE_TTL_MS
    for (const cert of certs) {
      if (this.#bundled.some((b) => b.fingerprint === cert.fingerprint)) continue
      this.#cached.delete(cert.fingerprint)
      this.#cached.set(cert.fingerprint, { cert, expiresAt })
    }
    while (this.#cached.size > CACHED_INTERMEDIATES_MAX) {
      const oldest = this.#cached.keys().next()
      if (oldest.done === true) break
      this.#cached.delete(oldest.value)
    }
  }
}
