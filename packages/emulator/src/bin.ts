#!/usr/bin/env node
/** Standalone entry: node packages/emulator/dist/bin.js [options]. */
import { runEmulatorCli } from "./cli.js";

process.exitCode = await runEmulatorCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
