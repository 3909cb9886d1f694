import { generateKeyPairSync } from 'node:crypto'
import type { CertSpec } from './cert-builder.js'
import { EKU_CLIENT_AUTH } from './cert-builder.js'
import type { PkiContext, Signer } from './pki.js'
import { crtUrl, MS_CERTS, OCSP_URL } from './pki-urls.js'

/** Signers a verifier must reject (azure-facts §9.1); each signs documents like a good leaf. */
export interface BadVariants {
  expired: Signer
  notYetValid: Signer
  /** SAN in an unrelated domain */
  wrongSan: Signer
  /** SAN `metadata.azure.com.attacker.com` */
  suffixAttack: Signer
  /** SAN `attackermetadata.azure.com`: ends with the domain but not at a label boundary */
  labelSuffixAttack: Signer
  /** CN=metadata.azure.com and no SAN at all */
  cnOnly: Signer
  noAia: Signer
  aiaDisallowedHost: Signer
  aiaIpLiteral: Signer
  aiaNonStandardPort: Signer
  /** EKU clientAuth only */
  noServerAuth: Signer
  /** Leaf issued by an intermediate that lacks the CA bit (chain includes that intermediate) */
  nonCaIntermediate: Signer
  ecdsa: Signer
  /** A leaf with a perfect SAN issued by a self-signed attacker root named like the real one */
  rogueRoot: Signer
  /** The attacker's self-signed root (for tests that plant it in a bag or a trust store) */
  rogueRootCert: Signer
}

export function buildBadVariants(ctx: PkiContext): BadVariants {
  const ocsp02 = ctx.intermediates.tlsG2Ocsp02
  const good = ctx.leafSpec('public', 'eastus', ocsp02)
  const leaf = (
    name: string,
    over: Partial<CertSpec> & { validFrom?: number; validDays?: number },
    issuer: Signer = ocsp02,
  ): Signer => ({
    name,
    cert: ctx.issue({ ...good, issuer: issuer.cert, signingKey: issuer.privateKey, ...over }),
    privateKey: ctx.leafKey.privateKey,
    chain: [issuer.cert, ...issuer.chain],
  })
  const rogueKey = ctx.roles['rogue-root']!
  const rogueRootCert: Signer = {
    name: 'Fake TLS RSA Root G2 (rogue)',
    cert: ctx.issue({
      subject: [
        ['C', 'US'],
        ['O', 'Microsoft Corporation'],
        ['CN', 'Fake TLS RSA Root G2'],
      ],
      publicKey: rogueKey.publicKey,
      signingKey: rogueKey.privateKey,
      ca: {},
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      validFrom: -365,
      validDays: 3650,
    }),
    privateKey: rogueKey.privateKey,
    chain: [],
  }
  const nonCaKey = ctx.roles['non-ca-intermediate']!
  const nonCaUrl = crtUrl(MS_CERTS, 'Fake TLS G2 RSA CA OCSP 99')
  const root = ctx.roots.tlsRsaRootG2
  const nonCa: Signer = {
    name: 'Fake TLS G2 RSA CA OCSP 99',
    cert: ctx.issue({
      subject: [
        ['C', 'US'],
        ['O', 'Microsoft Corporation'],
        ['CN', 'Fake TLS G2 RSA CA OCSP 99'],
      ],
      publicKey: nonCaKey.publicKey,
      issuer: root.cert,
      signingKey: root.privateKey,
      ca: false,
      keyUsage: ['digitalSignature', 'keyCertSign'],
      validFrom: -365,
      validDays: 1460,
    }),
    privateKey: nonCaKey.privateKey,
    chain: [],
  }
  ctx.publish(nonCaUrl, nonCa.cert)
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    expired: leaf('expired', { validFrom: -200, validDays: 180 }),
    notYetValid: leaf('not-yet-valid', { validFrom: 10, validDays: 180 }),
    wrongSan: leaf('wrong-san', {
      dnsNames: ['eastus.metadata.example.com', 'metadata.example.com'],
    }),
    suffixAttack: leaf('suffix-attack', { dnsNames: ['metadata.azure.com.attacker.com'] }),
    labelSuffixAttack: leaf('label-suffix-attack', { dnsNames: ['attackermetadata.azure.com'] }),
    cnOnly: leaf('cn-only', { dnsNames: [] }),
    noAia: leaf('no-aia', { caIssuers: [], ocsp: [] }),
    aiaDisallowedHost: leaf('aia-disallowed-host', {
      caIssuers: [
        'http://attacker.example.com/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt',
      ],
    }),
    aiaIpLiteral: leaf('aia-ip-literal', {
      caIssuers: ['http://127.0.0.1/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt'],
    }),
    aiaNonStandardPort: leaf('aia-non-standard-port', {
      caIssuers: [
        'http://www.microsoft.com:8080/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt',
      ],
    }),
    noServerAuth: leaf('no-server-auth', { extKeyUsage: [EKU_CLIENT_AUTH] }),
    nonCaIntermediate: {
      ...leaf('non-ca-intermediate', { caIssuers: [nonCaUrl], ocsp: [OCSP_URL] }, nonCa),
      chain: [nonCa.cert],
    },
    ecdsa: {
      name: 'ecdsa',
      cert: ctx.issue({
        ...good,
        publicKey: ec.publicKey,
        issuer: ocsp02.cert,
        signingKey: ocsp02.privateKey,
      }),
      privateKey: ec.privateKey,
      chain: [ocsp02.cert, ...ocsp02.chain],
    },
    rogueRoot: leaf('rogue-root', { caIssuers: [], ocsp: [] }, rogueRootCert),
    rogueRootCert,
  }
}
