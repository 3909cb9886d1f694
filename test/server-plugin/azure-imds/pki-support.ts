// Unit-test wiring around the Azure emulator's PKI (test/azure-emulator/pki.ts): its certificates as
// the verifier's `Cert`s, an intermediate source whose AIA "network" is the emulator's published map,
// and a document signer. No sockets: AIA requests are answered in memory and recorded.
import { createPki, type Pki, type Signer } from '../../azure-emulator/pki.js'
import { sharedKeyStore } from '../../azure-emulator/keys.js'
import {
  signAttestedDocument,
  type SignDocumentInput,
} from '../../azure-emulator/attested-document.js'
import type { IssuedCert } from '../../azure-emulator/cert-builder.js'
import type { HttpFetch, HttpRequest, HttpResponse } from '../../../shared/azure/http.js'
import { createAiaFetcher } from '../../../server-plugin/azure-imds/aia.js'
import { parseCertificate, type Cert } from '../../../server-plugin/azure-imds/certificate.js'
import { IntermediatePool } from '../../../server-plugin/azure-imds/roots.js'
import type { AttestedDocument } from '../../../server-plugin/azure-imds/document.js'

/** The emulator's clock for every PKI-based unit test. */
export const NOW = new Date('2026-07-28T13:24:00Z')
export const VM_ID = 'b1310a36-d400-46f6-82cb-6217df846586'
export const SUBSCRIPTION_ID = '8a205152-b25a-417f-a676-80465535a6c9'
export const NONCE = 'hQ3vT0bX9kLm2ZpR7sYw4NcD1eFgJ8aU'

let pkiPromise: Promise<Pki> | undefined
export function testPki(): Promise<Pki> {
  pkiPromise ??= createPki(sharedKeyStore(), NOW)
  return pkiPromise
}

export const cert = (c: IssuedCert): Cert => parseCertificate(c.der)

/** An HttpFetch that serves the emulator's published issuer certificates by their real AIA URL. */
export function publishedHttp(pki: Pki, served: Map<string, IssuedCert> = new Map(pki.published)) {
  const requests: HttpRequest[] = []
  const http: HttpFetch = async (req): Promise<HttpResponse> => {
    requests.push(req)
    const hit = served.get(req.url)
    if (hit === undefined) return { status: 404, headers: {}, body: Buffer.from('not found') }
    return { status: 200, headers: { 'content-type': 'application/pkix-cert' }, body: hit.der }
  }
  return { http, requests }
}

/** A pool over the real AIA fetcher (production allow-list) whose transport is in memory. */
export function poolFor(pki: Pki, bundled: readonly IssuedCert[] = []) {
  const { http, requests } = publishedHttp(pki)
  const pool = new IntermediatePool({
    bundled: bundled.map(cert),
    fetcher: createAiaFetcher({ http, now: () => NOW.getTime() }),
    now: () => NOW.getTime(),
  })
  return { pool, requests }
}

export type SignOptions = Partial<Omit<SignDocumentInput, 'signer'>> & { signer: Signer }

/** A document signed exactly like IMDS signs it, as the agent relays it. */
export function sign(options: SignOptions): AttestedDocument {
  return signAttestedDocument({
    vmId: VM_ID,
    subscriptionId: SUBSCRIPTION_ID,
    nonce: NONCE,
    now: NOW,
    ...options,
  }).body
}
