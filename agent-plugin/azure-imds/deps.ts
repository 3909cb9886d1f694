import { nodeHttp, type HttpFetch } from '../../shared/azure/http.js'
import { sleep } from '../../shared/azure/retry.js'
import type { Logger, PluginContext } from '../../shared/plugin/index.js'

/** The agent attestor's seams: the IMDS transport, the clock and the backoff timer. */
export interface Deps {
  http: HttpFetch
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  log: Logger
}

export function createDefaultDeps(ctx: PluginContext): Deps {
  return { http: nodeHttp, now: () => Date.now(), sleep, log: ctx.log }
}
