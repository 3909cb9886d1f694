import { generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { AZURE_HOST_NAMES, CLOUDS, CLOUD_NAMES } from './clouds.js'
import type { CloudName } from './clouds.js'
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, issueCertificate } from './cert-builder.js'
import type { CertSpec, Dn, IssuedCert } from './cert-builder.js'
import type { KeyPair, KeyStore } from './keys.js'
import { buildBadVariants } from './pki-bad.js'
import { crtUrl, DIGICERT, DIGICERT_CN, MS_CAISSUERS, MS_CERTS, OCSP_URL } from './pki-urls.js'
import type { BadVariants } from './pki-bad.js'

const DAY_MS = 86_400_000
const YEAR_MS = 365 * DAY_MS
/** Real IMDS leaves live about 180 days (azure-facts §3.1). */
export const LEAF_LIFETIME_DAYS = 180
const LEAF_AGE_DAYS = 30
const TLS_POLICY = '2.23.140.1.2.2'

/** A certificate the emulator can sign with. `chain` runs from the issuer up, roots excluded. */
export interface Signer {
  name: string
  cert: IssuedCert
  privateKey: KeyObject
  chain: readonly IssuedCert[]
}

export interface Pki {
  roots: { digicertGlobalRootG2: Signer; tlsRsaRootG2: Signer }
  /** Fake TLS RSA Root G2 cross-signed by the DigiCert root: the 3-level path's middle hop. */
  crossSigned: { tlsRsaRootG2: IssuedCert }
  intermediates: { tlsG2Ocsp02: Signer; azureRsaTlsIssuing03: Signer; digicertCnCa: Signer }
  /** Good leaves per cloud at the cloud's default region. */
  leaves: Readonly<Record<CloudName, Signer>>
  /** The leaf for a region (issued on first use, like Azure's regional leaves). */
  leafFor(cloud: CloudName, region: string): Signer
  bad: BadVariants
  tls: { certPem: string; chainPem: string; keyPem: string }
  /** Every certificate the issuers service publishes, by its AIA URL. */
  published: ReadonlyMap<string, IssuedCert>
  /** PEM bundle of both roots: trust anchors for TLS (NODE_EXTRA_CA_CERTS / SSL_CERT_FILE) and documents. */
  trustBundlePem: string
}

export interface PkiContext {
  now: Date
  issue(
    spec: Omit<CertSpec, 'notBefore' | 'notAfter'> & { validFrom?: number; validDays?: number },
  ): IssuedCert
  leafSpec(
    cloud: CloudName,
    region: string,
    issuer: Signer,
  ): Omit<CertSpec, 'notBefore' | 'notAfter' | 'signingKey'>
  leafKey: KeyPair
  roles: Record<string, KeyPair>
  intermediates: Pki['intermediates']
  roots: Pki['roots']
  publish(url: string, cert: IssuedCert): void
}

export const KEY_ROLES = [
  'digicert-root',
  'tls-root-g2',
  'ocsp-02',
  'issuing-03',
  'digicert-cn',
  'imds-leaf',
  'rogue-root',
  'non-ca-intermediate',
] as const

const MS_ORG: Dn = [
  ['C', 'US'],
  ['O', 'Microsoft Corporation'],
]
const LEAF_DN: Dn = [
  ['C', 'US'],
  ['ST', 'WA'],
  ['L', 'Redmond'],
  ['O', 'Microsoft Corporation'],
  ['CN', 'metadata.azure.com'],
]

/** Builds the whole emulator PKI at `now`. Only key generation is slow; see KeyStore. */
export async function createPki(keys: KeyStore, now: Date): Promise<Pki> {
  const pairs = await Promise.all(KEY_ROLES.map((r) => keys.rsa(r)))
  const roles = Object.fromEntries(KEY_ROLES.map((r, i) => [r, pairs[i]!])) as Record<
    string,
    KeyPair
  >
  const published = new Map<string, IssuedCert>()
  const issue: PkiContext['issue'] = ({
    validFrom = -LEAF_AGE_DAYS,
    validDays = LEAF_LIFETIME_DAYS,
    ...spec
  }) =>
    issueCertificate({
      ...spec,
      notBefore: new Date(now.getTime() + validFrom * DAY_MS),
      notAfter: new Date(now.getTime() + (validFrom + validDays) * DAY_MS),
    })
  const ca = (
    role: string,
    subject: Dn,
    issuer: Signer | undefined,
    extra: Partial<CertSpec>,
    years: [number, number],
  ): Signer => {
    const key = roles[role]!
    const cert = issue({
      subject,
      publicKey: key.publicKey,
      signingKey: issuer ? issuer.privateKey : key.privateKey,
      ...(issuer ? { issuer: issuer.cert } : {}),
      ca: {},
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      validFrom: years[0] * 365,
      validDays: (years[1] - years[0]) * 365,
      ...extra,
    })
    return {
      name: subject.at(-1)![1],
      cert,
      privateKey: key.privateKey,
      chain: issuer ? [issuer.cert, ...issuer.chain] : [],
    }
  }

  const digicertGlobalRootG2 = ca(
    'digicert-root',
    [
      ['C', 'US'],
      ['O', 'Fake DigiCert Inc'],
      ['OU', 'www.digicert.com'],
      ['CN', 'Fake DigiCert Global Root G2'],
    ],
    undefined,
    { hash: 'sha256' },
    [-10, 15],
  )
  const tlsRsaRootG2 = ca(
    'tls-root-g2',
    [...MS_ORG, ['CN', 'Fake TLS RSA Root G2']],
    undefined,
    {},
    [-1, 15],
  )
  const crossCert = issue({
    subject: [...MS_ORG, ['CN', 'Fake TLS RSA Root G2']],
    publicKey: roles['tls-root-g2']!.publicKey,
    issuer: digicertGlobalRootG2.cert,
    signingKey: digicertGlobalRootG2.privateKey,
    ca: {},
    keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
    caIssuers: [`${DIGICERT}FakeDigiCertGlobalRootG2.crt`],
    validFrom: -365,
    validDays: 4 * 365,
  })
  // The self-signed and the cross-signed copy share key and subject; the issuers service serves both.
  const tlsRootViaDigicert: Signer = {
    ...tlsRsaRootG2,
    cert: crossCert,
    chain: [digicertGlobalRootG2.cert],
  }
  const tlsG2Ocsp02 = ca(
    'ocsp-02',
    [...MS_ORG, ['CN', 'Fake TLS G2 RSA CA OCSP 02']],
    tlsRsaRootG2,
    {
      ca: { pathLength: 0 },
      extKeyUsage: [EKU_SERVER_AUTH],
      policies: [TLS_POLICY],
      caIssuers: [
        crtUrl(MS_CERTS, 'Fake TLS RSA Root G2 - xsign'),
        crtUrl(MS_CAISSUERS, 'Fake TLS RSA Root G2 - xsign'),
      ],
      ocsp: [OCSP_URL],
    },
    [-1, 4],
  )
  const tlsG2Ocsp02Chain: Signer = { ...tlsG2Ocsp02, chain: [crossCert, digicertGlobalRootG2.cert] }
  const azureRsaTlsIssuing03 = ca(
    'issuing-03',
    [...MS_ORG, ['CN', 'Fake Azure RSA TLS Issuing CA 03']],
    digicertGlobalRootG2,
    {
      ca: { pathLength: 0 },
      extKeyUsage: [EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
      policies: [TLS_POLICY],
      caIssuers: [`${DIGICERT}FakeDigiCertGlobalRootG2.crt`],
      ocsp: ['http://ocsp.digicert.com'],
    },
    [-2, 3],
  )
  const digicertCnCa = ca(
    'digicert-cn',
    [
      ['C', 'US'],
      ['O', 'Fake DigiCert Inc'],
      ['CN', 'Fake DigiCert Basic RSA CN CA G2'],
    ],
    digicertGlobalRootG2,
    {
      ca: { pathLength: 0 },
      extKeyUsage: [EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
      caIssuers: [`${DIGICERT}FakeDigiCertGlobalRootG2.crt`],
    },
    [-2, 8],
  )

  published.set(`${DIGICERT}FakeDigiCertGlobalRootG2.crt`, digicertGlobalRootG2.cert)
  published.set(crtUrl(MS_CERTS, 'Fake TLS RSA Root G2'), tlsRsaRootG2.cert)
  for (const base of [MS_CERTS, MS_CAISSUERS]) {
    published.set(crtUrl(base, 'Fake TLS RSA Root G2 - xsign'), crossCert)
    published.set(crtUrl(base, 'Fake TLS G2 RSA CA OCSP 02'), tlsG2Ocsp02.cert)
  }
  published.set(
    crtUrl(MS_CERTS, 'Fake Azure RSA TLS Issuing CA 03 - xsign'),
    azureRsaTlsIssuing03.cert,
  )
  published.set(`${DIGICERT_CN}FakeDigiCertBasicRSACNCAG2.crt`, digicertCnCa.cert)

  const intermediates = { tlsG2Ocsp02: tlsG2Ocsp02Chain, azureRsaTlsIssuing03, digicertCnCa }
  const roots = { digicertGlobalRootG2, tlsRsaRootG2 }
  const leafKey = roles['imds-leaf']!
  const leafSpec: PkiContext['leafSpec'] = (cloud, region, issuer) => {
    const domain = CLOUDS[cloud].metadataDomain
    const aia = aiaFor(issuer.name)
    return {
      subject: LEAF_DN,
      publicKey: leafKey.publicKey,
      issuer: issuer.cert,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: [EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
      dnsNames: [`${region}.${domain}`, domain],
      caIssuers: aia,
      ocsp: [OCSP_URL],
      crl: [`http://www.microsoft.com/pkiops/crl/${encodeURIComponent(issuer.name)}.crl`],
      policies: [TLS_POLICY],
    }
  }
  const issuerFor = (cloud: CloudName): Signer =>
    cloud === 'public'
      ? intermediates.tlsG2Ocsp02
      : cloud === 'usgov'
        ? azureRsaTlsIssuing03
        : digicertCnCa
  const regional = new Map<string, Signer>()
  const leafFor = (cloud: CloudName, region: string): Signer => {
    const k = `${cloud}/${region.toLowerCase()}`
    let s = regional.get(k)
    if (!s) {
      const issuer = issuerFor(cloud)
      const cert = issue({
        ...leafSpec(cloud, region.toLowerCase(), issuer),
        signingKey: issuer.privateKey,
      })
      s = {
        name: `${region}.${CLOUDS[cloud].metadataDomain}`,
        cert,
        privateKey: leafKey.privateKey,
        chain: [issuer.cert, ...issuer.chain],
      }
      regional.set(k, s)
    }
    return s
  }
  const leaves = Object.fromEntries(
    CLOUD_NAMES.map((c) => [c, leafFor(c, CLOUDS[c].defaultRegion)]),
  ) as Record<CloudName, Signer>
  const ctx: PkiContext = {
    now,
    issue,
    leafSpec,
    leafKey,
    roles,
    intermediates,
    roots,
    publish: (u, c) => published.set(u, c),
  }
  return {
    roots,
    crossSigned: { tlsRsaRootG2: tlsRootViaDigicert.cert },
    intermediates,
    leaves,
    leafFor,
    bad: buildBadVariants(ctx),
    tls: buildTlsCert(azureRsaTlsIssuing03),
    published,
    trustBundlePem: `${digicertGlobalRootG2.cert.pem}${tlsRsaRootG2.cert.pem}`,
  }
}

function aiaFor(issuerName: string): string[] {
  if (issuerName.includes('DigiCert')) return [`${DIGICERT_CN}FakeDigiCertBasicRSACNCAG2.crt`]
  if (issuerName.includes('Issuing CA')) return [crtUrl(MS_CERTS, `${issuerName} - xsign`)]
  return [crtUrl(MS_CERTS, issuerName), crtUrl(MS_CAISSUERS, issuerName)]
}

/** One TLS certificate naming every Azure host the emulator answers for, plus loopback. */
function buildTlsCert(issuer: Signer): Pki['tls'] {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  // TLS peers check wall-clock time, not the emulator's injected clock.
  const wallNow = Date.now()
  const cert = issueCertificate({
    subject: [
      ['C', 'US'],
      ['O', 'Azure Emulator'],
      ['CN', 'management.azure.com'],
    ],
    publicKey,
    issuer: issuer.cert,
    signingKey: issuer.privateKey,
    keyUsage: ['digitalSignature'],
    extKeyUsage: [EKU_SERVER_AUTH],
    dnsNames: [...AZURE_HOST_NAMES, 'localhost'],
    ipAddresses: ['127.0.0.1', '::1', '169.254.169.254'],
    notBefore: new Date(wallNow - DAY_MS),
    notAfter: new Date(wallNow + YEAR_MS),
  })
  return {
    certPem: cert.pem,
    chainPem: `${cert.pem}${issuer.cert.pem}`,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  }
}
