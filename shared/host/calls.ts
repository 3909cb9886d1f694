import {
  Client,
  credentials,
  Metadata,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js'
import { serviceDefinition, type ServiceName } from '../plugin/protos.js'
import { statusName } from '../plugin/status.js'
import type { StatusName } from '../plugin/errors.js'

/** SPIRE sets its client message limits to math.MaxInt32. */
const MAX_MESSAGE_BYTES = 0x7fffffff

/** A failed RPC as the host sees it: code, the plugin's message, and SPIRE's facade-prefixed text. */
export class HostCallError extends Error {
  readonly code: StatusName
  readonly details: string

  constructor(code: StatusName, details: string, prefix?: string) {
    super(prefix === undefined ? details : `${prefix}: ${details}`)
    this.name = 'HostCallError'
    this.code = code
    this.details = details
  }
}

export function toHostCallError(err: unknown, prefix?: string): HostCallError {
  if (err instanceof HostCallError) return err
  const e = err as Partial<ServiceError>
  if (typeof e.code === 'number')
    return new HostCallError(statusName(e.code), e.details ?? '', prefix)
  return new HostCallError('Internal', err instanceof Error ? err.message : String(err), prefix)
}

/** A plaintext h2c connection to the plugin's socket, with typed unary and bidi helpers. */
export class PluginConnection {
  readonly #client: Client

  constructor(target: string) {
    // go-plugin dials with a custom dialer and target "unused"; grpc-js needs the real unix target
    this.#client = new Client(target, credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    })
  }

  waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
    )
  }

  unary<Res>(service: ServiceName, rpc: string, request: object, timeoutMs: number): Promise<Res> {
    const def = method(service, rpc)
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, value?: unknown) =>
          err ? reject(toHostCallError(err)) : resolve(value as Res),
      )
    })
  }

  bidi<Req, Res>(
    service: ServiceName,
    rpc: string,
    metadata = new Metadata(),
  ): ClientDuplexStream<Req, Res> {
    const def = method(service, rpc)
    return this.#client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize as (v: Req) => Buffer,
      def.responseDeserialize as (b: Buffer) => Res,
      metadata,
      {},
    )
  }

  serverStream<Res>(service: ServiceName, rpc: string, request: object) {
    const def = method(service, rpc)
    return this.#client.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize as (b: Buffer) => Res,
      request,
      new Metadata(),
      {},
    )
  }

  close(): void {
    this.#client.close()
  }
}

function method(service: ServiceName, rpc: string) {
  const def = serviceDefinition(service)[rpc]
  if (def === undefined) throw new Error(`unknown method ${service}/${rpc}`)
  return def
}
