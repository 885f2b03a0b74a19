import { SELF, env } from "cloudflare:test";
import { inject, expect, test } from "vitest";
test("smoke", async () => {
  const r = await SELF.fetch("http://x/");
  expect(await r.text()).toBe("hi");
  const t = await env.DB.prepare("select count(*) as n from accounts").first();
  expect(t).toEqual({ n: 0 });
  const url = inject("receiverUrl");
  await fetch(`${url}/__script/a`, { method: "PUT", body: JSON.stringify({ otherwise: { status: 201 } }) });
  const x = await fetch(`${url}/r/a`, { method: "POST", body: "hey" });
  expect(x.status).toBe(201);
});
