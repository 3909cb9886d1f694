import type { FailureReason } from '../../shared/plugin/index.js'
import { AiaError, type IssuerFetcher } from './aia.js'
import {
  EKU_ANY,
  EKU_SERVER_AUTH,
  namesIssuer,
  signedBy,
  validAt,
  type Cert,
} from './certificate.js'
import { documentError } from './document.js'

/** Intermediates between the leaf and an anchor; real chains have one or two. */
export const MAX_CHAIN_INTERMEDIATES = 5
/** AIA requests one verification may make, across every branch it explores. */
export const MAX_AIA_FETCHES = 4

/** Where chain building finds issuers: the bundle first, then the cache, then AIA. */
export interface IntermediateSource {
  /** Bundled, then cached, certificates whose subject is `child`'s issuer. */
  lookup(child: Cert): readonly Cert[]
  /** Remembers the intermediates of a chain that verified. */
  remember(certs: readonly Cert[]): void
  fetcher: IssuerFetcher
}

export interface ChainOptions {
  /** Pinned trust anchors; nothing else is ever trusted. */
  roots: readonly Cert[]
  intermediates: IntermediateSource
  now: Date
  signal?: AbortSignal
}

/** Why a branch ended; the most telling one becomes the error. Lower rank wins. */
interface DeadEnd {
  rank: number
  reason: FailureReason
  message: string
}

/**
 * Builds and validates a path from `leaf` to a pinned root at `now`: every link's signature and
 * names, validity of every certificate, CA bit, keyCertSign, pathLen and EKU nesting (as Go's
 * x509.Verify with serverAuth). Issuers come from the bundle, then the cache, then AIA — walked as
 * deep as MAX_CHAIN_INTERMEDIATES with cycle detection, backtracking when a branch dead-ends (e.g.
 * an expired cross-signed twin). Returns the chain, leaf first, root last.
 */
export async function verifyChain(leaf: Cert, options: ChainOptions): Promise<Cert[]> {
  const { now } = options
  const leafProblem = validityProblem(leaf, now)
  if (leafProblem !== undefined) throw chainError(leafProblem.reason, leafProblem.message)
  const deadEnds: DeadEnd[] = []
  let fetches = 0
  const note = (rank: number, reason: FailureReason, message: string): void => {
    deadEnds.push({ rank, reason, message })
  }

  const extend = async (path: readonly Cert[]): Promise<Cert[] | undefined> => {
    const current = path[path.length - 1]!
    const intermediatesBelow = path.length - 1
    for (const root of options.roots) {
      if (!namesIssuer(current, root) || !signedBy(current, root)) continue
      const problem = caProblem(root, intermediatesBelow, now, true)
      if (problem === undefined) return [...path, root]
      note(problem.rank, problem.reason, problem.message)
    }
    if (intermediatesBelow >= MAX_CHAIN_INTERMEDIATES) {
      note(
        4,
        'chain_too_long',
        `x509: no path to a pinned root within ${MAX_CHAIN_INTERMEDIATES} intermediates`,
      )
      return undefined
    }
    const tried = new Set<string>()
    const attempt = async (candidate: Cert): Promise<Cert[] | undefined> => {
      if (tried.has(candidate.fingerprint)) return undefined
      tried.add(candidate.fingerprint)
      if (path.some((c) => c.fingerprint === candidate.fingerprint)) {
        note(5, 'chain_cycle', 'x509: certificate chain loops back on itself')
        return undefined
      }
      if (!namesIssuer(current, candidate) || !signedBy(current, candidate)) {
        note(
          6,
          'chain_untrusted',
          `x509: certificate signed by unknown authority (${current.subject} is not signed by ${candidate.subject})`,
        )
        return undefined
      }
      const problem = caProblem(candidate, intermediatesBelow, now, false)
      if (problem !== undefined) {
        note(problem.rank, problem.reason, problem.message)
        return undefined
      }
      return extend([...path, candidate])
    }
    for (const candidate of options.intermediates.lookup(current)) {
      const found = await attempt(candidate)
      if (found !== undefined) return found
    }
    if (current.caIssuers.length === 0) {
      note(
        7,
        'no_aia',
        'failed to get intermediate certificate: failed to extract CA Issuers URL: no CA Issuers URL found in certificate',
      )
    }
    for (const url of current.caIssuers) {
      if (fetches >= MAX_AIA_FETCHES) {
        note(
          4,
          'aia_limit',
          `failed to get intermediate certificate: more than ${MAX_AIA_FETCHES} CA Issuers fetches`,
        )
        break
      }
      let fetched: Cert
      try {
        fetches++
        fetched = await options.intermediates.fetcher.fetch(url, options.signal)
      } catch (err) {
        if (options.signal?.aborted) throw err
        const reason = err instanceof AiaError ? err.reason : 'aia_fetch_failed'
        const msg = err instanceof Error ? err.message : String(err)
        note(
          reason === 'aia_not_allowed' ? 2 : 3,
          reason,
          `failed to get intermediate certificate: ${msg}`,
        )
        continue
      }
      const found = await attempt(fetched)
      if (found !== undefined) return found
    }
    return undefined
  }

  const chain = await extend([leaf])
  if (chain === undefined) {
    const best = [...deadEnds].sort((a, b) => a.rank - b.rank)[0]
    if (best === undefined)
      throw chainError('chain_untrusted', 'x509: certificate signed by unknown authority')
    throw chainError(best.reason, best.message)
  }
  options.intermediates.remember(chain.slice(1, -1))
  return chain
}

function chainError(reason: FailureReason, message: string) {
  // upstream parity (main): `certificate chain validation failed: …`
  return documentError(reason, `certificate chain validation failed: ${message}`)
}

function validityProblem(cert: Cert, now: Date): DeadEnd | undefined {
  if (validAt(cert, now)) return undefined
  const expired = now.getTime() > cert.notAfter.getTime()
  return {
    rank: 1,
    reason: expired ? 'certificate_expired' : 'certificate_not_yet_valid',
    // Go's CertificateInvalidError{Expired} wording
    message: `x509: certificate has expired or is not yet valid: current time ${iso(now)} is ${
      expired ? `after ${iso(cert.notAfter)}` : `before ${iso(cert.notBefore)}`
    } (${cert.subject})`,
  }
}

/** What makes `ca` unusable as the issuer above `intermediatesBelow` intermediates, if anything. */
function caProblem(
  ca: Cert,
  intermediatesBelow: number,
  now: Date,
  anchor: boolean,
): DeadEnd | undefined {
  const validity = validityProblem(ca, now)
  if (validity !== undefined) return validity
  // Go requires the CA bit of intermediates; a pinned anchor is trusted as configured
  if (!anchor && !ca.isCa)
    return {
      rank: 1,
      reason: 'issuer_not_ca',
      message: `x509: ${ca.subject} is not a CA certificate`,
    }
  if (ca.keyCertSign === false) {
    return {
      rank: 1,
      reason: 'issuer_not_ca',
      message: `x509: ${ca.subject} may not sign certificates (no keyCertSign)`,
    }
  }
  if (ca.pathLen !== undefined && intermediatesBelow > ca.pathLen) {
    return {
      rank: 1,
      reason: 'path_length_exceeded',
      message: `x509: too many intermediates for path length constraint of ${ca.subject}`,
    }
  }
  const eku = ca.extKeyUsage
  if (eku !== undefined && !eku.includes(EKU_SERVER_AUTH) && !eku.includes(EKU_ANY)) {
    return {
      rank: 1,
      reason: 'issuer_eku',
      message: `x509: certificate specifies an incompatible key usage (${ca.subject})`,
    }
  }
  return undefined
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
