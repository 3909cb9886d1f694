// Wraps an esbuild CommonJS bundle so that the one-file plugin runs wherever it is copied:
// - as CommonJS (no package.json, or "type": "commonjs") it runs as before;
// - inside a folder whose nearest package.json says "type": "module", Node loads the extensionless
//   file as an ES module, where `require`, `module` and `__filename` do not exist: the wrapper then
//   builds them with process.getBuiltinModule (Node >= 20.16) and runs the same code;
// - a failure while the plugin starts, before the runtime's own handlers are installed, becomes one
//   hclog JSON line on stderr and exit status 1, never Node's default report (which prints the
//   offending line of minified source). Once the runtime installs its handlers, these stand aside.
// The wrapper uses no syntax that is valid in only one of the two module systems.
//
// Its first two lines are a /bin/sh + JavaScript polyglot, so that SPIRE's plain exec of plugin_cmd
// starts Node with the V8 flags the plugins need (a `#!/usr/bin/env node --flag` shebang is not
// portable: Linux passes "node --flag" to env as one argument). /bin/sh reads line 2 as `:` (a no-op)
// and then `exec node <flags> "$0" "$@"`: the same pid, `node` found on PATH as `#!/usr/bin/env node`
// finds it. Node skips line 1 (a hashbang comment) and reads line 2 as the string ':' followed by a
// comment, so `node <file>` run by hand works too (without the flags).

const PRELUDE = `;(function (bundle) {
  var fail = function (what, err) {
    var message = err && typeof err.message === 'string' ? err.message : String(err)
    var stamp = new Date().toISOString().slice(0, 23) + '000Z'
    process.stderr.write(
      JSON.stringify({ '@level': 'error', '@message': what, '@timestamp': stamp, error: message.split('\\n')[0] }) + '\\n',
    )
    process.exit(1)
  }
  var onException = function (err) {
    if (process.listenerCount('uncaughtException') === 1) fail('Plugin crashed; exiting', err)
  }
  var onRejection = function (reason) {
    if (process.listenerCount('unhandledRejection') === 1) fail('Plugin crashed; exiting', reason)
  }
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  try {
    if (typeof require === 'function' && typeof module === 'object') {
      bundle.call(module.exports, exports, require, module, __filename, __dirname)
      return
    }
    var get = process.getBuiltinModule
    if (typeof get !== 'function') {
      throw new Error(
        'this plugin is loaded as an ES module (a package.json with "type": "module" is above it); that needs Node.js >= 20.16, or move the file elsewhere',
      )
    }
    var filename = get('node:fs').realpathSync(process.argv[1])
    var mod = { exports: {} }
    bundle.call(mod.exports, mod.exports, get('node:module').createRequire(filename), mod, filename, get('node:path').dirname(filename))
  } catch (err) {
    fail('Plugin failed to start; exiting', err)
  }
})(function (exports, require, module, __filename, __dirname) {
`

/**
 * V8 flags of every shipped executable (docs/performance.md, "Memory: V8 flags", issue 12 §6). Every
 * attestation allocates, and under a steady rate V8 grows its heap far past what is live:
 * - `--max-semi-space-size=1` (MiB) caps the young generation, which V8 otherwise grows to 16 MiB per
 *   semi-space, resident from then on;
 * - `--heap-growing-percent=100` lets the old generation grow to twice what the last full GC kept
 *   before the next one, where V8's default factor lets it grow further.
 * Through the host launcher, 20,000 warm attestations: azure_msi server RSS 127 → 95 MB, azure_imds
 * 126 → 98 MB (the young-generation cap alone had already taken it from 157 MB), with the same CPU
 * per attestation in alternating rounds; 50% instead of 100% saved 8 MB more for 25% more CPU.
 */
export const NODE_FLAGS = ['--max-semi-space-size=1', '--heap-growing-percent=100']

/** Lines 1–2 of every wrapped file: the /bin/sh + JavaScript polyglot described above. */
export const POLYGLOT_HEADER = `#!/bin/sh\n':' //; exec node ${NODE_FLAGS.join(' ')} "$0" "$@"\n`

/** The wrapped file: the polyglot header, the prelude, then the bundle as the body of a function. */
export function wrapCommonJsBundle(code) {
  const body = code.startsWith('#!') ? code.slice(code.indexOf('\n') + 1) : code
  return `${POLYGLOT_HEADER}${PRELUDE}${body}\n})\n`
}
