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
    },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
