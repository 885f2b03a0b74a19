import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { matchesEventType, patternError, TEST_EVENT_TYPE } from "../src/webhooks/match";
import { SPEC_EVENT_TYPES } from "./support/spec-types";

const KNOWN: readonly string[] = SPEC_EVENT_TYPES;

describe("matchesEventType", () => {
  test.each<[string[], string, boolean]>([
    [["workflow.completed"], "workflow.completed", true],
    [["workflow.completed"], "workflow.failed", false],
    [["workflow.*"], "workflow.failed", true],
    [["workflow.*"], "component.failed", false],
    [["workflow.*"], "workflow", false],
    [["user.*"], "user.session.started", true],
    [["user.session.*"], "user.session.ended", true],
    [["user.session.*"], "user.session.deeper.still", true],
    [["user.session.*"], "user.message.received", false],
    [["user.*"], "users.created", false],
    [["api.quota.*"], "api.quota.exceeded", true],
    [["*"], "system.maintenance", true],
    [["*"], "component.timeout", true],
    [["component.failed", "workflow.*"], "workflow.timeout", true],
    [["component.failed", "workflow.*"], "component.failed", true],
    [["component.failed", "workflow.*"], "component.started", false],
    [[], "workflow.completed", false],
    [["workflow.complet*"], "workflow.completed", false],
    [["Workflow.Completed"], "workflow.completed", false],
    // The test route's event is never selected by a wildcard, only named exactly.
    [["*"], TEST_EVENT_TYPE, false],
    [["webhook.*"], TEST_EVENT_TYPE, false],
    [["*", "webhook.*"], TEST_EVENT_TYPE, false],
    [["webhook.test"], TEST_EVENT_TYPE, true],
  ])("%j ~ %s → %s", (patterns, type, expected) => {
    expect(matchesEventType(patterns, type)).toBe(expected);
  });

  test("property: '*' matches every known type, and an exact pattern only itself", () => {
    fc.assert(
      fc.property(fc.constantFrom(...KNOWN), fc.constantFrom(...KNOWN), (a, b) => {
        expect(matchesEventType(["*"], a)).toBe(true);
        expect(matchesEventType([a], b)).toBe(a === b);
      }),
    );
  });

  test("property: a prefix wildcard matches exactly the types under that prefix", () => {
    fc.assert(
      fc.property(fc.constantFrom(...KNOWN), fc.constantFrom(...KNOWN), (a, b) => {
        const segments = a.split(".");
        for (let n = 1; n < segments.length; n++) {
          const prefix = segments.slice(0, n).join(".");
          expect(matchesEventType([`${prefix}.*`], b)).toBe(b.split(".").slice(0, n).join(".") === prefix);
        }
      }),
    );
  });
});

describe("patternError", () => {
  test.each(["*", "workflow.*", "user.*", "user.session.*", "api.quota.*", "workflow.completed", "system.maintenance"])("accepts %s", (pattern) => {
    expect(patternError(pattern, KNOWN)).toBeNull();
  });

  test.each<[string, unknown, RegExp]>([
    ["empty", "", /non-empty string/],
    ["not a string", 7, /non-empty string/],
    ["too long", `${"a".repeat(130)}.*`, /at most 128/],
    ["unknown exact type", "workflow.complete", /unknown event type "workflow.complete"/],
    ["wrong case", "Workflow.Completed", /unknown event type/],
    ["typo wildcard", "workflw.*", /"workflw.\*" matches no known event type/],
    ["wildcard with no type underneath", "user.message.received.*", /matches no known event type/],
    ["partial-segment wildcard", "workflow.comp*", /a wildcard is "\*" or a prefix ending in "\.\*"/],
    ["suffix wildcard", "*.completed", /a wildcard is/],
    ["double wildcard", "*.*", /a wildcard is/],
    ["middle wildcard", "user.*.started", /a wildcard is/],
    ["bare prefix without dot", "workflow*", /a wildcard is/],
    ["empty segment", "workflow..*", /matches no known event type/],
    ["wildcard only selecting the test event", "webhook.*", /matches no known event type/],
  ])("rejects %s", (_name, pattern, message) => {
    expect(patternError(pattern as string, [...KNOWN, TEST_EVENT_TYPE])).toMatch(message);
  });

  test("an exact type is accepted only when the caller's catalog lists it", () => {
    expect(patternError(TEST_EVENT_TYPE, KNOWN)).toMatch(/unknown event type "webhook.test"/);
    expect(patternError(TEST_EVENT_TYPE, [...KNOWN, TEST_EVENT_TYPE])).toBeNull();
  });

  test("'*' needs at least one known type to select", () => {
    expect(patternError("*", [])).toMatch(/matches no known event type/);
    expect(patternError("*", [TEST_EVENT_TYPE])).toMatch(/matches no known event type/);
  });
});
