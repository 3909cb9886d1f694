import { ArmError, isRecord } from './arm.js'
import type { ArmRest } from './arm-rest.js'
import { isGuid } from './resource-id.js'

export const SUBSCRIPTIONS_API_VERSION = '2022-12-01'

/** What one tenant's credential learns about a subscription. */
export type SubscriptionTenant =
  | { visible: true; tenantId: string }
  /** 404, 403 or a token of the wrong tenant: this credential cannot see the subscription. */
  | { visible: false; why: string }

/**
 * `GET /subscriptions/{id}`: the subscription's home `tenantId`. A subscription the credential
 * cannot see (not found, forbidden, or owned by another tenant) is reported, not thrown.
 */
export async function getSubscriptionTenant(
  rest: ArmRest,
  subscriptionId: string,
  signal?: AbortSignal,
): Promise<SubscriptionTenant> {
  if (!isGuid(subscriptionId)) return { visible: false, why: 'not a subscription ID' }
  let body: unknown
  try {
    body = await rest.get(
      `/subscriptions/${subscriptionId}`,
      { 'api-version': SUBSCRIPTIONS_API_VERSION },
      signal,
    )
  } catch (err) {
    if (err instanceof ArmError) {
      const wrongTenant =
        err.status === 401 && /^InvalidAuthenticationTokenTenant$/i.test(err.code ?? '')
      if (err.status === 404 || err.status === 403 || wrongTenant)
        return { visible: false, why: err.message }
    }
    throw err
  }
  const tenantId = isRecord(body) ? body['tenantId'] : undefined
  if (typeof tenantId !== 'string' || !isGuid(tenantId))
    throw new ArmError('subscription response has no tenantId')
  return { visible: true, tenantId: tenantId.toLowerCase() }
}
