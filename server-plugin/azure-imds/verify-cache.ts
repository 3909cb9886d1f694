import { createHash } from 'node:crypto'
import { parseCertificate, type Cert } from './certificate.js'

/**
 * What azure_imds derives from certificates, remembered between attestations: the parsed form of
 * each certificate by the SHA-256 of its DER, and the verified chain of each signer by its
 * fingerprint and the trust set (the roots) it was verified against. A fleet's documents are signed
 * by a handful of IMDS leaves, so a warm attestation parses no certificate and builds no chain; what
 * depends on the document — its signature over the content, the signer's SAN and usage, the nonce,
 * the document's validity window — is checked on every attestation by the caller, never here.
 *
 * Only success is remembered: certificates that arrived in a document whose signature, signer and
 * chain verified, and the chains that verified. A refusal leaves nothing behind, so neither a
 * forged document nor a flood of junk certificates can evict, replace or pre-empt an entry. Entries
 * end at the earliest notAfter they depend on (a chain is also unused before its latest notBefore)
 * against the caller's clock, and each map is an LRU bounded in size.
 */

export const VERIFY_CACHE_MAX_CERTIFICATES = 256
export const VERIFY_CACHE_MAX_CHAINS = 256

/** Work counters: what tests and benchmarks read to see that a warm attestation does none. */
export interface VerifyCacheStats {
  /** Certificates parsed from DER (a cache miss, or a certificate never verified). */
  certificateParses: number
  certificateHits: number
  /** Chains built and validated (verifyChain runs). */
  chainBuilds: number
  chainHits: number
}

export interface VerifyCacheOptions {
  maxCertificates?: number
  maxChains?: number
  /** The parser behind a miss; tests may count or fail it. */
  parse?: (der: Uint8Array) => Cert
}

interface ChainEntry {
  chain: readonly Cert[]
  /** The chain is valid from the latest notBefore to the earliest notAfter of its certificates. */
  from: number
  until: number
}

export class VerificationCache {
  readonly stats: VerifyCacheStats = {
    certificateParses: 0,
    certificateHits: 0,
    chainBuilds: 0,
    chainHits: 0,
  }
  readonly #certs = new Map<string, Cert>()
  readonly #chains = new Map<string, ChainEntry>()
  readonly #maxCerts: number
  readonly #maxChains: number
  readonly #parse: (der: Uint8Array) => Cert

  constructor(options: VerifyCacheOptions = {}) {
    this.#maxCerts = options.maxCertificates ?? VERIFY_CACHE_MAX_CERTIFICATES
    this.#maxChains = options.maxChains ?? VERIFY_CACHE_MAX_CHAINS
    this.#parse = options.parse ?? parseCertificate
  }

  get size(): { certificates: number; chains: number } {
    return { certificates: this.#certs.size, chains: this.#chains.size }
  }

  /**
   * The `Cert` for these DER bytes: one remembered from a verified document (same SHA-256), or
   * parsed now and not remembered. Throws what the parser throws.
   */
  certificate(der: Uint8Array, now: number): Cert {
    const key = createHash('sha256').update(der).digest('hex')
    const hit = this.#certs.get(key)
    if (hit !== undefined) {
      if (now <= hit.notAfter.getTime()) {
        this.stats.certificateHits++
        touch(this.#certs, key, hit)
        return hit
      }
      this.#certs.delete(key)
    }
    this.stats.certificateParses++
    return this.#parse(der)
  }

  /** A chain verified earlier for `leaf` against exactly these roots, and valid at `now`. */
  chain(leaf: Cert, roots: readonly Cert[], now: number): readonly Cert[] | undefined {
    const key = chainKey(leaf, roots)
    const hit = this.#chains.get(key)
    if (hit === undefined) return undefined
    if (now > hit.until) {
      this.#chains.delete(key)
      return undefined
    }
    if (now < hit.from) return undefined
    this.stats.chainHits++
    touch(this.#chains, key, hit)
    return hit.chain
  }

  /** Counts a chain build (the caller runs verifyChain after a `chain()` miss). */
  noteChainBuild(): void {
    this.stats.chainBuilds++
  }

  /** Remembers the bag of a document whose signature, signer and chain verified. */
  rememberCertificates(bag: readonly Cert[], now: number): void {
    for (const cert of bag) {
      if (now > cert.notAfter.getTime()) continue
      touch(this.#certs, cert.fingerprint, cert)
    }
    evict(this.#certs, this.#maxCerts)
  }

  /** Remembers a chain (leaf first, root last) that verified against these roots at `now`. */
  rememberChain(chain: readonly Cert[], roots: readonly Cert[], now: number): void {
    const leaf = chain[0]
    if (leaf === undefined) return
    const from = Math.max(...chain.map((c) => c.notBefore.getTime()))
    const until = Math.min(...chain.map((c) => c.notAfter.getTime()))
    if (now > until || now < from) return
    touch(this.#chains, chainKey(leaf, roots), { chain: Object.freeze([...chain]), from, until })
    evict(this.#chains, this.#maxChains)
  }
}

/** The leaf and the trust set: a changed root set (trust bundle) never reuses an old verdict. */
function chainKey(leaf: Cert, roots: readonly Cert[]): string {
  let key = leaf.fingerprint
  for (const r of roots) key += `/${r.fingerprint}`
  return key
}

/** Moves (or adds) an entry to the most recently used end. */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key)
  map.set(key, value)
}

function evict<V>(map: Map<string, V>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next()
    if (oldest.done === true) return
    map.delete(oldest.value)
  }
}
