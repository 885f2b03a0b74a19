import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two projects: "workers" runs inside workerd through the Cloudflare vitest plugin (the runtime the code runs
// in); "e2e" runs in Node and drives a real `wrangler dev` with real HTTP receivers on 127.0.0.1.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              // The service as deployed, with queues whose clock and alarm the tests drive (test/support/worker.ts).
              main: "./test/support/worker.ts",
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                // The log sharded in two (src/shards.ts): every account's log lands in DB or LOG_DB_1 by its id, so
                // the suite runs each path on both. The end-to-end suite keeps the default, one database.
                d1Databases: { LOG_DB_1: "log-db-1" },
                bindings: {
                  LOG_SHARDS: "2",
                  TEST_MIGRATIONS: migrations,
                  PLATFORM_TOKEN: "test-platform-token-0123456789abcdef",
                  ENCRYPTION_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                  ALLOW_PRIVATE_DESTINATIONS: "true",
                  DASHBOARD_URL: "https://webhooks.test",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/e2e/**", "test/browser/**", "test/chaos/**", "test/unit/**"],
            setupFiles: ["./test/setup.ts"],
            globalSetup: ["./test/receiver-setup.ts"],
          },
        },
        {
          test: {
            name: "e2e",
            environment: "node",
            include: ["test/e2e/**/*.test.ts", "test/browser/**/*.test.ts", "examples/**/*.test.ts"],
            testTimeout: 120_000,
            hookTimeout: 120_000,
            fileParallelism: false,
          },
        },
        {
          // The queue's parts in plain Node, on an in-memory SQLite: the store's property test.
          test: {
            name: "unit",
            environment: "node",
            include: ["test/unit/**/*.test.ts"],
          },
        },
        {
          // Long fault-injection runs (`npm run test:chaos`); their fast parts live in the projects above.
          test: {
            name: "chaos",
            environment: "node",
            include: ["test/chaos/**/*.test.ts"],
            testTimeout: 600_000,
            hookTimeout: 120_000,
            fileParallelism: false,
          },
        },
      ],
    },
  };
});
