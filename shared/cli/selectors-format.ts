/**
 * `spire-azure selectors` output: the registration entries to suggest for a previewed VM (a node
 * entry on a narrow selector set, a workload example under it), shell-ready `spire-server entry
 * create` lines, and the text and JSON forms of the whole result.
 */
import type { AttestorOutcome, SelectorsResult } from './selectors-run.js'

export interface SuggestedEntries {
  node: { spiffeId: string; selectors: string[] }
  workload: { parentId: string; spiffeId: string; selectors: string[] }
  /** Ready-to-paste `spire-server entry create` lines: the node entry, then the workload. */
  commands: string[]
}

/** The workload example's selector: the unix workload attestor, uid 1000. */
export const WORKLOAD_SELECTOR = 'unix:uid:1000'

type Success = Extract<AttestorOutcome, { preview: unknown }>

/**
 * A node entry that matches this VM only (its subscription and name — for a Uniform instance under
 * azure_msi, its scale set), and a workload entry under it.
 */
export function suggestEntries(trustDomain: string, outcome: Success): SuggestedEntries {
  const { name } = outcome
  let values: string[]
  let path: string[]
  if (outcome.plugin === 'azure_msi') {
    const r = outcome.preview.resolved
    const sub = `subscription-id:${r.subscriptionId}`
    values =
      r.kind === 'vmss'
        ? [sub, `resource-group:${r.resourceGroup}`, `vmss-name:${r.name}`]
        : [sub, `vm-name:${r.resourceGroup}:${r.name}`]
    path = [r.resourceGroup, r.name]
  } else {
    const p = outcome.preview
    values = [
      `subscription-id:${p.subscriptionId}`,
      `resource-group:${p.resolved.resourceGroup}`,
      `vm-name:${p.resolved.name}`,
    ]
    path = [p.resolved.resourceGroup, p.resolved.name]
  }
  // only selectors the attestor really produced (they all are, unless a format changes)
  const have = new Set(outcome.preview.selectors)
  const selectors = values.filter((v) => have.has(v)).map((v) => `${name}:${v}`)
  const nodeId = `spiffe://${trustDomain}/node/${[name, ...path].map(pathSegment).join('/')}`
  const workloadId = `spiffe://${trustDomain}/workload`
  return {
    node: { spiffeId: nodeId, selectors },
    workload: { parentId: nodeId, spiffeId: workloadId, selectors: [WORKLOAD_SELECTOR] },
    commands: [
      commandLine(['-node', '-spiffeID', nodeId, ...selectors.flatMap((s) => ['-selector', s])]),
      commandLine(['-parentID', nodeId, '-spiffeID', workloadId, '-selector', WORKLOAD_SELECTOR]),
    ],
  }
}

/** A SPIFFE ID path segment from an Azure name: characters outside [A-Za-z0-9._-] become `-`. */
function pathSegment(text: string): string {
  const s = text.replace(/[^A-Za-z0-9._-]/g, '-')
  return s === '' || s === '.' || s === '..' ? '-' : s
}

function commandLine(args: string[]): string {
  return ['spire-server', 'entry', 'create', ...args].map(shellQuote).join(' ')
}

/** POSIX shell quoting, only where needed. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

/** The whole result as one JSON document (`--json`). */
export function resultJson(result: SelectorsResult, trustDomains: ReadonlyMap<string, string>) {
  return {
    vm: result.vm,
    attestors: result.outcomes.map((o) => {
      if ('error' in o) return { plugin: o.plugin, name: o.name, error: o.error }
      const td = trustDomains.get(o.name) ?? ''
      const { plugin: _p, selectors, ...rest } = o.preview
      return {
        plugin: o.plugin,
        name: o.name,
        ...rest,
        selectors: selectors.map((s) => `${o.name}:${s}`),
        entries: suggestEntries(td, o),
      }
    }),
  }
}

/** The human form: one block per attestor. */
export function resultText(
  result: SelectorsResult,
  trustDomains: ReadonlyMap<string, string>,
): string {
  const lines: string[] = [`VM ${result.vm.resourceId}`]
  for (const o of result.outcomes) {
    lines.push('')
    if ('error' in o) {
      const code =
        o.error.status === undefined ? '' : ` (${o.error.status}, ${o.error.reason ?? ''})`
      lines.push(`${o.name}: not attestable${code}`, `  ${o.error.message}`)
      continue
    }
    const td = trustDomains.get(o.name) ?? ''
    if (o.plugin === 'azure_msi') {
      const p = o.preview
      const who = `${p.identity.kind} identity ${p.identity.principalId}`
      lines.push(`${o.name}: tenant ${p.tenantId}, ${who}`)
    } else {
      const p = o.preview
      const key = p.tenantKey === p.tenantId ? p.tenantId : `${p.tenantKey} (${p.tenantId})`
      lines.push(`${o.name}: tenant ${key}, vmId ${p.vmId}`)
    }
    lines.push(`  agent ID   ${o.preview.agentId}`)
    o.preview.selectors.forEach((s, i) =>
      lines.push(`  ${i === 0 ? 'selectors ' : '          '} ${o.name}:${s}`),
    )
    for (const n of o.preview.notes) lines.push(`  note: ${n}`)
    lines.push('  entries:')
    for (const c of suggestEntries(td, o).commands) lines.push(`    ${c}`)
  }
  return `${lines.join('\n')}\n`
}
