import { CLOUD_NAMES, findCloud, type AzureCloud } from '../../shared/azure/clouds.js'
import { parseGoDuration } from '../../shared/go/duration.js'
import { isLoopbackHost } from '../../shared/azure/http.js'
import type { Report } from '../../shared/plugin/index.js'
import type { Endpoints } from './config.js'

// Field parsers for config.ts: each reports its own problems and returns a usable fallback.

export function duration(
  value: string | undefined,
  key: string,
  fallback: number,
  [min, max]: [number, number],
  report: Report,
): number {
  if (value === undefined || value === '') return fallback
  const ms = parseGoDuration(value)
  if (ms === undefined || ms < min || ms > max) {
    report.error(
      `${key} ${JSON.stringify(value)} must be a duration between ${min / 1000}s and ${max / 1000}s`,
    )
    return fallback
  }
  return ms
}

export function cloudOrReport(
  name: string | undefined,
  what: string,
  report: Report,
): AzureCloud | undefined {
  if (name === undefined || name === '') return undefined
  const cloud = findCloud(name)
  if (cloud === undefined) {
    report.error(`${what} ${JSON.stringify(name)} is not one of ${CLOUD_NAMES.join(', ')}`)
  }
  return cloud
}

export interface EndpointOverrides {
  authorityHost: string | undefined
  armEndpoint: string | undefined
  caFile: string | undefined
  imds: string | undefined
}

export function endpointOverrides(
  raw: { authority_host?: string; resource_manager?: string; imds?: string; ca_file?: string },
  report: Report,
): EndpointOverrides {
  const url = (
    value: string | undefined,
    key: string,
    allowHttp: boolean | 'loopback',
  ): string | undefined => {
    if (value === undefined || value === '') return undefined
    let u: URL
    try {
      u = new URL(value)
    } catch {
      report.error(`endpoints.${key} ${JSON.stringify(value)} is not a URL`)
      return undefined
    }
    const httpOk =
      u.protocol === 'http:' &&
      (allowHttp === true || (allowHttp === 'loopback' && isLoopbackHost(u.hostname)))
    if (u.protocol !== 'https:' && !httpOk) {
      report.error(`endpoints.${key} ${JSON.stringify(value)} must use https`)
      return undefined
    }
    if (u.search !== '' || u.hash !== '') {
      report.error(`endpoints.${key} ${JSON.stringify(value)} must not have a query or fragment`)
      return undefined
    }
    return value.replace(/\/+$/, '')
  }
  return {
    authorityHost: url(raw.authority_host, 'authority_host', 'loopback'),
    // the Azure SDKs refuse to send bearer tokens over plain http
    armEndpoint: url(raw.resource_manager, 'resource_manager', false),
    // IMDS is plain http on every VM
    imds: url(raw.imds, 'imds', true),
    caFile: raw.ca_file || undefined,
  }
}

export function resolveEndpoints(cloud: AzureCloud, o: EndpointOverrides): Endpoints {
  return {
    authorityHost: o.authorityHost ?? cloud.authorityHost,
    armEndpoint: o.armEndpoint ?? cloud.armEndpoint,
    caFile: o.caFile,
  }
}
