import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import type { Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { cloudOfArmHost, cloudOfAuthorityHost, ISSUER_HOSTS } from './clouds.js'
import type { Cloud } from './clouds.js'
import { dispatch } from './http-kit.js'
import type { DispatchDeps, Listener, Service, ServiceName } from './http-kit.js'

export const IMDS_ADDRESS = '169.254.169.254'

export interface Tls {
  chainPem: string
  keyPem: string
}

export interface Bound {
  server: Server
  url: string
  listener: Listener
}

/** Only loopback, or the link-local IMDS address inside a loopback-only network namespace. */
export function checkBindAddress(host: string): void {
  if (host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)) return
  if (host === IMDS_ADDRESS && inPrivateNetns()) return
  throw new Error(
    `emulator: refusing to bind ${host}: only 127.0.0.0/8, or ${IMDS_ADDRESS} inside a private network namespace`,
  )
}

/** True when this process's network namespace has no interface but loopback (the box). */
export function inPrivateNetns(): boolean {
  try {
    const names = readFileSync('/proc/self/net/dev', 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter((n) => n.length > 0)
    return names.length > 0 && names.every((n) => n === 'lo')
  } catch {
    return false
  }
}

export async function listen(
  deps: DispatchDeps,
  listener: Listener,
  host: string,
  port: number,
  tls: Tls,
): Promise<Bound> {
  checkBindAddress(host)
  const handler = (req: Parameters<typeof dispatch>[2], res: Parameters<typeof dispatch>[3]) => {
    dispatch(deps, listener, req, res).catch(deps.onError)
  }
  const server =
    listener.scheme === 'https'
      ? createHttpsServer({ cert: tls.chainPem, key: tls.keyPem }, handler)
      : createHttpServer(handler)
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const shownHost = host.includes(':') ? `[${host}]` : host
  const defaultPort =
    (listener.scheme === 'https' && addr.port === 443) ||
    (listener.scheme === 'http' && addr.port === 80)
  return {
    server,
    url: `${listener.scheme}://${shownHost}${defaultPort ? '' : `:${addr.port}`}`,
    listener,
  }
}

export function close(bound: Bound): Promise<void> {
  return new Promise((resolve) => {
    bound.server.close(() => resolve())
    bound.server.closeAllConnections()
  })
}

/** Which service answers a request on a shared (box) listener: by Host, then by path. */
export function routeByHost(services: Record<ServiceName, Service>) {
  return (listener: Listener, host: string, path: string): Service => {
    if (listener.service) return services[listener.service]
    if (host === IMDS_ADDRESS) return services.imds
    if (cloudOfAuthorityHost(host)) return services.entra
    if (cloudOfArmHost(host)) return services.arm
    if (ISSUER_HOSTS.includes(host)) return services.issuers
    if (path.startsWith('/metadata/') || path.startsWith('/_vm/')) return services.imds
    if (/^\/(subscriptions|providers|tenants)(\/|$)/i.test(path)) return services.arm
    if (/\.crt(\.pem)?$/.test(path)) return services.issuers
    return services.entra
  }
}

export function cloudForHost(service: ServiceName, host: string): Cloud | undefined {
  if (service === 'entra') return cloudOfAuthorityHost(host)
  if (service === 'arm') return cloudOfArmHost(host)
  return undefined
}
