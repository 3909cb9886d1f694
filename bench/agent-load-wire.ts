// SPIRE's Agent API as spire-agent speaks it on its first attestation, for the load generator
// (bench/agent-load.ts): a TLS connection to spire-server's TCP port, the server's SVID checked like
// spire-agent does (chain against the trust bundle, or `insecure_bootstrap`: no chain check, only
// the soft check that the server presents `spiffe://<td>/spire/server`), and the bidi
// `spire.api.server.agent.v1.Agent/AttestAgent` stream: params {data, params: {csr}}, a
// challenge_response per challenge, and at the result a half-close (the Go client's CloseSend).
// gRPC is framed by hand over node:http2; messages are (de)serialised with the verbatim protos in
// proto/spire/api (loaded with @grpc/proto-loader), so the client is small and costs little CPU.
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { join } from 'node:path'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { X509Certificate } from 'node:crypto'
import { loadSync, type MethodDefinition } from '@grpc/proto-loader'
import { REPO_ROOT } from '../test/support/paths.js'
import { certParts, signedBy, type BundleCa } from './agent-load-csr.js'

export const ATTEST_AGENT_PATH = '/spire.api.server.agent.v1.Agent/AttestAgent'

export interface AttestAgentRequest {
  params?: {
    data: { type: string; payload: Uint8Array }
    params: { csr: Uint8Array }
  }
  challenge_response?: Uint8Array
}

export interface AttestAgentResponse {
  step?: 'result' | 'challenge'
  challenge?: Buffer
  result?: {
    svid?: { id?: { trust_domain?: string; path?: string }; cert_chain?: Buffer[] }
    reattestable?: boolean
  }
}

type AttestMethod = MethodDefinition<AttestAgentRequest, AttestAgentResponse>

let method: AttestMethod | undefined

/** The AttestAgent method from proto/spire/api/server/agent/v1/agent.proto (loaded once). */
export function attestAgentMethod(): AttestMethod {
  if (method === undefined) {
    const pkg = loadSync('spire/api/server/agent/v1/agent.proto', {
      includeDirs: [join(REPO_ROOT, 'proto')],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
    })
    const service = pkg['spire.api.server.agent.v1.Agent'] as Record<string, AttestMethod>
    method = service['AttestAgent']!
    if (method.path !== ATTEST_AGENT_PATH || !method.requestStream || !method.responseStream)
      throw new Error('agent.proto: AttestAgent is not the bidi stream expected')
  }
  return method
}

export interface ServerTarget {
  /** `host:port` of spire-server's agent-facing endpoint (bind_address:bind_port). */
  address: string
  trustDomain: string
  /** CAs that must have signed the server's SVID; undefined: insecure bootstrap. */
  bundle?: readonly BundleCa[]
}

/** A gRPC failure: the status code and message from the trailers, or a transport error. */
export class AgentApiError extends Error {
  readonly code: number | undefined
  constructor(message: string, code?: number) {
    super(message)
    this.name = 'AgentApiError'
    this.code = code
  }
}

let tlsContext: SecureContext | undefined

/**
 * Opens one HTTP/2 connection to spire-server and checks its SVID as spire-agent does: its one URI
 * SAN is `spiffe://<td>/spire/server`, and (unless insecure bootstrap) a CA of the bundle signed it.
 * Like spire-agent's VerifyPeerCertificate, the check is ours rather than the TLS stack's: one
 * shared TLS context (a context per connection, or Node's own verification with the detailed peer
 * certificate it builds, costs the load generator ~1 ms per agent, more than the server's work).
 * Only a server certificate signed directly by a bundle CA is accepted (SPIRE without an
 * UpstreamAuthority).
 */
export function openConnection(
  target: ServerTarget,
  signal?: AbortSignal,
): Promise<ClientHttp2Session> {
  const serverId = `spiffe://${target.trustDomain}/spire/server`
  tlsContext ??= createSecureContext({ minVersion: 'TLSv1.2' })
  return new Promise((resolve, reject) => {
    const session = connect(`https://${target.address}`, {
      secureContext: tlsContext,
      rejectUnauthorized: false, // verified below
    })
    const fail = (err: Error): void => {
      signal?.removeEventListener('abort', onAbort)
      session.destroy()
      reject(err)
    }
    const onAbort = (): void => fail(new AgentApiError('connection cancelled by the client'))
    signal?.addEventListener('abort', onAbort, { once: true })
    session.once('error', fail)
    session.once('connect', () => {
      signal?.removeEventListener('abort', onAbort)
      session.off('error', fail)
      session.on('error', () => undefined) // surfaced by the streams
      const socket = session.socket as unknown as {
        getPeerX509Certificate?(): X509Certificate | undefined
      }
      const raw = socket.getPeerX509Certificate?.()?.raw
      if (raw === undefined) return fail(new AgentApiError('server presented no certificate'))
      let cert
      try {
        cert = certParts(raw)
      } catch (err) {
        return fail(new AgentApiError(`server certificate: ${(err as Error).message}`))
      }
      if (target.bundle !== undefined && !target.bundle.some((ca) => signedBy(cert, ca)))
        return fail(new AgentApiError('x509: certificate signed by unknown authority'))
      if (cert.uris.length !== 1 || cert.uris[0] !== serverId)
        return fail(
          new AgentApiError(
            `expected server SPIFFE ID "${serverId}"; got [${cert.uris.join(' ')}]`,
          ),
        )
      return resolve(session)
    })
  })
}

/** What one attestation produced. */
export interface AttestOutcome {
  certChain: Buffer[]
  reattestable: boolean
  challenges: number
}

export interface AttestCall {
  type: string
  payload: Uint8Array
  csr: Uint8Array
  /** Answers a challenge; absent: a challenge fails the attestation. */
  respond?(challenge: Uint8Array): Promise<Uint8Array>
  /** Cancels the stream (RST_STREAM CANCEL), as a Go context cancel does. */
  signal?: AbortSignal
}

const frame = (msg: Buffer): Buffer => {
  const head = Buffer.alloc(5)
  head.writeUInt32BE(msg.length, 1)
  return Buffer.concat([head, msg])
}

/**
 * One AttestAgent stream on `session`: sends the params, answers challenges, resolves at the result
 * after half-closing its side (spire-agent's `CloseSend`). Rejects with the server's status.
 */
export function attestAgent(session: ClientHttp2Session, call: AttestCall): Promise<AttestOutcome> {
  const m = attestAgentMethod()
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': ATTEST_AGENT_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': 'spire-azure-agent-load',
      })
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)))
      return
    }
    let settled = false
    let challenges = 0
    let buffered: Buffer = Buffer.alloc(0)
    let status: { code: number; message: string } | undefined
    const settle = (err: Error | undefined, outcome?: AttestOutcome): void => {
      if (settled) return
      settled = true
      call.signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve(outcome!)
      else {
        if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL)
        reject(err)
      }
    }
    const onAbort = (): void => settle(new AgentApiError('attestation cancelled by the client'))
    call.signal?.addEventListener('abort', onAbort, { once: true })
    const readStatus = (headers: Record<string, unknown>): void => {
      const code = headers['grpc-status']
      if (code === undefined) return
      const raw = String(headers['grpc-message'] ?? '')
      let message = raw
      try {
        message = decodeURIComponent(raw)
      } catch {
        // not percent-encoded after all
      }
      status = { code: Number(code), message }
    }
    stream.on('response', (headers) => readStatus(headers))
    stream.on('trailers', (headers) => readStatus(headers))
    stream.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      while (buffered.length >= 5) {
        const len = buffered.readUInt32BE(1)
        if (buffered.length < 5 + len) break
        if (buffered[0] !== 0) {
          settle(new AgentApiError('compressed gRPC message not supported'))
          return
        }
        let msg: AttestAgentResponse
        try {
          msg = m.responseDeserialize(buffered.subarray(5, 5 + len))
        } catch (err) {
          settle(new AgentApiError(`undecodable AttestAgentResponse: ${(err as Error).message}`))
          return
        }
        buffered = buffered.subarray(5 + len)
        onMessage(msg)
      }
    })
    const onMessage = (msg: AttestAgentResponse): void => {
      if (settled) return
      if (msg.step === 'challenge') {
        challenges++
        if (call.respond === undefined) {
          settle(new AgentApiError('unexpected challenge from the server'))
          return
        }
        call.respond(msg.challenge ?? Buffer.alloc(0)).then(
          (answer) => {
            if (settled || stream.closed) return
            stream.write(frame(m.requestSerialize({ challenge_response: answer })))
          },
          (err: unknown) =>
            settle(err instanceof Error ? err : new Error(`challenge response: ${String(err)}`)),
        )
        return
      }
      const chain = msg.result?.svid?.cert_chain
      if (msg.step !== 'result' || chain === undefined || chain.length === 0) {
        settle(new AgentApiError('attest response is missing SVID'))
        return
      }
      stream.end() // CloseSend
      settle(undefined, {
        certChain: chain,
        reattestable: msg.result?.reattestable ?? false,
        challenges,
      })
    }
    stream.on('error', (err) => settle(new AgentApiError(`stream error: ${err.message}`)))
    stream.on('close', () => {
      if (settled) return
      if (status !== undefined && status.code !== 0)
        settle(
          new AgentApiError(
            `rpc error: code = ${codeName(status.code)} desc = ${status.message}`,
            status.code,
          ),
        )
      else settle(new AgentApiError('stream closed before the result'))
    })
    stream.write(
      frame(
        m.requestSerialize({
          params: { data: { type: call.type, payload: call.payload }, params: { csr: call.csr } },
        }),
      ),
    )
  })
}

/** Waits for the stream's end after the result (the server's trailers) or cancels it, then closes. */
export function closeConnection(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) return resolve()
    const timer = setTimeout(() => session.destroy(), 5_000)
    session.close(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}

const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
]

/** Go's codes.Code String(), as spire-agent prints errors. */
export const codeName = (code: number): string => CODE_NAMES[code] ?? `Code(${code})`
