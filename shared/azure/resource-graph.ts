import { ArmError, isRecord } from './arm.js'
import type { ArmRest } from './arm-rest.js'
import { isGuid } from './resource-id.js'

/** The GA api-version (azure-facts §7). */
export const RESOURCE_GRAPH_API_VERSION = '2021-03-01'
export const RESOURCE_GRAPH_PATH = '/providers/Microsoft.ResourceGraph/resources'
/** A lookup by vmId matches one row; a few pages is already a sign of trouble. */
export const RESOURCE_GRAPH_MAX_PAGES = 5

export type GraphRow = Readonly<Record<string, unknown>>

/**
 * Runs a Resource Graph query scoped to `subscriptions` (objectArray results) and follows
 * `$skipToken` up to RESOURCE_GRAPH_MAX_PAGES. deviation: upstream reads the first page only.
 */
export async function queryResourceGraph(
  rest: ArmRest,
  request: { subscriptions: readonly string[]; query: string; top?: number },
  signal?: AbortSignal,
): Promise<GraphRow[]> {
  const rows: GraphRow[] = []
  let skipToken: string | undefined
  for (let page = 0; page < RESOURCE_GRAPH_MAX_PAGES; page++) {
    const body = {
      subscriptions: [...request.subscriptions],
      query: request.query,
      options: {
        resultFormat: 'objectArray',
        ...(request.top === undefined ? {} : { $top: request.top }),
        ...(skipToken === undefined ? {} : { $skipToken: skipToken }),
      },
    }
    const res = await rest.post(
      RESOURCE_GRAPH_PATH,
      { 'api-version': RESOURCE_GRAPH_API_VERSION },
      body,
      signal,
    )
    const data = isRecord(res) ? res['data'] : undefined
    if (!Array.isArray(data)) throw new ArmError('resource graph response has no data array')
    for (const row of data as unknown[]) if (isRecord(row)) rows.push(row)
    const next = isRecord(res) ? res['$skipToken'] : undefined
    if (typeof next !== 'string' || next === '') return rows
    skipToken = next
  }
  throw new ArmError(`resource graph query returned more than ${RESOURCE_GRAPH_MAX_PAGES} pages`)
}

function guid(value: string, what: string): string {
  // the value is embedded in KQL: only a validated GUID may go there
  if (!isGuid(value))
    throw new ArmError(
      `refusing to query Resource Graph with a malformed ${what} ${JSON.stringify(value)}`,
    )
  return value
}

/**
 * Virtual machines — standalone and Flexible scale-set members — whose `properties.vmId` is
 * `vmId` (upstream's query, compared case-insensitively).
 */
export function virtualMachineByVmIdQuery(vmId: string): string {
  return (
    `resources | where type =~ 'microsoft.compute/virtualmachines' ` +
    `| where properties.vmId =~ '${guid(vmId, 'vmId')}' | project id, name, resourceGroup, subscriptionId`
  )
}

/**
 * Uniform scale-set instances whose `properties.vmId` is `vmId`. They are not in `resources`:
 * Resource Graph lists them in `computeresources`.
 */
export function scaleSetVmByVmIdQuery(vmId: string): string {
  return (
    `computeresources | where type =~ 'microsoft.compute/virtualmachinescalesets/virtualmachines' ` +
    `| where properties.vmId =~ '${guid(vmId, 'vmId')}' | project id, name, resourceGroup, subscriptionId`
  )
}

/** The vmId of a query built by `virtualMachineByVmIdQuery` or `scaleSetVmByVmIdQuery`, else undefined. */
export function vmIdOfQuery(query: string): { table: 'vm' | 'vmss-vm'; vmId: string } | undefined {
  const m =
    /^(resources|computeresources) \| where type =~ '[^']+' \| where properties\.vmId =~ '([0-9a-fA-F-]{36})' \| project id, name, resourceGroup, subscriptionId$/.exec(
      query,
    )
  if (m === null || !isGuid(m[2]!)) return undefined
  return { table: m[1] === 'resources' ? 'vm' : 'vmss-vm', vmId: m[2]! }
}
