import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Cloud } from './clouds.js'
import type { Counters } from './counters.js'
import type { Fault, Faults } from './faults.js'

export type ServiceName = 'imds' | 'entra' | 'arm' | 'issuers'

/** Largest request body the emulator reads. */
const MAX_BODY_BYTES = 1024 * 1024
const SLOW_BODY_CHUNK_BYTES = 64
const SLOW_BODY_DELAY_MS = 50

export interface Listener {
  scheme: 'http' | 'https'
  /** Fixed service, or undefined to dispatch on the Host header (the box). */
  service?: ServiceName
  /** IMDS listeners dedicated to one VM */
  vmKey?: string
}

export interface Reply {
  status: number
  headers?: Record<string, string>
  body?: string | Buffer | object
}

export interface RequestContext {
  req: IncomingMessage
  url: URL
  /** Host name the client used (lower case, no port) */
  host: string
  /** scheme://host[:port] as the client sees this server */
  origin: string
  listener: Listener
  /** The cloud a real Azure host name implies (box mode), else undefined: serve every cloud */
  cloud?: Cloud
  route: string
  body(): Promise<Buffer>
}

export interface Route {
  route: string
  handle(ctx: RequestContext): Promise<Reply> | Reply
}

export interface Service {
  name: ServiceName
  /** Routes a request; undefined is a 404 in the service's own error shape. */
  match(method: string, url: URL, ctx: Omit<RequestContext, 'route'>): Route | undefined
  notFound(ctx: Omit<RequestContext, 'route'>): Reply
  /** Error body for an injected failure status, in the service's shape. */
  errorReply(status: number): Reply
}

export interface DispatchDeps {
  counters: Counters
  faults: Faults
  /** The emulator's clock (Retry-After windows are measured on it). */
  now(): Date
  /** How injected latency and slow bodies wait; tests inject one to count and order the waits. */
  sleep(ms: number): Promise<void>
  serviceFor(listener: Listener, host: string, path: string): Service
  cloudFor(service: ServiceName, host: string): Cloud | undefined
  onError(err: unknown): void
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body: body as object, headers }
}

export async function dispatch(
  deps: DispatchDeps,
  listener: Listener,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const hostHeader = req.headers.host ?? '127.0.0.1'
  const url = new URL(req.url ?? '/', `${listener.scheme}://${hostHeader}`)
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const service = deps.serviceFor(listener, host, url.pathname)
  const base = {
    req,
    url,
    host,
    origin: `${listener.scheme}://${hostHeader}`,
    listener,
    ...optional('cloud', deps.cloudFor(service.name, host)),
    body: () => readBody(req),
  }
  let reply: Reply
  let fault: Fault | undefined
  try {
    const route = service.match(req.method ?? 'GET', url, base)
    const routeName = route?.route ?? `${service.name}.not-found`
    deps.counters.hit(routeName)
    const at = deps.now().getTime()
    deps.faults.observe(routeName, at)
    fault = deps.faults.take(routeName)
    if (fault?.kind === 'throttle') deps.faults.throttled(routeName, at, fault.retryAfterS ?? 1)
    if (fault?.kind === 'latency') await deps.sleep(fault.ms)
    if (fault?.kind === 'reset') {
      resetConnection(req.socket)
      return
    }
    const injected = fault && injectedReply(service, fault)
    reply =
      injected ??
      (route ? await route.handle({ ...base, route: routeName }) : service.notFound(base))
  } catch (err) {
    deps.onError(err)
    reply = service.errorReply(500)
  }
  await send(res, reply, deps.sleep, fault?.kind === 'slow-body' ? fault : undefined)
}

/**
 * A TCP RST. On TLS (Entra ID, ARM) it is the TCP socket under the TLS one that is reset:
 * resetAndDestroy refuses a TLS handle (ERR_INVALID_HANDLE_TYPE).
 */
function resetConnection(socket: IncomingMessage['socket']): void {
  const tcp = (socket as typeof socket & { _parent?: typeof socket | null })._parent
  ;(tcp ?? socket).resetAndDestroy()
}

function injectedReply(service: Service, fault: Fault): Reply | undefined {
  switch (fault.kind) {
    case 'status':
      return fault.body === undefined
        ? service.errorReply(fault.status)
        : json(fault.status, fault.body)
    case 'throttle': {
      const r = service.errorReply(429)
      return { ...r, headers: { ...r.headers, 'retry-after': String(fault.retryAfterS ?? 1) } }
    }
    case 'gone':
      return service.errorReply(410)
    default:
      return undefined
  }
}

async function send(
  res: ServerResponse,
  reply: Reply,
  sleep: (ms: number) => Promise<void>,
  slow?: { chunkBytes?: number; chunkDelayMs?: number },
): Promise<void> {
  const isRaw = typeof reply.body === 'string' || Buffer.isBuffer(reply.body)
  const payload =
    reply.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(isRaw ? (reply.body as string | Buffer) : JSON.stringify(reply.body))
  const headers: Record<string, string> = {
    ...(isRaw || reply.body === undefined
      ? {}
      : { 'content-type': 'application/json; charset=utf-8' }),
    ...reply.headers,
  }
  if (!slow) {
    res.writeHead(reply.status, { ...headers, 'content-length': String(payload.length) })
    res.end(payload)
    return
  }
  // A slow body: headers at once, then the body in small delayed chunks (no content-length).
  res.writeHead(reply.status, headers)
  const size = slow.chunkBytes ?? SLOW_BODY_CHUNK_BYTES
  for (let i = 0; i < payload.length && !res.destroyed; i += size) {
    res.write(payload.subarray(i, i + size))
    await sleep(slow.chunkDelayMs ?? SLOW_BODY_DELAY_MS)
  }
  res.end()
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY_BYTES) req.destroy(new Error('request body too large'))
      else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** A real wait that does not keep the process alive on its own (a stopped emulator exits at once). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref())
}

export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}
