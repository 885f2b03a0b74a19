import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { toSlackMessage } from "../../src/delivery/slack";
import { catalog } from "../../src/events/catalog";

const readme = readFileSync(fileURLToPath(new URL("README.md", import.meta.url)), "utf8");

function jsonBlock(marker: string): any {
  const block = readme.match(new RegExp(`<!-- ${marker} -->\\n\`\`\`json\\n([\\s\\S]*?)\`\`\``))?.[1];
  if (!block) throw new Error(`README.md has no json block after <!-- ${marker} -->`);
  return JSON.parse(block);
}

test("the README's Slack message is exactly what the service's formatter makes of the README's event", () => {
  const event = jsonBlock("slack-event");
  expect(jsonBlock("slack-message")).toEqual(JSON.parse(JSON.stringify(toSlackMessage(event))));
});

test("the README's event is the catalog's workflow.failed example, as GET /v1/event-types shows it", () => {
  const event = jsonBlock("slack-event");
  expect(event.type).toBe("workflow.failed");
  expect(event.data).toEqual(catalog.get("workflow.failed")!.example);
});

test("every catalog event type becomes a Slack message with text and blocks", () => {
  for (const [type, info] of catalog) {
    const message = toSlackMessage({ id: "evt_1", type, timestamp: "2026-11-27T09:00:00.000Z", account_id: "acc_1", data: info.example });
    expect(message.text.length, type).toBeGreaterThan(0);
    expect(message.blocks.length, type).toBeGreaterThan(0);
  }
});
