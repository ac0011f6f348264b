#!/usr/bin/env node
// The `gossamer` command: registers tsx so that Node 20 can run the TypeScript sources directly,
// then hands over to the CLI.
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
