import { defineConfig } from "vite";

// Served by `mfactl serve` at / and /assets/* under a strict CSP: no inline scripts or styles.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
  },
});
