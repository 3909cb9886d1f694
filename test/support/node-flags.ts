import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { REPO_ROOT } from './paths.js'

/** The V8 flags every shipped executable runs with (scripts/bundle-wrapper.mjs, the build's own list). */
export const NODE_FLAGS: readonly string[] = (
  (await import(pathToFileURL(join(REPO_ROOT, 'scripts', 'bundle-wrapper.mjs')).href)) as {
    NODE_FLAGS: string[]
  }
).NODE_FLAGS
