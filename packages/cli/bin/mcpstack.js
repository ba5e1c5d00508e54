#!/usr/bin/env node
// The installed package runs the compiled dist/ (Node does not strip types inside node_modules);
// in the repository, src/ runs as it is under Node's type stripping, so no build is needed first.
import { existsSync } from 'node:fs';

const source = new URL('../src/main.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../dist/main.js', import.meta.url);
const { run } = await import(entry.href);
process.exitCode = await run(process.argv);
