#!/usr/bin/env node
// Entry point for the installed `qvacd` command: runs the TypeScript CLI through tsx (no build step).
import { register } from 'tsx/esm/api'

register()
await import('./qvacd.ts')
