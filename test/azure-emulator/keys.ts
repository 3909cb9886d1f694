import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)
const RSA_BITS = 2048
const CACHE_VERSION = 1

export interface KeyPair {
  privateKey: KeyObject
  publicKey: KeyObject
}

/**
 * RSA-2048 generation takes 200–700 ms per key on a small machine, so keys are cached by role:
 * in memory for the process, and on disk (`$AZURE_EMULATOR_KEY_CACHE`, default
 * `<tmpdir>/spire-azure-emulator-keys.json`; `off` disables) across processes. They are test keys.
 */
export class KeyStore {
  readonly #memory = new Map<string, Promise<KeyPair>>()
  readonly #file: string | undefined

  constructor(file: string | undefined = defaultCacheFile()) {
    this.#file = file
    for (const [role, pem] of Object.entries(this.#readFile())) {
      this.#memory.set(role, Promise.resolve(pairFromPem(pem)))
    }
  }

  /** The key for a role, generating (and caching) it on first use. */
  rsa(role: string): Promise<KeyPair> {
    let p = this.#memory.get(role)
    if (!p) {
      p = generate('rsa', { modulusLength: RSA_BITS }).then((pair) => {
        this.#persist(role, pair.privateKey)
        return pair
      })
      this.#memory.set(role, p)
    }
    return p
  }

  #readFile(): Record<string, string> {
    if (!this.#file) return {}
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.#file, 'utf8'))
      if (typeof parsed !== 'object' || parsed === null) return {}
      const { version, keys } = parsed as { version?: unknown; keys?: unknown }
      if (version !== CACHE_VERSION || typeof keys !== 'object' || keys === null) return {}
      return Object.fromEntries(
        Object.entries(keys).filter((e): e is [string, string] => typeof e[1] === 'string'),
      )
    } catch {
      return {}
    }
  }

  #persist(role: string, key: KeyObject): void {
    if (!this.#file) return
    try {
      const keys = { ...this.#readFile(), [role]: key.export({ type: 'pkcs8', format: 'pem' }) }
      mkdirSync(join(this.#file, '..'), { recursive: true })
      const tmp = `${this.#file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify({ version: CACHE_VERSION, keys }), { mode: 0o600 })
      renameSync(tmp, this.#file)
    } catch {
      // a read-only tmpdir only costs start-up time
    }
  }
}

function pairFromPem(pem: string): KeyPair {
  const privateKey = createPrivateKey(pem)
  return { privateKey, publicKey: createPublicKey(privateKey) }
}

function defaultCacheFile(): string | undefined {
  const env = process.env.AZURE_EMULATOR_KEY_CACHE
  if (env === 'off') return undefined
  return env && env.length > 0 ? env : join(tmpdir(), 'spire-azure-emulator-keys.json')
}

let shared: KeyStore | undefined

/** The process-wide key store (one disk read per process). */
export function sharedKeyStore(): KeyStore {
  shared ??= new KeyStore()
  return shared
}
