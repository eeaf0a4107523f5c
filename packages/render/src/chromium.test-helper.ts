/**
 * Debian's Chromium for the browser tests of every package (import it by relative path). Without
 * it a browser suite is skipped with the reason printed, except under MFACTL_E2E=1 (CI), where a
 * test that fails takes its place: `.ci/run` installs chromium, so there a missing one is an error.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { expect, it } from "vitest";

export const CHROMIUM = "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);

/** Call once at the top of a browser test file: prints why it is skipped, or fails under MFACTL_E2E=1. */
export function requireChromium(suite: string): void {
  if (chromiumAvailable) return;
  const required = process.env["MFACTL_E2E"] === "1";
  console.log(`${suite}: ${CHROMIUM} is missing (apt-get install chromium)${required ? "; MFACTL_E2E=1, so this fails" : ": skipped"}.`);
  it.runIf(required)("needs Chromium when MFACTL_E2E=1", () => {
    expect.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does.`);
  });
}

/** Headless, offline-friendly: without the background-networking flags Chromium calls Google's hosts, which this network refuses. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
