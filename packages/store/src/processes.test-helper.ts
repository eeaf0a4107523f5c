/**
 * For tests that race journal clients in child processes (journal-child.test-helper.ts): start
 * them, talk to them, kill what is left after each test.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildReply, ChildRequest } from "./journal-child.test-helper.js";

// Children run the built store: vitest's transform does not reach a forked process.
const srcDir = path.dirname(fileURLToPath(import.meta.url));
const distDir = path.join(srcDir, "..", "dist");
const childScript = path.join(distDir, "journal-child.test-helper.js");

/**
 * Existence only: tsc -b leaves outputs untouched when a source was touched but not changed, so
 * timestamps cannot tell stale from current. npm test builds before it runs vitest.
 */
export function checkBuilt(): void {
  for (const file of readdirSync(srcDir)) {
    if (!file.endsWith(".ts") || file.endsWith(".test.ts")) continue;
    const built = path.join(distDir, file.replace(/\.ts$/, ".js"));
    if (!existsSync(built)) throw new Error(`${path.relative(process.cwd(), built)} is missing: run \`npx tsc -b\` first (npm test does); the child processes run the built store.`);
  }
}

export interface Child {
  process: ChildProcess;
  request(request: ChildRequest): Promise<ChildReply>;
}

const children: ChildProcess[] = [];

export function spawnChild(as?: { uid: number; gid: number }): Child {
  const child = fork(childScript, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], ...as });
  children.push(child);
  const waiting: { op: string; resolve: (reply: ChildReply) => void; reject: (error: Error) => void }[] = [];
  child.on("message", (reply: ChildReply) => waiting.shift()?.resolve(reply));
  child.on("exit", (code, signal) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`child exited (${code ?? signal}) before replying to ${w.op}`));
  });
  child.on("error", (error) => {
    for (const w of waiting.splice(0)) w.reject(error);
  });
  return {
    process: child,
    request(request) {
      return new Promise((resolve, reject) => {
        waiting.push({ op: request.op, resolve, reject });
        child.send(request);
      });
    },
  };
}

/** Kills every child still running (call it after each test). */
export function killChildren(): void {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}
