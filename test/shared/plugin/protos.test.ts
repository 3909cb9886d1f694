import { loadSync } from '@grpc/proto-loader'
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PROTO_LOADER_OPTIONS, protoDir, serviceDefinition, SERVICE } from '../../../shared/plugin/protos.js'

const FILES = [
  'grpc/health/v1/health.proto',
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

test('every method path is exactly what SPIRE and go-plugin call', () => {
  const paths: [keyof typeof SERVICE, string, string][] = [
    ['health', 'Check', '/grpc.health.v1.Health/Check'],
    ['broker', 'StartStream', '/plugin.GRPCBroker/StartStream'],
    ['controller', 'Shutdown', '/plugin.GRPCController/Shutdown'],
    ['stdio', 'StreamStdio', '/plugin.GRPCStdio/StreamStdio'],
    ['init', 'Init', '/spire.service.private.init.v1.Init/Init'],
    ['init', 'Deinit', '/spire.service.private.init.v1.Init/Deinit'],
    ['config', 'Configure', '/spire.service.common.config.v1.Config/Configure'],
    ['config', 'Validate', '/spire.service.common.config.v1.Config/Validate'],
    ['serverNodeAttestor', 'Attest', '/spire.plugin.server.nodeattestor.v1.NodeAttestor/Attest'],
    ['agentNodeAttestor', 'AidAttestation', '/spire.plugin.agent.nodeattestor.v1.NodeAttestor/AidAttestation'],
    ['agentStore', 'GetAgentInfo', '/spire.hostservice.server.agentstore.v1.AgentStore/GetAgentInfo'],
    ['metrics', 'IncrCounter', '/spire.hostservice.common.metrics.v1.Metrics/IncrCounter'],
    ['metrics', 'MeasureSince', '/spire.hostservice.common.metrics.v1.Metrics/MeasureSince'],
  ]
  for (const [svc, rpc, path] of paths) {
    const name = SERVICE[svc]
    if (name === SERVICE.identityProvider) continue
    assert.equal(serviceDefinition(name)[rpc]?.path, path)
  }
  const attest = serviceDefinition(SERVICE.serverNodeAttestor).Attest!
  assert.equal(attest.requestStream && attest.responseStream, true)
  const stdio = serviceDefinition(SERVICE.stdio).StreamStdio!
  assert.equal(!stdio.requestStream && stdio.responseStream, true)
})

interface FieldDescriptor {
  name: string
  number: number
  type: string
  label: string
  oneofIndex?: number
}

test('message fields keep their names, numbers and types', () => {
  const def = loadSync(FILES, { ...PROTO_LOADER_OPTIONS, includeDirs: [protoDir()] })
  const fields = (type: string): string[] => {
    const t = def[type] as { type?: { field?: FieldDescriptor[] } } | undefined
    assert.ok(t?.type?.field, type)
    return t.type.field.map((f) => `${f.name}=${f.number}:${f.type.replace('TYPE_', '').toLowerCase()}${f.label === 'LABEL_REPEATED' ? '[]' : ''}`)
  }
  const expected: Record<string, string[]> = {
    'plugin.ConnInfo': ['service_id=1:uint32', 'network=2:string', 'address=3:string', 'knock=4:message'],
    'plugin.ConnInfo.Knock': ['knock=1:bool', 'ack=2:bool', 'error=3:string'],
    'plugin.StdioData': ['channel=1:enum', 'data=2:bytes'],
    'spire.service.private.init.v1.InitRequest': ['host_service_names=1:string[]'],
    'spire.service.private.init.v1.InitResponse': ['plugin_service_names=1:string[]'],
    'spire.service.common.config.v1.ConfigureRequest': ['core_configuration=1:message', 'hcl_configuration=2:string'],
    'spire.service.common.config.v1.ValidateResponse': ['valid=1:bool', 'notes=2:string[]'],
    'spire.service.common.config.v1.CoreConfiguration': ['trust_domain=1:string'],
    'spire.plugin.server.nodeattestor.v1.AttestRequest': ['payload=1:bytes', 'challenge_response=2:bytes'],
    'spire.plugin.server.nodeattestor.v1.AttestResponse': ['challenge=1:bytes', 'agent_attributes=2:message'],
    'spire.plugin.server.nodeattestor.v1.AgentAttributes': ['spiffe_id=1:string', 'selector_values=2:string[]', 'can_reattest=3:bool'],
    'spire.plugin.agent.nodeattestor.v1.Challenge': ['challenge=1:bytes'],
    'spire.plugin.agent.nodeattestor.v1.PayloadOrChallengeResponse': ['payload=1:bytes', 'challenge_response=2:bytes'],
    'spire.hostservice.server.agentstore.v1.GetAgentInfoRequest': ['agent_id=1:string'],
    'spire.hostservice.server.agentstore.v1.GetAgentInfoResponse': ['info=1:message'],
    'spire.hostservice.server.agentstore.v1.AgentInfo': ['agent_id=1:string'],
    'spire.hostservice.common.metrics.v1.IncrCounterRequest': ['key=1:string[]', 'val=2:float', 'labels=3:message[]'],
    'spire.hostservice.common.metrics.v1.MeasureSinceRequest': ['key=1:string[]', 'time=2:int64', 'labels=3:message[]'],
    'spire.hostservice.common.metrics.v1.Label': ['name=1:string', 'value=2:string'],
    'grpc.health.v1.HealthCheckRequest': ['service=1:string'],
    'grpc.health.v1.HealthCheckResponse': ['status=1:enum'],
  }
  for (const [type, want] of Object.entries(expected)) assert.deepEqual(fields(type), want, type)
})
