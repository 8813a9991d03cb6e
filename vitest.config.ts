import { defineConfig } from "vitest/config";

// Two projects: `vitest run --project unit` needs nothing running; `--project integration` talks to
// the local stack (npm run stack:start) over HTTP and SQL. `npm test` starts the stack and runs both.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // files in a new order every run (npm test prints the seed; --sequence.seed=<n> repeats an order), so
    // that an integration file leaning on another's leftovers fails here rather than in a fresh clone;
    // vitest shuffles files from the root config only (its sequencer is not per project)
    sequence: { shuffle: { files: true, tests: false } },
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["tests/unit/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          globalSetup: ["tests/helpers/require-stack.ts"],
          // the files share one local stack (each test uses its own ids), or run in a world of their own
          // (tests/helpers/world.ts), one at a time: worlds take ports by turn
          fileParallelism: false,
        },
      },
    ],
  },
});
