// Certificate chains Azure never sends, for the chain refusals of azure_imds that the emulator's
// PKI has no signer for (cycles, over-long chains, path length, issuer EKU, a CA leaf, a wrong
// issuer behind AIA, a leaf whose KeyUsage forbids signing). A root the test trusts
// (`trust_bundle_path`), intermediates served over loopback HTTP at allow-listed AIA URLs (the
// plugin's `endpoints.aia_issuers` points there), and one RSA leaf key, so each leaf signs
// documents the way IMDS does.
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  issueCertificate,
  type CertSpec,
  type IssuedCert,
} from '../azure-emulator/cert-builder.js'
import type { Signer } from '../azure-emulator/pki.js'

const DAY_MS = 86_400_000
const AIA_BASE = 'http://www.microsoft.com/pkiops/certs/'

interface Ca {
  cert: IssuedCert
  key: KeyObject
}

export interface CraftedPki {
  /** `http://127.0.0.1:<port>`: the plugin's `endpoints.aia_issuers`. */
  aiaIssuers: string
  /** PEM file holding the crafted root: the plugin's `trust_bundle_path`. */
  trustBundlePath: string
  /** Leaf under five AIA-served intermediates: the walk runs out of fetches. */
  aiaLimit: Signer
  /** Leaf whose AIA serves a certificate with the issuer's name but another key. */
  wrongIssuer: Signer
  /** Leaf under two CAs that issued each other, both behind AIA. */
  cycle: Signer
  /** Six intermediates: `chainTooLongWarmUp` first (caches the top three), then `chainTooLong`. */
  chainTooLongWarmUp: Signer
  chainTooLong: Signer
  /** Leaf two intermediates below a CA with path length 0. */
  pathLength: Signer
  /** Leaf under an intermediate whose EKU is clientAuth only. */
  issuerEku: Signer
  /** A leaf with every attribute of IMDS's, except that it is a CA. */
  caLeaf: Signer
  /** A leaf with every attribute of IMDS's, except that its KeyUsage lacks digitalSignature. */
  noDigitalSignature: Signer
  stop(): Promise<void>
}

export async function startCraftedPki(now: Date = new Date()): Promise<CraftedPki> {
  const served = new Map<string, Buffer>()
  const validity = {
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 30 * DAY_MS),
  }
  const ecKey = (): { privateKey: KeyObject; publicKey: KeyObject } =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const leafKey = generateKeyPairSync('rsa', { modulusLength: 2048 })

  const issue = (spec: Omit<CertSpec, 'notBefore' | 'notAfter' | 'hash'>): IssuedCert =>
    issueCertificate({ ...validity, hash: 'sha256', ...spec })
  const url = (name: string): string => `${AIA_BASE}${name}.crt`
  const publish = (name: string, cert: IssuedCert): void => {
    served.set(`/pkiops/certs/${name}.crt`, cert.der)
  }
  /** A CA named `name`, issued by `issuer` (self-signed without), optionally published at its URL. */
  const ca = (
    name: string,
    issuer: Ca | undefined,
    over: Partial<CertSpec> & {
      aiaTo?: string
      key?: { privateKey: KeyObject; publicKey: KeyObject }
    } = {},
  ): Ca => {
    const k = over.key ?? ecKey()
    const { aiaTo, key: _key, ...spec } = over
    const cert = issue({
      subject: [
        ['O', 'Crafted Test PKI'],
        ['CN', name],
      ],
      publicKey: k.publicKey,
      signingKey: issuer?.key ?? k.privateKey,
      ...(issuer === undefined ? {} : { issuer: issuer.cert }),
      ca: {},
      keyUsage: ['keyCertSign', 'cRLSign'],
      ...(aiaTo === undefined ? {} : { caIssuers: [url(aiaTo)] }),
      ...spec,
    })
    return { cert, key: k.privateKey }
  }
  const leaf = (
    name: string,
    issuer: Ca,
    aiaTo: string | undefined,
    over: Partial<CertSpec> = {},
  ): Signer => ({
    name,
    cert: issue({
      subject: [
        ['O', 'Microsoft Corporation'],
        ['CN', 'metadata.azure.com'],
      ],
      publicKey: leafKey.publicKey,
      signingKey: issuer.key,
      issuer: issuer.cert,
      ca: false,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
      dnsNames: ['eastus.metadata.azure.com', 'metadata.azure.com'],
      ...(aiaTo === undefined ? {} : { caIssuers: [url(aiaTo)] }),
      ...over,
    }),
    privateKey: leafKey.privateKey,
    chain: [],
  })

  const root = ca('Crafted Root', undefined)

  // five intermediates, each behind AIA: leaf → I1 → … → I5 → root
  let above: Ca = root
  const ladder: Ca[] = []
  for (let i = 5; i >= 1; i--) {
    const c = ca(`Crafted Ladder ${i}`, above, i === 5 ? {} : { aiaTo: `ladder-${i + 1}` })
    publish(`ladder-${i}`, c.cert)
    ladder.unshift(c)
    above = c
  }
  const aiaLimit = leaf('aia-limit', ladder[0]!, 'ladder-1')

  // the leaf's issuer as AIA serves it: same name, another key
  const realIssuer = ca('Crafted Issuer', root)
  const impostor = ca('Crafted Issuer', root)
  publish('impostor', impostor.cert)
  const wrongIssuer = leaf('wrong-issuer', realIssuer, 'impostor')

  // A and B issued each other: leaf → A → B → A
  const bKey = ecKey()
  const bName = ca('Crafted Cycle B', undefined, { key: bKey })
  const a = ca('Crafted Cycle A', { cert: bName.cert, key: bKey.privateKey }, { aiaTo: 'cycle-b' })
  const b = ca('Crafted Cycle B', a, { aiaTo: 'cycle-a', key: bKey })
  publish('cycle-a', a.cert)
  publish('cycle-b', b.cert)
  const cycle = leaf('cycle', a, 'cycle-a')

  // six intermediates: J6 under the root, … J1; J4–J6 are cached by a first attestation
  above = root
  const tall: Ca[] = []
  for (let i = 6; i >= 1; i--) {
    const c = ca(`Crafted Tall ${i}`, above, i === 6 ? {} : { aiaTo: `tall-${i + 1}` })
    publish(`tall-${i}`, c.cert)
    tall.unshift(c)
    above = c
  }
  const chainTooLongWarmUp = leaf('chain-too-long-warm-up', tall[3]!, 'tall-4')
  const chainTooLong = leaf('chain-too-long', tall[0]!, 'tall-1')

  // a CA with path length 0 two levels above the leaf
  const p0 = ca('Crafted PathLen 0', root, { ca: { pathLength: 0 } })
  publish('pathlen-0', p0.cert)
  const below = ca('Crafted Below PathLen 0', p0, { aiaTo: 'pathlen-0' })
  publish('below-pathlen-0', below.cert)
  const pathLength = leaf('path-length', below, 'below-pathlen-0')

  // an intermediate restricted to client authentication
  const clientOnly = ca('Crafted Client Auth CA', root, { extKeyUsage: [EKU_CLIENT_AUTH] })
  publish('client-auth-ca', clientOnly.cert)
  const issuerEku = leaf('issuer-eku', clientOnly, 'client-auth-ca')

  const caLeaf = leaf('ca-leaf', root, undefined, {
    ca: {},
    keyUsage: ['digitalSignature', 'keyCertSign'],
  })

  const noDigitalSignature = leaf('no-digital-signature', root, undefined, {
    keyUsage: ['keyEncipherment'],
  })

  const dir = mkdtempSync(join(tmpdir(), 'crafted-pki-'))
  const trustBundlePath = join(dir, 'roots.pem')
  writeFileSync(trustBundlePath, root.cert.pem)

  const server: Server = createServer((req, res) => {
    const der = served.get(new URL(req.url ?? '/', 'http://x').pathname)
    if (der === undefined) {
      res.writeHead(404).end('not found')
      return
    }
    res.writeHead(200, { 'content-type': 'application/pkix-cert' }).end(der)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  return {
    aiaIssuers: `http://127.0.0.1:${port}`,
    trustBundlePath,
    aiaLimit,
    wrongIssuer,
    cycle,
    chainTooLongWarmUp,
    chainTooLong,
    pathLength,
    issuerEku,
    caLeaf,
    noDigitalSignature,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
