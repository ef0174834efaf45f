import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // tfjs keeps one global engine per process: run test files in separate forks, one at a time.
    pool: "forks",
    fileParallelism: false,
    // The suite runs on the embedded default backend, also on machines with a GPU
    // (GPU backends cannot read tensors synchronously in Node); bench/gpu.sh tests those.
    env: { TFBEND_BACKEND: process.env.TFBEND_BACKEND ?? "wasm" },
  },
});
