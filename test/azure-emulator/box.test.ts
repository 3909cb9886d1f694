import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../support/paths.js'

const SCRIPT = join(REPO_ROOT, 'scripts', 'azure-in-a-box.sh')
const GO = ['/usr/local/go/bin/go', '/usr/bin/go'].find((p) => existsSync(p))
const BOX_SKIP_STATUS = 77

/** Inside the box a plain Node program, with no overrides, talks to "Azure". */
const PROBE = `
const h = { Metadata: 'true' }
const out = {}
const compute = await (await fetch('http://169.254.169.254/metadata/instance/compute?api-version=2021-12-13', { headers: h })).json()
out.vm = compute.name
const tok = await (await fetch('http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F', { headers: h })).json()
const sub = await fetch('https://management.azure.com/subscriptions/' + compute.subscriptionId + '?api-version=2022-12-01', { headers: { authorization: 'Bearer ' + tok.access_token } })
out.subscription = (await sub.json()).subscriptionId === compute.subscriptionId
out.issuer = (await (await fetch('https://login.microsoftonline.com/common/.well-known/openid-configuration')).json()).issuer
out.aia = (await fetch('http://www.microsoft.com/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt')).status
const outside = (u) => fetch(u, { signal: AbortSignal.timeout(3000) }).then(() => 'reached', () => 'blocked')
out.outside = [await outside('https://example.com/'), await outside('https://1.1.1.1/')]
console.log(JSON.stringify(out))
`

test('azure in a box: real host names and 169.254.169.254 reach the emulator, nothing else', (t) => {
  const r = spawnSync(
    'bash',
    [
      SCRIPT,
      '--default-vm',
      'frontend/worker',
      '--',
      process.execPath,
      '--input-type=module',
      '-e',
      PROBE,
    ],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  )
  if (r.status === BOX_SKIP_STATUS) {
    t.skip(`box unavailable: ${r.stderr.trim()}`)
    return
  }
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
  assert.deepEqual(out, {
    vm: 'worker',
    subscription: true,
    issuer: 'https://sts.windows.net/{tenantid}/',
    aia: 200,
    outside: ['blocked', 'blocked'],
  })
})

test('azure in a box: Go trusts the emulator through SSL_CERT_FILE and resolves through /etc/hosts', (t) => {
  if (!GO) {
    t.skip('no Go toolchain')
    return
  }
  const probe = join(tmpdir(), 'azure-emulator-go-probe')
  const build = spawnSync(GO, ['build', '-o', probe, '.'], {
    cwd: join(REPO_ROOT, 'test', 'azure-emulator', 'go-probe'),
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', CGO_ENABLED: '0' },
    timeout: 120_000,
  })
  assert.equal(build.status, 0, build.stderr)
  const r = spawnSync(
    'bash',
    [
      SCRIPT,
      '--',
      probe,
      'https://management.azure.com/subscriptions?api-version=2022-12-01',
      'https://login.microsoftonline.com/common/discovery/keys',
      'http://www.microsoft.com/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt',
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
  if (r.status === BOX_SKIP_STATUS) {
    t.skip(`box unavailable: ${r.stderr.trim()}`)
    return
  }
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n'), ['401', '200', '200'])
})

test('azure-in-a-box --help and -h print the usage and exit 0, without needing root', () => {
  for (const flag of ['--help', '-h']) {
    const r = spawnSync('bash', [SCRIPT, flag], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, AZURE_BOX_INSIDE: '' },
    })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^Usage: scripts\/azure-in-a-box\.sh /)
    assert.match(r.stdout, /With no COMMAND it starts an interactive shell/)
    assert.equal(r.stderr, '')
  }
})

test('azure in a box with no command starts a shell inside the box', (t) => {
  const r = spawnSync('bash', [SCRIPT], {
    encoding: 'utf8',
    timeout: 60_000,
    // the shell reads its commands from stdin, as a person would type them
    input: 'echo "inside:$AZURE_BOX_INSIDE:${AZURE_EMULATOR_INFO:+info}"\nexit 3\n',
    env: { ...process.env, SHELL: '/bin/bash' },
  })
  if (r.status === BOX_SKIP_STATUS) {
    t.skip(`box unavailable: ${r.stderr.trim()}`)
    return
  }
  assert.equal(r.status, 3, r.stderr)
  assert.match(r.stdout, /^inside:1:info$/m)
})
