import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      "@mfactl/core": src("core"),
      "@mfactl/emulator": src("emulator"),
      "@mfactl/store": src("store"),
      "@mfactl/render": src("render"),
      "@mfactl/server": src("server"),
      // n8n loads n8n-workflow's CommonJS build; its ESM build is for bundlers (imports without extensions).
      "n8n-workflow": createRequire(new URL("./packages/n8n-nodes-mfactl/package.json", import.meta.url)).resolve("n8n-workflow"),
    },
  },
  test: {
    // The n8n community node keeps n8n's package layout (nodes/, credentials/): its tests are in test/, its
    // end-to-end test beside the package, not in a src (docs/n8n-e2e.md).
    include: ["packages/*/src/**/*.test.ts", "packages/n8n-nodes-mfactl/test/**/*.test.ts", "packages/n8n-nodes-mfactl/e2e/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
