#!/usr/bin/env node
// `./bin/qvacd.js` from a clone: runs the TypeScript CLI through tsx. The installed `qvacd` is dist/bin/qvacd.js.
import { register } from 'tsx/esm/api'

register()
await import('./qvacd.ts')
