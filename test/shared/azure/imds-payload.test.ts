import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeImdsPayload, parseImdsPayload } from '../../../shared/azure/imds-payload.js'

const doc = { encoding: 'pkcs7', signature: 'MIIL+kgY/J==' }

test('our agent’s bytes are upstream’s json.Marshal output, outside and inside a scale set', () => {
  const outside = encodeImdsPayload({
    document: doc,
    metadata: { agentDomain: 'example.com', vmssName: null, resourceId: null },
  })
  assert.equal(
    Buffer.from(outside).toString(),
    '{"document":{"encoding":"pkcs7","signature":"MIIL+kgY/J=="},"metadata":{"agentDomain":"example.com","vmssName":null}}',
  )
  const inside = encodeImdsPayload({
    document: doc,
    metadata: { agentDomain: 'a<b>&c', vmssName: 'myvmss', resourceId: null },
  })
  assert.equal(
    Buffer.from(inside).toString(),
    '{"document":{"encoding":"pkcs7","signature":"MIIL+kgY/J=="},"metadata":{"agentDomain":"a\\u003cb\\u003e\\u0026c","vmssName":"myvmss"}}',
  )
})

test('the resourceId hint is one more metadata field, after upstream’s', () => {
  const id = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm'
  const bytes = encodeImdsPayload({
    document: doc,
    metadata: { agentDomain: 'example.com', vmssName: null, resourceId: id },
  })
  assert.equal(
    Buffer.from(bytes).toString(),
    `{"document":{"encoding":"pkcs7","signature":"MIIL+kgY/J=="},"metadata":{"agentDomain":"example.com","vmssName":null,"resourceId":"${id}"}}`,
  )
  assert.deepEqual(parseImdsPayload(bytes).metadata.resourceId, id)
})

test('upstream’s agent payload parses, with Go’s leniency: case-insensitive keys, unknown keys, nulls', () => {
  const p = parseImdsPayload(
    Buffer.from(
      '{"Document":{"ENCODING":"pkcs7","signature":"x"},"metadata":{"agentdomain":"d","vmssName":null,"extra":1},"more":[]}',
    ),
  )
  assert.deepEqual(p, {
    document: { encoding: 'pkcs7', signature: 'x' },
    metadata: { agentDomain: 'd', vmssName: null, resourceId: null },
  })
  assert.deepEqual(parseImdsPayload(Buffer.from('null')).document, { encoding: '', signature: '' })
  assert.deepEqual(
    parseImdsPayload(Buffer.from('{"document":null,"metadata":null}')).metadata.agentDomain,
    '',
  )
})

test('malformed payloads: InvalidArgument with Go’s wording', () => {
  const cases: [string, string][] = [
    [
      '[]',
      'failed to unmarshal data payload: json: cannot unmarshal array into Go value of type azure.IMDSAttestationPayload',
    ],
    [
      '{"document":"x"}',
      'failed to unmarshal data payload: json: cannot unmarshal string into Go struct field IMDSAttestationPayload.document of type azure.AttestedDocument',
    ],
    [
      '{"metadata":{"vmssName":3}}',
      'failed to unmarshal data payload: json: cannot unmarshal number into Go struct field AgentUntrustedMetadata.metadata.vmssName of type string',
    ],
  ]
  for (const [text, message] of cases) {
    assert.throws(() => parseImdsPayload(Buffer.from(text)), {
      status: 'InvalidArgument',
      reason: 'malformed_payload',
      message,
    })
  }
  assert.throws(() => parseImdsPayload(Buffer.from('{')), {
    message: /^failed to unmarshal data payload: /,
  })
  assert.throws(() => parseImdsPayload(Buffer.alloc(70_000, 32)), {
    message: /payload exceeds 65536 bytes/,
  })
})
