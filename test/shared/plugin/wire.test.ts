import { loadSync, type MessageTypeDefinition, type PackageDefinition } from '@grpc/proto-loader'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { serviceDefinition, SERVICE, type ServiceName } from '../../../shared/plugin/protos.js'
import {
  decodeMessage,
  encodeMessage,
  type MessageSpec,
} from '../../../shared/plugin/wire/codec.js'
import { SERVICES } from '../../../shared/plugin/wire/schema.js'
import { REPO_ROOT } from '../../support/paths.js'

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
const OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
}
const proto: PackageDefinition = loadSync(FILES, {
  ...OPTIONS,
  includeDirs: [join(REPO_ROOT, 'proto')],
})

interface FieldDescriptor {
  name: string
  number: number
  type: string
  label: string
  oneofIndex?: number
  typeName?: string
}

test('the static schemas match proto/: services, methods, streaming, paths', () => {
  const protoServices = Object.entries(proto).filter(([, v]) => !('format' in v))
  const names = protoServices.map(([k]) => k).sort()
  assert.deepEqual(names, Object.keys(SERVICES).sort())
  for (const [svc, methods] of protoServices) {
    const ours = serviceDefinition(svc as ServiceName)
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(methods).sort(), svc)
    for (const [m, def] of Object.entries(
      methods as Record<
        string,
        {
          path: string
          requestStream: boolean
          responseStream: boolean
          requestType: MessageTypeDefinition<unknown, unknown>
          responseType: MessageTypeDefinition<unknown, unknown>
        }
      >,
    )) {
      assert.equal(ours[m]!.path, def.path)
      assert.equal(ours[m]!.requestStream, def.requestStream, def.path)
      assert.equal(ours[m]!.responseStream, def.responseStream, def.path)
      const spec = SERVICES[svc]![m]!
      checkMessage(spec.request, def.requestType)
      checkMessage(spec.response, def.responseType)
    }
  }
})

interface Descriptor {
  name: string
  field: FieldDescriptor[]
  oneofDecl: { name: string }[]
  nestedType: Descriptor[]
}

function checkMessage(
  spec: MessageSpec,
  def: MessageTypeDefinition<unknown, unknown> | Descriptor,
): void {
  const d = ('type' in def ? def.type : def) as Descriptor
  const want = d.field.map((f) => ({
    name: f.name,
    no: f.number,
    type: f.type.replace('TYPE_', '').toLowerCase(),
    repeated: f.label === 'LABEL_REPEATED',
    oneof: f.oneofIndex !== undefined ? d.oneofDecl[f.oneofIndex]?.name : undefined,
  }))
  const got = spec.fields.map((f) => ({
    name: f.name,
    no: f.no,
    type: f.type,
    repeated: f.repeated === true,
    oneof: f.oneof,
  }))
  assert.deepEqual(got, want, spec.name)
  for (const f of spec.fields) {
    if (f.type !== 'message') continue
    const typeName = d.field.find((x) => x.name === f.name)!.typeName!
    const nested =
      d.nestedType.find((n) => n.name === typeName) ??
      (proto[typeName.replace(/^\./, '')] as MessageTypeDefinition<unknown, unknown> | undefined) ??
      (proto[
        `${spec.name.slice(0, spec.name.lastIndexOf('.'))}.${typeName}`
      ] as MessageTypeDefinition<unknown, unknown>)
    assert.ok(nested, `${spec.name}.${f.name}: ${typeName}`)
    checkMessage(f.message!(), nested)
  }
}

const SAMPLES: [ServiceName, string, 'request' | 'response', Record<string, unknown>][] = [
  [
    SERVICE.broker,
    'StartStream',
    'request',
    {
      service_id: 1,
      network: 'unix',
      address: '/tmp/plugin123',
      knock: { knock: true, ack: true, error: 'e' },
    },
  ],
  [SERVICE.init, 'Init', 'request', { host_service_names: ['a.B', 'c.D'] }],
  [SERVICE.init, 'Init', 'response', { plugin_service_names: ['x.Y'] }],
  [
    SERVICE.config,
    'Configure',
    'request',
    { core_configuration: { trust_domain: 'example.org' }, hcl_configuration: 'a = "ü"' },
  ],
  [SERVICE.config, 'Validate', 'response', { valid: true, notes: ['n1', 'n2'] }],
  [
    SERVICE.serverNodeAttestor,
    'Attest',
    'request',
    { payload: Buffer.from('{"token":"x"}'), request: 'payload' },
  ],
  [
    SERVICE.serverNodeAttestor,
    'Attest',
    'request',
    { challenge_response: Buffer.alloc(0), request: 'challenge_response' },
  ],
  [
    SERVICE.serverNodeAttestor,
    'Attest',
    'response',
    { challenge: Buffer.from([0, 1, 255]), response: 'challenge' },
  ],
  [
    SERVICE.serverNodeAttestor,
    'Attest',
    'response',
    {
      agent_attributes: {
        spiffe_id: 'spiffe://td/x',
        selector_values: ['a:b'],
        can_reattest: true,
      },
      response: 'agent_attributes',
    },
  ],
  [
    SERVICE.agentNodeAttestor,
    'AidAttestation',
    'response',
    { payload: Buffer.from('p'), data: 'payload' },
  ],
  [SERVICE.agentStore, 'GetAgentInfo', 'response', { info: { agent_id: 'spiffe://td/a' } }],
  [
    SERVICE.metrics,
    'MeasureSince',
    'request',
    { key: ['a', 'b'], time: '1763790000123456789', labels: [{ name: 'n', value: 'v' }] },
  ],
  [SERVICE.metrics, 'IncrCounter', 'request', { key: ['k'], val: 1.5, labels: [] }],
  [SERVICE.health, 'Check', 'response', { status: 'SERVING' }],
]

test('encodings agree with protobufjs both ways', () => {
  for (const [svc, method, dir, value] of SAMPLES) {
    const theirs = (
      proto[svc] as unknown as Record<string, Record<string, (v: unknown) => Buffer>>
    )[method]!
    const serialize = dir === 'request' ? theirs.requestSerialize! : theirs.responseSerialize!
    const deserialize = (dir === 'request'
      ? theirs.requestDeserialize!
      : theirs.responseDeserialize!) as unknown as (b: Buffer) => unknown
    const spec = SERVICES[svc]![method]![dir]
    const ourBytes = encodeMessage(spec, value)
    assert.deepEqual(
      deserialize(ourBytes),
      deserialize(serialize(value)),
      `${svc}/${method} ${dir}: protobufjs reads ours`,
    )
    assert.deepEqual(
      decodeMessage(spec, serialize(value)),
      value,
      `${svc}/${method} ${dir}: we read protobufjs`,
    )
  }
})

test('malformed bytes throw instead of hanging or crashing; unknown fields are skipped', () => {
  const spec = SERVICES[SERVICE.config]!.Configure!.request
  assert.throws(() => decodeMessage(spec, Buffer.from([0x12, 0x05, 0x61])), /truncated/)
  assert.throws(
    () =>
      decodeMessage(
        spec,
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
      ),
    /varint/,
  )
  assert.throws(() => decodeMessage(spec, Buffer.from([0x0f])), /wire type/)
  const withUnknown = Buffer.concat([
    Buffer.from([0x98, 0x06, 0x07]),
    encodeMessage(spec, { hcl_configuration: 'x' }),
  ])
  assert.deepEqual(decodeMessage(spec, withUnknown), { hcl_configuration: 'x' })
})
