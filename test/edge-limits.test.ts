import { SELF } from "cloudflare:test";
import { describe, expect, test } from "vitest";
import { limitHeaders, RESPONSE_HEADERS_LOG_CHARS } from "../src/delivery/send";
import { call, expectProblem, newAccount } from "./support/api";
import { deliveryOf, hook, settle } from "./support/delivery";

// The edge's limits: every route has a body limit (the dashboard's forms too), the sign-in redirect goes only to a
// path of this site, and the log keeps a receiver's response headers capped like its bodies.

const ORIGIN = "https://webhooks.test";

/** A form post to the dashboard as a browser on one of its pages sends it. */
function form(path: string, body: BodyInit, headers: Record<string, string> = {}) {
  return SELF.fetch(`${ORIGIN}${path}`, {
    method: "POST",
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded", ...headers },
    body,
    redirect: "manual",
  });
}

const OVER = 256 * 1024 + 1;

describe("every route has a body limit", () => {
  test.each([
    ["/sign-in"],
    ["/sign-out"],
    ["/webhooks/new"],
    ["/webhooks/wh_x/edit"],
    ["/deliveries/dlv_x/retry"],
    ["/v1/accounts"],
    ["/v1/webhooks"],
    ["/docs"],
    ["/no/such/route"],
  ])("POST %s with a body over 256 KiB → 413 problem", async (path) => {
    const body = await expectProblem(form(path, `key=${"x".repeat(OVER)}`), 413);
    expect(body.detail).toMatch(/256 KiB/);
  });

  test("a body streamed without a length is cut off at the limit too", async () => {
    const chunk = new TextEncoder().encode(`key=${"x".repeat(64 * 1024)}`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ >= 8) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const res = await form("/sign-in", stream);
    expect(res.status).toBe(413);
    // It stopped reading near the limit rather than taking the whole 512 KiB.
    expect(sent).toBeLessThan(8);
  });

  test("a sign-in just under the limit is judged as usual", async () => {
    const res = await form("/sign-in", `key=bxk_${"x".repeat(1000)}&pad=${"y".repeat(200 * 1024)}`);
    expect(res.status).toBe(422);
    expect(await res.text()).toMatch(/unknown or has been revoked/);
  });
});

describe("the sign-in redirect goes only to a path of this site", () => {
  test.each<[next: string, location: string]>([
    ["/webhooks/wh_1?status=failed#deliveries", "/webhooks/wh_1?status=failed#deliveries"],
    ["/deliveries/dlv_1", "/deliveries/dlv_1"],
    ["/\t/evil.example", "/"],
    ["/\n/evil.example", "/"],
    ["/\r\n/evil.example", "/"],
    ["//evil.example", "/"],
    ["/\\evil.example", "/"],
    ["/\\/evil.example", "/"],
    ["https://evil.example/", "/"],
    ["javascript:alert(1)", "/"],
    ["evil.example", "/"],
    ["/ /evil.example", "/"],
    ["/%09/evil.example", "/%09/evil.example"],
    ["", "/"],
  ])("next=%j → %s", async (next, location) => {
    const { key } = await newAccount();
    const res = await form("/sign-in", new URLSearchParams({ key, next }).toString());
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(location);
    // Wherever it leads, it stays on this origin.
    expect(new URL(res.headers.get("location")!, ORIGIN).origin).toBe(ORIGIN);
  });
});

describe("a receiver's response headers are logged capped, like its body", () => {
  test("limitHeaders keeps headers whole while they fit, cuts the first that does not, and drops the rest", () => {
    const headers = new Headers();
    for (let i = 0; i < 20; i++) headers.append(`x-h${String(i).padStart(2, "0")}`, "v".repeat(300));
    const kept = limitHeaders(headers, 1000);
    expect(Object.keys(kept)).toEqual(["x-h00", "x-h01", "x-h02", "x-h03"]);
    expect(kept["x-h00"]).toBe("v".repeat(300));
    expect(kept["x-h03"]).toBe(`${"v".repeat(1000 - 3 * 305 - 5)}…[truncated]`);
    const small = new Headers({ "content-type": "text/plain", "x-ok": "1" });
    expect(limitHeaders(small, 1000)).toEqual({ "content-type": "text/plain", "x-ok": "1" });
  });

  test("through the queue: 60 KB of headers from the receiver are logged as at most 4 KiB", async () => {
    const headers = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`x-junk-${i}`, "j".repeat(1000)]));
    const h = await hook({}, { answers: [{ status: 200, body: "ok", headers }] });
    const sent = await h.send();
    await settle(h);
    const delivery = await deliveryOf(h, sent.id);
    expect(delivery.status).toBe("delivered");
    const logged: Record<string, string> = delivery.attempts[0].response_headers;
    const size = Object.entries(logged).reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(size).toBeLessThanOrEqual(RESPONSE_HEADERS_LOG_CHARS + "…[truncated]".length);
    expect(size).toBeGreaterThan(RESPONSE_HEADERS_LOG_CHARS / 2);
    expect(Object.values(logged).filter((v) => v.endsWith("…[truncated]"))).toHaveLength(1);
    expect(Object.keys(logged).length).toBeLessThan(10);
  });
});

test("GET routes still answer without a body", async () => {
  expect((await call("GET", "/v1/event-types")).status).toBe(200);
  expect((await call("GET", "/")).status).toBe(200);
});
