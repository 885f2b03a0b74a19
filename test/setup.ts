import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach } from "vitest";
import { testClock } from "./support/queue-seams";

// Storage is isolated per test file; apply the schema to each file's fresh D1, the main database and the log shard.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
await applyD1Migrations(env.LOG_DB_1!, env.TEST_MIGRATIONS);

afterEach(() => testClock.reset());
