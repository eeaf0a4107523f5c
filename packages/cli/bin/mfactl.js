#!/usr/bin/env node
// Entry point: wires the process (streams, environment, Ctrl+C) to the CLI and sets the exit code.
import { setMaxListeners } from "node:events";
import { run } from "../dist/main.js";

const controller = new AbortController();
// Every in-flight Graph request listens for Ctrl+C on this one signal; thousands may be in flight.
setMaxListeners(0, controller.signal);
let interrupts = 0;
process.on("SIGINT", () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  controller.abort(new Error("interrupted"));
});

// A service manager's stop: the same graceful path as Ctrl+C (runs stop between users, resumable).
process.on("SIGTERM", () => controller.abort(new Error("terminated")));

// A reader that stops early (`mfactl runs | head`) is not an error worth a stack trace.
process.stdout.on("error", (error) => {
  if (error && error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
