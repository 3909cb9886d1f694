// A small SPIFFE Workload API client (proto/spiffe/workload/workload.proto) over the agent's unix
// socket: the first X.509-SVID response, and JWT-SVIDs for an audience. Enough for the demo and the
// federation example; a production workload would use a SPIFFE library of its language.
import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js'
import { loadPackageDefinition } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The Workload API refuses calls without this header (a guard against SSRF from browsers). */
const SECURITY_HEADER = 'workload.spiffe.io'
const DEFAULT_DEADLINE_MS = 10_000

export interface X509Svid {
  spiffeId: string
  /** The leaf first, then any intermediates, as PEM. */
  certificates: string[]
  notAfter: string
  /** The trust bundle (CA certificates), as PEM. */
  bundle: string[]
}

export interface JwtSvid {
  spiffeId: string
  token: string
}

interface RawX509Response {
  svids: { spiffe_id: string; x509_svid: Buffer; bundle: Buffer }[]
}
interface RawJwtResponse {
  svids: { spiffe_id: string; svid: string }[]
}
type WorkloadStub = Client & {
  FetchX509SVID(req: object, md: Metadata, opts: object): NodeJS.EventEmitter & { cancel(): void }
  FetchJWTSVID(
    req: { audience: string[]; spiffe_id?: string },
    md: Metadata,
    opts: object,
    cb: (err: ServiceError | null, res?: RawJwtResponse) => void,
  ): void
}

function protoRoot(): string {
  // dist/examples/federation → the repo root holds proto/ (copied beside dist/ too by the build)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'proto', 'spiffe', 'workload', 'workload.proto')))
      return join(dir, 'proto')
    const parent = dirname(dir)
    if (parent === dir) throw new Error('proto/spiffe/workload/workload.proto not found')
    dir = parent
  }
}

let stubClass:
  | (new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => WorkloadStub)
  | undefined

function loadStub(): NonNullable<typeof stubClass> {
  if (stubClass === undefined) {
    const def = loadSync('spiffe/workload/workload.proto', {
      includeDirs: [protoRoot()],
      keepCase: true,
      longs: String,
      defaults: true,
    })
    const pkg = loadPackageDefinition(def) as unknown as {
      SpiffeWorkloadAPI: NonNullable<typeof stubClass>
    }
    stubClass = pkg.SpiffeWorkloadAPI
  }
  return stubClass
}

/** DER certificates concatenated back to back (the Workload API's encoding) → PEM strings. */
export function splitDerCertificates(der: Buffer): string[] {
  const out: string[] = []
  let at = 0
  while (at < der.length) {
    // a DER SEQUENCE: 0x30, then a short or long length
    if (der[at] !== 0x30) throw new Error('malformed certificate list from the Workload API')
    let len = der[at + 1] ?? 0
    let header = 2
    if (len & 0x80) {
      const n = len & 0x7f
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + (der[at + 2 + i] ?? 0)
      header = 2 + n
    }
    const cert = new X509Certificate(der.subarray(at, at + header + len))
    out.push(cert.toString())
    at += header + len
  }
  return out
}

export class WorkloadApiClient {
  readonly #stub: WorkloadStub

  /** `socketPath`: the agent's `socket_path` (a unix socket). */
  constructor(readonly socketPath: string) {
    const Stub = loadStub()
    this.#stub = new Stub(`unix://${socketPath}`, credentials.createInsecure())
  }

  #metadata(): Metadata {
    const md = new Metadata()
    md.set(SECURITY_HEADER, 'true')
    return md
  }

  /** The first X.509-SVID the agent streams for this process (PermissionDenied until it has one). */
  fetchX509Svid(deadlineMs = DEFAULT_DEADLINE_MS): Promise<X509Svid> {
    return new Promise((resolve, reject) => {
      const call = this.#stub.FetchX509SVID({}, this.#metadata(), {
        deadline: Date.now() + deadlineMs,
      })
      call.once('data', (res: RawX509Response) => {
        call.cancel()
        const svid = res.svids[0]
        if (svid === undefined) return reject(new Error('the Workload API returned no X.509-SVID'))
        const certificates = splitDerCertificates(svid.x509_svid)
        resolve({
          spiffeId: svid.spiffe_id,
          certificates,
          notAfter: new X509Certificate(certificates[0]!).validTo,
          bundle: splitDerCertificates(svid.bundle),
        })
      })
      call.once('error', (err: ServiceError) => {
        if (err.code !== 1 /* CANCELLED, after our own cancel() */) reject(err)
      })
    })
  }

  /** A JWT-SVID for `audience` (a fresh one each call: the agent caches and renews them). */
  fetchJwtSvid(
    audience: string,
    spiffeId?: string,
    deadlineMs = DEFAULT_DEADLINE_MS,
  ): Promise<JwtSvid> {
    return new Promise((resolve, reject) => {
      this.#stub.FetchJWTSVID(
        { audience: [audience], ...(spiffeId === undefined ? {} : { spiffe_id: spiffeId }) },
        this.#metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, res) => {
          if (err) return reject(err)
          const svid = res?.svids[0]
          if (svid === undefined) return reject(new Error('the Workload API returned no JWT-SVID'))
          resolve({ spiffeId: svid.spiffe_id, token: svid.svid })
        },
      )
    })
  }

  close(): void {
    this.#stub.close()
  }
}

/**
 * Retries `fetch` while the agent has no SVID for this workload yet (PermissionDenied, Unavailable:
 * entries reach a new agent on its first sync), up to `attempts` times `intervalMs` apart.
 */
export async function untilIssued<T>(
  fetch: () => Promise<T>,
  attempts = 60,
  intervalMs = 500,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fetch()
    } catch (err) {
      const code = (err as Partial<ServiceError>).code
      const retriable =
        code === 7 /* PERMISSION_DENIED */ || code === 14 /* UNAVAILABLE */ || code === 4
      if (!retriable || i >= attempts) throw err
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  }
}
