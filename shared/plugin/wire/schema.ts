import type { FieldSpec, MessageSpec } from './codec.js'

/** Message schemas of proto/, field for field (checked against the .proto files by wire.test.ts). */
const msg = (name: string, fields: FieldSpec[]): MessageSpec => ({ name, fields })
const s = (name: string, no: number, extra: Partial<FieldSpec> = {}): FieldSpec => ({
  name,
  no,
  type: 'string',
  ...extra,
})

export const EMPTY = msg('google.protobuf.Empty', [])
export const PLUGIN_EMPTY = msg('plugin.Empty', [])

export const HEALTH_CHECK_REQUEST = msg('grpc.health.v1.HealthCheckRequest', [s('service', 1)])
export const HEALTH_CHECK_RESPONSE = msg('grpc.health.v1.HealthCheckResponse', [
  {
    name: 'status',
    no: 1,
    type: 'enum',
    values: ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'],
  },
])

export const CONN_INFO_KNOCK = msg('plugin.ConnInfo.Knock', [
  { name: 'knock', no: 1, type: 'bool' },
  { name: 'ack', no: 2, type: 'bool' },
  s('error', 3),
])
export const CONN_INFO = msg('plugin.ConnInfo', [
  { name: 'service_id', no: 1, type: 'uint32' },
  s('network', 2),
  s('address', 3),
  { name: 'knock', no: 4, type: 'message', message: () => CONN_INFO_KNOCK },
])
export const STDIO_DATA = msg('plugin.StdioData', [
  { name: 'channel', no: 1, type: 'enum', values: ['INVALID', 'STDOUT', 'STDERR'] },
  { name: 'data', no: 2, type: 'bytes' },
])

export const INIT_REQUEST = msg('spire.service.private.init.v1.InitRequest', [
  s('host_service_names', 1, { repeated: true }),
])
export const INIT_RESPONSE = msg('spire.service.private.init.v1.InitResponse', [
  s('plugin_service_names', 1, { repeated: true }),
])
export const DEINIT_REQUEST = msg('spire.service.private.init.v1.DeinitRequest', [])
export const DEINIT_RESPONSE = msg('spire.service.private.init.v1.DeinitResponse', [])

export const CORE_CONFIGURATION = msg('spire.service.common.config.v1.CoreConfiguration', [
  s('trust_domain', 1),
])
const configRequest = (name: string): MessageSpec =>
  msg(name, [
    { name: 'core_configuration', no: 1, type: 'message', message: () => CORE_CONFIGURATION },
    s('hcl_configuration', 2),
  ])
export const CONFIGURE_REQUEST = configRequest('spire.service.common.config.v1.ConfigureRequest')
export const CONFIGURE_RESPONSE = msg('spire.service.common.config.v1.ConfigureResponse', [])
export const VALIDATE_REQUEST = configRequest('spire.service.common.config.v1.ValidateRequest')
export const VALIDATE_RESPONSE = msg('spire.service.common.config.v1.ValidateResponse', [
  { name: 'valid', no: 1, type: 'bool' },
  s('notes', 2, { repeated: true }),
])

export const SERVER_ATTEST_REQUEST = msg('spire.plugin.server.nodeattestor.v1.AttestRequest', [
  { name: 'payload', no: 1, type: 'bytes', oneof: 'request' },
  { name: 'challenge_response', no: 2, type: 'bytes', oneof: 'request' },
])
export const AGENT_ATTRIBUTES = msg('spire.plugin.server.nodeattestor.v1.AgentAttributes', [
  s('spiffe_id', 1),
  s('selector_values', 2, { repeated: true }),
  { name: 'can_reattest', no: 3, type: 'bool' },
])
export const SERVER_ATTEST_RESPONSE = msg('spire.plugin.server.nodeattestor.v1.AttestResponse', [
  { name: 'challenge', no: 1, type: 'bytes', oneof: 'response' },
  {
    name: 'agent_attributes',
    no: 2,
    type: 'message',
    message: () => AGENT_ATTRIBUTES,
    oneof: 'response',
  },
])

export const AGENT_CHALLENGE = msg('spire.plugin.agent.nodeattestor.v1.Challenge', [
  { name: 'challenge', no: 1, type: 'bytes' },
])
export const PAYLOAD_OR_CHALLENGE_RESPONSE = msg(
  'spire.plugin.agent.nodeattestor.v1.PayloadOrChallengeResponse',
  [
    { name: 'payload', no: 1, type: 'bytes', oneof: 'data' },
    { name: 'challenge_response', no: 2, type: 'bytes', oneof: 'data' },
  ],
)

export const AGENT_INFO = msg('spire.hostservice.server.agentstore.v1.AgentInfo', [
  s('agent_id', 1),
])
export const GET_AGENT_INFO_REQUEST = msg(
  'spire.hostservice.server.agentstore.v1.GetAgentInfoRequest',
  [s('agent_id', 1)],
)
export const GET_AGENT_INFO_RESPONSE = msg(
  'spire.hostservice.server.agentstore.v1.GetAgentInfoResponse',
  [{ name: 'info', no: 1, type: 'message', message: () => AGENT_INFO }],
)

export const METRIC_LABEL = msg('spire.hostservice.common.metrics.v1.Label', [
  s('name', 1),
  s('value', 2),
])
const labels: FieldSpec = {
  name: 'labels',
  no: 3,
  type: 'message',
  message: () => METRIC_LABEL,
  repeated: true,
}
const keyField = s('key', 1, { repeated: true })
const valField: FieldSpec = { name: 'val', no: 2, type: 'float' }
export const SET_GAUGE_REQUEST = msg('spire.hostservice.common.metrics.v1.SetGaugeRequest', [
  keyField,
  valField,
  labels,
])
export const EMIT_KEY_REQUEST = msg('spire.hostservice.common.metrics.v1.EmitKeyRequest', [
  keyField,
  valField,
])
export const INCR_COUNTER_REQUEST = msg('spire.hostservice.common.metrics.v1.IncrCounterRequest', [
  keyField,
  valField,
  labels,
])
export const ADD_SAMPLE_REQUEST = msg('spire.hostservice.common.metrics.v1.AddSampleRequest', [
  keyField,
  valField,
  labels,
])
export const MEASURE_SINCE_REQUEST = msg(
  'spire.hostservice.common.metrics.v1.MeasureSinceRequest',
  [keyField, { name: 'time', no: 2, type: 'int64' }, labels],
)

export interface MethodSpec {
  requestStream: boolean
  responseStream: boolean
  request: MessageSpec
  response: MessageSpec
}

const unary = (request: MessageSpec, response: MessageSpec): MethodSpec => ({
  requestStream: false,
  responseStream: false,
  request,
  response,
})
const bidi = (request: MessageSpec, response: MessageSpec): MethodSpec => ({
  requestStream: true,
  responseStream: true,
  request,
  response,
})

/** Every service by fully qualified name, with its methods. */
export const SERVICES: Readonly<Record<string, Readonly<Record<string, MethodSpec>>>> = {
  'grpc.health.v1.Health': {
    Check: unary(HEALTH_CHECK_REQUEST, HEALTH_CHECK_RESPONSE),
    Watch: { ...unary(HEALTH_CHECK_REQUEST, HEALTH_CHECK_RESPONSE), responseStream: true },
  },
  'plugin.GRPCBroker': { StartStream: bidi(CONN_INFO, CONN_INFO) },
  'plugin.GRPCController': { Shutdown: unary(PLUGIN_EMPTY, PLUGIN_EMPTY) },
  'plugin.GRPCStdio': { StreamStdio: { ...unary(EMPTY, STDIO_DATA), responseStream: true } },
  'spire.service.private.init.v1.Init': {
    Init: unary(INIT_REQUEST, INIT_RESPONSE),
    Deinit: unary(DEINIT_REQUEST, DEINIT_RESPONSE),
  },
  'spire.service.common.config.v1.Config': {
    Configure: unary(CONFIGURE_REQUEST, CONFIGURE_RESPONSE),
    Validate: unary(VALIDATE_REQUEST, VALIDATE_RESPONSE),
  },
  'spire.plugin.server.nodeattestor.v1.NodeAttestor': {
    Attest: bidi(SERVER_ATTEST_REQUEST, SERVER_ATTEST_RESPONSE),
  },
  'spire.plugin.agent.nodeattestor.v1.NodeAttestor': {
    AidAttestation: bidi(AGENT_CHALLENGE, PAYLOAD_OR_CHALLENGE_RESPONSE),
  },
  'spire.hostservice.server.agentstore.v1.AgentStore': {
    GetAgentInfo: unary(GET_AGENT_INFO_REQUEST, GET_AGENT_INFO_RESPONSE),
  },
  'spire.hostservice.common.metrics.v1.Metrics': {
    SetGauge: unary(SET_GAUGE_REQUEST, EMPTY),
    EmitKey: unary(EMIT_KEY_REQUEST, EMPTY),
    IncrCounter: unary(INCR_COUNTER_REQUEST, EMPTY),
    AddSample: unary(ADD_SAMPLE_REQUEST, EMPTY),
    MeasureSince: unary(MEASURE_SINCE_REQUEST, EMPTY),
  },
}
