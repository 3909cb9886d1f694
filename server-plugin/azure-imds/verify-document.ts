import type { Cert } from './certificate.js'
import { verifyChain, type IntermediateSource } from './chain.js'
import {
  authorizeSubscription,
  checkDocumentContent,
  parseDocumentContent,
  type DocumentContent,
} from './content.js'
import { parseSignedDocument, verifyDocumentSignature, type AttestedDocument } from './document.js'
import { checkSignerDomain, checkSignerUsage } from './leaf.js'
import type { VerificationCache } from './verify-cache.js'

export interface DocumentTrust {
  /** The verification time (injected clock). */
  now: Date
  /** Pinned roots; the only anchors. */
  roots: readonly Cert[]
  intermediates: IntermediateSource
  /** SAN domains a signer may have (exact or any subdomain). */
  allowedDomains: readonly string[]
  signal?: AbortSignal
  /**
   * Parsed certificates and verified chains from earlier attestations (verify-cache.ts); without
   * it every call parses and builds everything.
   */
  cache?: VerificationCache
}

export interface VerifiedDocument {
  content: DocumentContent
  signer: Cert
  /** Leaf first, pinned root last. */
  chain: readonly Cert[]
}

/**
 * The signature and certificate half of document verification, cheap steps first: size and
 * encoding, PKCS#7 parse, the one SignerInfo's signer, its signature over the content (no network
 * for a forged document), SAN and EKU of that same certificate, then its chain to a pinned root.
 * With `trust.cache`, a certificate seen in an earlier verified document is not parsed again and a
 * signer whose chain verified against the same roots, still valid at `trust.now`, is not walked
 * again; every check that depends on the document or the config runs every time.
 * Errors are `InvalidArgument "failed to validate attested document: …"`.
 */
export async function verifyDocumentSignatureAndChain(
  doc: AttestedDocument,
  trust: DocumentTrust,
): Promise<VerifiedDocument> {
  const { cache, now } = trust
  const t = now.getTime()
  const signed = parseSignedDocument(
    doc,
    cache === undefined ? undefined : (der) => cache.certificate(der, t),
  )
  // deviation: upstream fetched AIA before checking the signature (docs/plugin_server_nodeattestor_azure_imds.md)
  verifyDocumentSignature(signed)
  checkSignerDomain(signed.signer, trust.allowedDomains)
  checkSignerUsage(signed.signer)
  let chain = cache?.chain(signed.signer, trust.roots, t)
  if (chain === undefined) {
    cache?.noteChainBuild()
    chain = await verifyChain(signed.signer, {
      roots: trust.roots,
      intermediates: trust.intermediates,
      now,
      ...(trust.signal === undefined ? {} : { signal: trust.signal }),
    })
    cache?.rememberChain(chain, trust.roots, t)
  }
  cache?.rememberCertificates(signed.bag, t)
  return { content: parseDocumentContent(signed.content), signer: signed.signer, chain }
}

export interface DocumentExpectations extends DocumentTrust {
  /** The challenge this attestation issued; the document must carry exactly it. */
  expectedNonce: string
  /** Lower-cased allow-list; undefined or empty allows every subscription. */
  allowedSubscriptions?: ReadonlySet<string>
}

/**
 * Verifies an attested document end to end with everything injected (clock, nonce, roots,
 * intermediate source, domains): signature and chain, then the content — nonce, VM ID, validity
 * window — and the subscription allow-list. The attestor runs the same steps with upstream's
 * tenant check between the content and the subscription.
 */
export async function verifyAttestedDocument(
  doc: AttestedDocument,
  expected: DocumentExpectations,
): Promise<VerifiedDocument> {
  const verified = await verifyDocumentSignatureAndChain(doc, expected)
  checkDocumentContent(verified.content, { nonce: expected.expectedNonce, now: expected.now })
  authorizeSubscription(verified.content.subscriptionId, expected.allowedSubscriptions)
  return verified
}
