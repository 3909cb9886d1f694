import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js'
import { decodeMessage, encodeMessage } from './wire/codec.js'
import { SERVICES } from './wire/schema.js'

/** Fully qualified service names, exactly as SPIRE and go-plugin use them. */
export const SERVICE = {
  health: 'grpc.health.v1.Health',
  broker: 'plugin.GRPCBroker',
  controller: 'plugin.GRPCController',
  stdio: 'plugin.GRPCStdio',
  init: 'spire.service.private.init.v1.Init',
  config: 'spire.service.common.config.v1.Config',
  serverNodeAttestor: 'spire.plugin.server.nodeattestor.v1.NodeAttestor',
  agentNodeAttestor: 'spire.plugin.agent.nodeattestor.v1.NodeAttestor',
  agentStore: 'spire.hostservice.server.agentstore.v1.AgentStore',
  metrics: 'spire.hostservice.common.metrics.v1.Metrics',
  identityProvider: 'spire.hostservice.server.identityprovider.v1.IdentityProvider',
} as const

export type ServiceName = (typeof SERVICE)[keyof typeof SERVICE]

const cache = new Map<string, ServiceDefinition>()

/**
 * The grpc-js service definition for a fully qualified service name, built from the static schemas in
 * wire/schema.ts (proto/ is the contract; wire.test.ts keeps them in step).
 */
export function serviceDefinition(name: ServiceName): ServiceDefinition {
  const hit = cache.get(name)
  if (hit !== undefined) return hit
  const methods = SERVICES[name]
  if (methods === undefined) throw new Error(`service ${name} has no schema in shared/plugin/wire`)
  const def: Record<string, MethodDefinition<unknown, unknown>> = {}
  for (const [method, spec] of Object.entries(methods)) {
    def[method] = {
      path: `/${name}/${method}`,
      requestStream: spec.requestStream,
      responseStream: spec.responseStream,
      requestSerialize: (v: unknown) => encodeMessage(spec.request, v),
      requestDeserialize: (b: Buffer) => decodeMessage(spec.request, b),
      responseSerialize: (v: unknown) => encodeMessage(spec.response, v),
      responseDeserialize: (b: Buffer) => decodeMessage(spec.response, b),
      originalName: method,
    }
  }
  cache.set(name, def)
  return def
}
