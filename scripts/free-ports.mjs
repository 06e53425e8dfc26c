#!/usr/bin/env node
// Print N free loopback ports for the shell scripts that start a PocketStack:
// `read -r A B C < <(node scripts/free-ports.mjs 3)`. The choice is src/util/ports.ts's (below
// the ephemeral range, each checked with a real bind, never the same port twice), loaded from
// the TypeScript through tsx rather than from dist/: tempest-compute.sh runs the server from the
// sources and tempest-octavia.sh builds only after it has its ports, so dist/ may not exist yet.
// tsx is resolved from this file's own node_modules, so any working directory will do.
import { tsImport } from 'tsx/esm/api';

const { freePorts } = await tsImport('../src/util/ports.ts', import.meta.url);
console.log((await freePorts(Number(process.argv[2] ?? 1))).join(' '));
