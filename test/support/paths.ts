import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (the folder with package.json), found from this compiled file's location. */
export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)))

/** Fixtures the tests read, kept in the repository (provenance: test/fixtures/README.md). */
export const FIXTURES_DIR = join(REPO_ROOT, 'test', 'fixtures')

export const HCL_FIXTURES_DIR = join(FIXTURES_DIR, 'hcl')
export const AZURE_FIXTURES_DIR = join(FIXTURES_DIR, 'azure')

function findRepoRoot(start: string): string {
  let dir = start
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`repository root not found above ${start}`)
    dir = parent
  }
}

/**
 * Where the plugin executables under test live: the build's dist/bin, or another copy of them
 * (SPIRE_AZURE_BIN_DIR), e.g. lone copies outside the repo to prove nothing leaks out of a bundle.
 */
export const PLUGIN_BIN_DIR = resolve(
  process.env.SPIRE_AZURE_BIN_DIR ?? join(REPO_ROOT, 'dist', 'bin'),
)

/** Test-only executables (the challenge–response attestor pair): built to dist/test-bin, never shipped. */
export const TEST_BIN_DIR = join(REPO_ROOT, 'dist', 'test-bin')
