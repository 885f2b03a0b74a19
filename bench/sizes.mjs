// How much each phase sends and how long the run may take, full and quick. Counts that adapt between rounds start
// from `firstRound`; `estimateMs` is what each phase is expected to take on this 2-core machine, so that an earlier
// phase stops adding rounds while the later ones would no longer fit in the budget.

export const PHASES = ["single", "profile", "ingest", "batchfed", "openloop", "backlog", "fanout", "cost"];

const FULL = {
  rounds: 5,
  heavyRounds: 3,
  roundSeconds: 5,
  concurrency: 16,
  // The single-event path (phase "single"): 16 clients for singleSeconds against each side, singleRounds times.
  singleRounds: 3,
  singleSeconds: 5,
  singleDrainMs: 45_000,
  lightEvents: 30,
  profileSeconds: 5,
  ingestSingle: 200,
  ingestBatchRequests: 6,
  batchConcurrency: 2,
  batchSize: 100,
  loadSeconds: 8,
  backlog: [1000, 10000],
  // Broadcast fan-out (phase "fanout"): webhooks, 10 to an account, the first size's accounts kept for the next.
  fanout: [1000, 3000],
  costEvents: { light: 30, load: 300, batch: 300, steady: 300, fanout10: 30 },
  firstRound: { baseline: 600, w1: 150, w10: 30, w100: 4 },
  estimateMs: { single: 150_000, profile: 30_000, ingest: 45_000, batchfed: 80_000, openloop: 30_000, backlog: 80_000, fanout: 180_000, cost: 45_000 },
  budgetMs: 740_000,
  hardLimitMs: 895_000,
};

const QUICK = {
  rounds: 3,
  heavyRounds: 2,
  roundSeconds: 2.5,
  concurrency: 16,
  singleRounds: 2,
  singleSeconds: 2.5,
  singleDrainMs: 20_000,
  lightEvents: 10,
  profileSeconds: 3,
  ingestSingle: 60,
  ingestBatchRequests: 3,
  batchConcurrency: 2,
  batchSize: 100,
  loadSeconds: 3,
  backlog: [100, 400],
  fanout: [200, 400],
  costEvents: { light: 10, load: 60, batch: 100, steady: 60, fanout10: 10 },
  firstRound: { baseline: 300, w1: 60, w10: 15, w100: 2 },
  estimateMs: { single: 55_000, profile: 10_000, ingest: 15_000, batchfed: 30_000, openloop: 15_000, backlog: 20_000, fanout: 30_000, cost: 25_000 },
  budgetMs: 270_000,
  hardLimitMs: 355_000,
};

/** The sizes of a full or a quick run. */
export const sizes = (quick) => (quick ? QUICK : FULL);
