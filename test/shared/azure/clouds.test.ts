// shared/azure/clouds.ts: the names operators write for each cloud (issue #11 item 3).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  CLOUD_ALIASES,
  CLOUD_NAMES,
  GERMAN_CLOUD_RETIRED,
  RETIRED_GERMAN_CLOUD_NAMES,
  acceptedCloudNames,
  findCloud,
  lookupCloud,
} from '../../../shared/azure/clouds.js'
import { cloudOrReport } from '../../../shared/azure/tenant-access.js'
import { Report } from '../../../shared/plugin/report.js'

describe('cloud names', () => {
  test('the SDK names (IMDS compute.azEnvironment) in any case', () => {
    for (const name of CLOUD_NAMES) {
      assert.equal(findCloud(name)?.name, name)
      assert.equal(findCloud(name.toLowerCase())?.name, name)
      assert.equal(findCloud(name.toUpperCase())?.name, name)
    }
  })

  test('every alias, in any case and with surrounding space', () => {
    const expected: [string, string][] = [
      ['public', 'AzurePublicCloud'],
      ['AzureCloud', 'AzurePublicCloud'],
      ['azurecloud', 'AzurePublicCloud'],
      ['AzurePublic', 'AzurePublicCloud'],
      ['usgovernment', 'AzureUSGovernmentCloud'],
      ['UsGovernment', 'AzureUSGovernmentCloud'],
      ['usgov', 'AzureUSGovernmentCloud'],
      ['AzureUSGovernment', 'AzureUSGovernmentCloud'],
      ['AzureUsGovernment', 'AzureUSGovernmentCloud'],
      ['AzureGovernment', 'AzureUSGovernmentCloud'],
      ['china', 'AzureChinaCloud'],
      ['AzureChina', 'AzureChinaCloud'],
      ['  CHINA\t', 'AzureChinaCloud'],
    ]
    for (const [alias, cloud] of expected) {
      assert.equal(findCloud(alias)?.name, cloud, alias)
      assert.deepEqual(lookupCloud(alias), { kind: 'known', cloud: findCloud(cloud) }, alias)
    }
    // the table is exactly these names: a new alias needs its provenance and a test
    assert.deepEqual(CLOUD_ALIASES, {
      AzurePublicCloud: ['public', 'AzureCloud', 'AzurePublic'],
      AzureUSGovernmentCloud: ['usgovernment', 'usgov', 'AzureUSGovernment', 'AzureGovernment'],
      AzureChinaCloud: ['china', 'AzureChina'],
    })
  })

  test('no alias names two clouds, or a retired one', () => {
    const all = [
      ...CLOUD_NAMES,
      ...Object.values(CLOUD_ALIASES).flat(),
      ...RETIRED_GERMAN_CLOUD_NAMES,
    ].map((n) => n.toLowerCase())
    assert.equal(new Set(all).size, all.length)
  })

  test('the German cloud is retired, under each of its names', () => {
    for (const name of [
      'AzureGermanCloud',
      'azuregermancloud',
      'germany',
      'AzureGermany',
      'german',
    ]) {
      assert.deepEqual(lookupCloud(name), { kind: 'retired', reason: GERMAN_CLOUD_RETIRED }, name)
      assert.equal(findCloud(name), undefined)
    }
    assert.equal(
      GERMAN_CLOUD_RETIRED,
      'Microsoft Cloud Deutschland (AzureGermanCloud) was retired in October 2021; use AzurePublicCloud (the Germany West Central and Germany North regions) instead',
    )
  })

  test('anything else is unknown', () => {
    for (const name of ['', 'Mars', 'AzureStackCloud', 'public cloud', 'gov']) {
      assert.deepEqual(lookupCloud(name), { kind: 'unknown' }, name)
    }
  })

  test('the accepted names, as an unknown name’s error lists them', () => {
    assert.equal(
      acceptedCloudNames(),
      'AzurePublicCloud (or public, AzureCloud, AzurePublic); AzureUSGovernmentCloud (or usgovernment, usgov, AzureUSGovernment, AzureGovernment); AzureChinaCloud (or china, AzureChina)',
    )
  })

  test('cloudOrReport: the problem carries its key path', () => {
    const report = new Report()
    assert.equal(
      cloudOrReport('usgov', 'cloud_environment', report)?.name,
      'AzureUSGovernmentCloud',
    )
    assert.equal(cloudOrReport(undefined, 'cloud_environment', report), undefined)
    assert.equal(cloudOrReport('germany', 'cloud_environment', report), undefined)
    assert.equal(
      cloudOrReport('Mars', 'tenant "t" cloud_environment', report, [
        'tenants',
        't',
        'cloud_environment',
      ]),
      undefined,
    )
    assert.deepEqual(report.problems, [
      {
        severity: 'error',
        message: `cloud_environment "germany": ${GERMAN_CLOUD_RETIRED}`,
        keyPaths: [['cloud_environment']],
      },
      {
        severity: 'error',
        message: `tenant "t" cloud_environment "Mars" is not a known Azure cloud; accepted names (any case): ${acceptedCloudNames()}`,
        keyPaths: [['tenants', 't', 'cloud_environment']],
      },
    ])
  })
})
