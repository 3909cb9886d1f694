import { PluginError } from './errors.js'
import type { ConnInfo } from './messages.js'

/** go-plugin's fixed broker ID for SPIRE's host services (spire-plugin-sdk private/consts.go). */
export const HOST_SERVICES_BROKER_ID = 1
/** go-plugin's Dial waits this long for ConnInfo before `timeout waiting for connection info`. */
export const BROKER_DIAL_TIMEOUT_MS = 5_000

export interface BrokerAddress {
  network: string
  address: string
}

/**
 * ConnInfo the host sent over GRPCBroker/StartStream, by service id. Entries never expire: the host sends
 * each one exactly once (go-plugin's plugin side expires unclaimed ones after 5 s; we must not).
 */
export class BrokerConnections {
  readonly #known = new Map<number, BrokerAddress>()
  readonly #waiters = new Map<number, Set<(a: BrokerAddress) => void>>()

  record(info: ConnInfo): void {
    const id = info.service_id ?? 0
    // knock messages only exist with broker multiplexing, which SPIRE never enables
    if (info.knock?.knock === true || info.address === undefined || info.address === '') return
    const entry = { network: info.network ?? 'unix', address: info.address }
    this.#known.set(id, entry)
    for (const resolve of this.#waiters.get(id) ?? []) resolve(entry)
    this.#waiters.delete(id)
  }

  get(id: number): BrokerAddress | undefined {
    return this.#known.get(id)
  }

  /** Waits for ConnInfo `id`, as go-plugin's broker Dial does. */
  wait(id: number, timeoutMs = BROKER_DIAL_TIMEOUT_MS): Promise<BrokerAddress> {
    const known = this.#known.get(id)
    if (known !== undefined) return Promise.resolve(known)
    return new Promise((resolve, reject) => {
      const waiters = this.#waiters.get(id) ?? new Set()
      this.#waiters.set(id, waiters)
      const done = (a: BrokerAddress): void => {
        clearTimeout(timer)
        resolve(a)
      }
      const timer = setTimeout(() => {
        waiters.delete(done)
        reject(
          new PluginError(
            'Internal',
            'broker_timeout',
            `timeout waiting for connection info for broker id ${id}`,
          ),
        )
      }, timeoutMs)
      waiters.add(done)
    })
  }
}
