/**
 * Wire message shapes as wire/codec.ts decodes them (proto-loader's keepCase/oneofs shape: proto field names,
 * bytes as Buffer, repeated fields always arrays, oneof name as a virtual string field).
 */

export interface ConnInfo {
  service_id?: number
  network?: string
  address?: string
  knock?: { knock?: boolean; ack?: boolean; error?: string } | null
}

export interface InitRequest {
  host_service_names?: string[]
}
export interface InitResponse {
  plugin_service_names: string[]
}

export interface CoreConfigurationMsg {
  trust_domain?: string
}
export interface ConfigureRequest {
  core_configuration?: CoreConfigurationMsg | null
  hcl_configuration?: string
}
export interface ValidateResponse {
  valid: boolean
  notes: string[]
}

export interface ServerAttestRequest {
  payload?: Buffer
  challenge_response?: Buffer
  request?: 'payload' | 'challenge_response'
}
export interface AgentAttributesMsg {
  spiffe_id: string
  selector_values: string[]
  can_reattest: boolean
}
export interface ServerAttestResponse {
  challenge?: Buffer
  agent_attributes?: AgentAttributesMsg
}

export interface AgentChallenge {
  challenge?: Buffer
}
export interface PayloadOrChallengeResponse {
  payload?: Buffer
  challenge_response?: Buffer
  data?: 'payload' | 'challenge_response'
}

export interface GetAgentInfoRequest {
  agent_id: string
}
export interface GetAgentInfoResponse {
  info?: { agent_id?: string } | null
}

export interface MetricLabel {
  name: string
  value: string
}
export interface MetricRequest {
  key: string[]
  val?: number
  labels?: MetricLabel[]
}
export interface MeasureSinceRequest {
  key: string[]
  time: string
  labels?: MetricLabel[]
}
