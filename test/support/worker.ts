import { WebhookQueue as Queue } from "../../src/delivery/queue";
import { productionSeams } from "../../src/delivery/seams";
import worker from "../../src/index";
import { RelaySession as Session } from "../../src/relay/session";
import { alarmRan, meteredSql, testAlarm, testClock, track } from "./queue-seams";

// The Worker the workerd tests run: the service as deployed, but its queues take their clock, alarm and
// waitUntil from the test (./queue-seams.ts), so a test moves time instead of editing a queue's rows, and an alarm
// fires when the test says so rather than by itself. Their SQL is metered on request: rows read and written, no more.
export default worker;

export class WebhookQueue extends Queue {
  static override seams: typeof Queue.seams = (ctx, env) => {
    const seams = productionSeams(ctx, env);
    const id = ctx.id.toString();
    return {
      ...seams,
      sql: meteredSql(id, ctx.storage.sql),
      now: testClock.now,
      alarm: testAlarm(id, ctx.storage),
      waitUntil: track(id, (p) => ctx.waitUntil(p)),
    };
  };

  override async alarm(): Promise<void> {
    // The runtime's alarm is spent once it runs; so is the time the queue asked for (it may ask again as it runs).
    alarmRan(this.ctx.id.toString());
    await super.alarm();
  }
}

export class RelaySession extends Session {
  // A relay's expiry is judged on the queues' clock, so a test moves a day ahead instead of waiting one.
  static override now = testClock.now;
}
