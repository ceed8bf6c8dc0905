#!/usr/bin/env node
// The `qkv` executable: a thin wrapper that hands the arguments to run() and exits with its code.
import { run } from './run.js';

process.exitCode = await run(process.argv.slice(2), process);
