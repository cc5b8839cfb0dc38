#!/usr/bin/env node
// The installed `herald` command: runs the compiled CLI (built by `npm ci` through `prepare`).
import '../dist/cli/main.js';
