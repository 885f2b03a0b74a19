import { describe, expect, test } from "vitest";
import { TEST_SEND_BURST, TEST_SENDS_PER_MINUTE, TestThrottle } from "../src/webhooks/test-throttle";
import { call, expectJson, expectProblemResponse } from "./support/api";
import { deliveriesOf, hook } from "./support/delivery";

// The test route answers what the receiver said, so without a throttle it was an open proxy (issue 17: ten
// parallel calls on a webhook limited to 1/s all reached the receiver within 123 ms).

const testSend = (h: { wh: { id: string }; key: string }) => call("POST", `/v1/webhooks/${h.wh.id}/test`, { token: h.key });

describe("POST /v1/webhooks/{id}/test is throttled per webhook", () => {
  test("ten at once on a webhook limited to 1/s: one reaches the receiver, nine get 429 with Retry-After, and leave no trace", async () => {
    const h = await hook({ rate_limit_per_s: 1 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => testSend(h)));
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(9);
    for (const res of refused) {
      const { body, headers } = await expectProblemResponse(res, 429);
      expect(headers.get("retry-after")).toBe("1");
      expect(body.detail).toMatch(/rate_limit_per_s of 1.*Nothing was sent/);
    }
    expect(await h.r.received()).toHaveLength(1);
    // Only the one sent is in the delivery log.
    expect((await deliveriesOf(h)).map((d) => d.event_type)).toEqual(["webhook.test"]);
  });

  test(`without a rate limit: ${TEST_SEND_BURST} back to back, then 429 until the bucket refills (${TEST_SENDS_PER_MINUTE} a minute)`, async () => {
    const h = await hook();
    for (let i = 0; i < TEST_SEND_BURST; i++) expect((await testSend(h)).status).toBe(200);
    const { body, headers } = await expectProblemResponse(testSend(h), 429);
    const wait = Number(headers.get("retry-after"));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60 / TEST_SENDS_PER_MINUTE);
    expect(body.detail).toContain(`past ${TEST_SENDS_PER_MINUTE} a minute`);
    expect(await h.r.received()).toHaveLength(TEST_SEND_BURST);
  });

  test("each webhook has its own bucket", async () => {
    const a = await hook();
    const b = await hook();
    for (let i = 0; i < TEST_SEND_BURST; i++) await expectJson(testSend(a), 200);
    await expectProblemResponse(testSend(a), 429);
    await expectJson(testSend(b), 200);
  });
});

describe("TestThrottle", () => {
  test("a burst, then one more every 60/rate seconds, never more than the burst saved up", () => {
    const t = new TestThrottle();
    let now = 1_000_000;
    for (let i = 0; i < TEST_SEND_BURST; i++) {
      expect(t.wait(now)).toBe(0);
      t.take(now);
    }
    const interval = 60_000 / TEST_SENDS_PER_MINUTE;
    expect(t.wait(now)).toBe(interval);
    now += interval - 1;
    expect(t.wait(now)).toBe(1);
    now += 1;
    expect(t.wait(now)).toBe(0);
    t.take(now);
    expect(t.wait(now)).toBe(interval);
    // A long quiet spell saves up the burst, and no more.
    now += 3_600_000;
    for (let i = 0; i < TEST_SEND_BURST; i++) {
      expect(t.wait(now)).toBe(0);
      t.take(now);
    }
    expect(t.wait(now)).toBeGreaterThan(0);
  });
});
