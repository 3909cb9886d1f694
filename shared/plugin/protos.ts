import { loadPackageDefinition, type GrpcObject, type ServiceDefinition } from '@grpc/grpc-js'
import { loadSync, type Options } from '@grpc/proto-loader'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

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

const PROTO_FILES = [
  'grpc/health/v1/health.proto',
  // the three go-plugin protos share `package plugin`: load them together (wire-protocol.md §16)
  'plugin/grpc_broker.proto',
  'plugin/grpc_controller.proto',
  'plugin/grpc_stdio.proto',
  'spire/service/private/init/v1/init.proto',
  'spire/service/common/config/v1/config.proto',
  'spire/plugin/server/nodeattestor/v1/nodeattestor.proto',
  'spire/plugin/agent/nodeattestor/v1/nodeattestor.proto',
  'spire/hostservice/server/agentstore/v1/agentstore.proto',
  'spire/hostservice/common/metrics/v1/metrics.proto',
]

/**
 * keepCase keeps the proto field names (`service_id`, `agent_attributes`); longs as strings for
 * `MeasureSinceRequest.time`; oneofs adds the virtual oneof name; arrays makes repeated fields always arrays.
 */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
}

/** The proto/ directory: dist/proto beside the compiled tree, or the repo's proto/ when run from source. */
export function protoDir(): string {
  for (const rel of ['../../proto/', '../../../proto/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(dir + 'plugin/grpc_broker.proto')) return dir
  }
  throw new Error('proto directory not found beside the plugin runtime')
}

let loaded: GrpcObject | undefined

/** All wire contracts, parsed once per process. */
export function loadProtos(): GrpcObject {
  if (loaded === undefined) {
    const definition = loadSync(PROTO_FILES, { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir()] })
    loaded = loadPackageDefinition(definition)
  }
  return loaded
}

interface ServiceConstructorLike {
  service: ServiceDefinition
}

/** The grpc-js service definition for a fully qualified service name. */
export function serviceDefinition(name: ServiceName): ServiceDefinition {
  let node: unknown = loadProtos()
  for (const part of name.split('.')) {
    if (typeof node !== 'object' && typeof node !== 'function') break
    node = (node as Record<string, unknown>)[part]
  }
  const ctor = node as Partial<ServiceConstructorLike> | undefined
  if (ctor?.service === undefined) throw new Error(`service ${name} not found in proto/`)
  return ctor.service
}
