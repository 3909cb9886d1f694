import { createHash } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { issueCertificate } from './cert-builder.js'
import type { KeyStore } from './keys.js'

const KEY_CERT_YEARS = 5
const YEAR_MS = 365 * 86_400_000
const COMMON = 'common'

export interface SigningKey {
  kid: string
  x5t: string
  privateKey: KeyObject
  publicKey: KeyObject
  certDer: Buffer
}

export interface Jwk {
  kty: 'RSA'
  use: 'sig'
  kid: string
  x5t: string
  n: string
  e: string
  x5c: string[]
  issuer?: string
}

/**
 * Entra's signing keys: a tenant-independent set (`common`) and, after `rotate(tenantId)`, a
 * tenant's own set. The first key of a set signs; rotation puts a new key first and keeps the old
 * one published unless told otherwise, as Entra overlaps keys during a rollover.
 */
export class EntraKeys {
  readonly #store: KeyStore
  readonly #sets = new Map<string, SigningKey[]>()
  #generation = 0

  constructor(store: KeyStore) {
    this.#store = store
  }

  async init(): Promise<void> {
    const [a, b] = await Promise.all([this.#make('entra-1'), this.#make('entra-2')])
    this.#sets.set(COMMON, [a, b])
    this.#generation = 2
  }

  /** The key that signs new tokens for a tenant. */
  active(tenantId?: string): SigningKey {
    return this.published(tenantId)[0]!
  }

  published(tenantId?: string): readonly SigningKey[] {
    const set = (tenantId && this.#sets.get(tenantId)) || this.#sets.get(COMMON)
    if (!set) throw new Error('entra keys used before init()')
    return set
  }

  /** Every key published anywhere (ARM accepts tokens signed by any of them). */
  find(kid: string): SigningKey | undefined {
    for (const set of this.#sets.values()) {
      const k = set.find((x) => x.kid === kid)
      if (k) return k
    }
    return undefined
  }

  async rotate(tenantId?: string, options: { keepPrevious?: boolean } = {}): Promise<string> {
    const key = await this.#make(`entra-${++this.#generation}`)
    const id = tenantId ?? COMMON
    const current = this.#sets.get(id) ?? (tenantId ? [...this.published()] : [])
    const kept = options.keepPrevious === false ? [] : current.slice(0, 2)
    this.#sets.set(id, [key, ...kept])
    return key.kid
  }

  jwks(tenantId: string | undefined, issuer?: string): { keys: Jwk[] } {
    return {
      keys: this.published(tenantId).map((k) => {
        const jwk = k.publicKey.export({ format: 'jwk' })
        return {
          kty: 'RSA',
          use: 'sig',
          kid: k.kid,
          x5t: k.x5t,
          n: String(jwk.n),
          e: String(jwk.e),
          x5c: [k.certDer.toString('base64')],
          ...(issuer === undefined ? {} : { issuer }),
        }
      }),
    }
  }

  async #make(role: string): Promise<SigningKey> {
    const pair = await this.#store.rsa(role)
    const now = Date.now()
    const cert = issueCertificate({
      subject: [['CN', 'accounts.accesscontrol.windows.net']],
      publicKey: pair.publicKey,
      signingKey: pair.privateKey,
      notBefore: new Date(now - YEAR_MS),
      notAfter: new Date(now + KEY_CERT_YEARS * YEAR_MS),
      hash: 'sha256',
      omitBasicConstraints: true,
    })
    // v1 keys: kid and x5t are both the base64url SHA-1 thumbprint of the certificate.
    const x5t = createHash('sha1').update(cert.der).digest('base64url')
    return {
      kid: x5t,
      x5t,
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
      certDer: cert.der,
    }
  }
}
