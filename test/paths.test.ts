import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { getPath, pathError, REDACTED, redact } from "../src/webhooks/paths";

const payload = {
  id: "evt_1",
  type: "user.message.received",
  data: {
    session_id: "ses_1",
    message: { id: "msg_1", role: "user", content: "my password is hunter2" },
    items: [{ id: "a" }, { id: "b", tags: ["x"] }],
    zero: 0,
    nothing: null,
  },
};

describe("getPath", () => {
  test.each<[string, unknown]>([
    ["id", "evt_1"],
    ["data.message.content", "my password is hunter2"],
    ["data.items.0.id", "a"],
    ["data.items.1.tags.0", "x"],
    ["data.zero", 0],
    ["data.nothing", null],
    ["data.items", payload.data.items],
    ["data.missing", undefined],
    ["data.items.2.id", undefined],
    ["data.items.-1", undefined],
    ["data.items.01", undefined],
    ["data.items.length", undefined],
    ["data.message.content.length", undefined],
    ["data.message.content.0", undefined],
    ["data.nothing.x", undefined],
    ["data..message", undefined],
  ])("%s", (path, expected) => {
    expect(getPath(payload, path)).toEqual(expected);
  });

  test.each<[string, unknown, string]>([
    ["constructor on {}", {}, "constructor"],
    ["toString on {}", {}, "toString"],
    ["hasOwnProperty on {}", {}, "hasOwnProperty"],
    ["__proto__ on {}", {}, "__proto__"],
    ["__proto__.constructor", {}, "__proto__.constructor"],
    ["nested constructor", { a: {} }, "a.constructor"],
    ["constructor.prototype", { a: 1 }, "constructor.prototype"],
    ["own __proto__ key from JSON.parse", JSON.parse('{"__proto__": {"x": 1}}'), "__proto__.x"],
    ["own constructor key from JSON", { constructor: "mine" }, "constructor"],
    ["own prototype key from JSON", { prototype: "mine" }, "prototype"],
    ["array method", { a: [1] }, "a.map"],
    ["string on a primitive", { s: "abc" }, "s.length"],
    ["function property", { f: () => 1 }, "f.name"],
  ])("never inherited or reserved: %s", (_name, value, path) => {
    expect(getPath(value, path)).toBeUndefined();
  });

  test("does not run getters", () => {
    let ran = false;
    const value = {
      get secret() {
        ran = true;
        return "x";
      },
    };
    expect(getPath(value, "secret")).toBeUndefined();
    expect(ran).toBe(false);
  });

  const inheritedNames = [...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Array.prototype), "prototype"];

  test("property: never returns what is not an own property (any payload, inherited names)", () => {
    fc.assert(
      fc.property(fc.anything(), fc.array(fc.constantFrom(...inheritedNames), { minLength: 1, maxLength: 3 }), (value, segments) => {
        // Walk only own keys by hand; getPath must agree (and so return undefined wherever an inherited name is hit).
        let expected: unknown = value;
        for (const segment of segments) {
          const own =
            typeof expected === "object" &&
            expected !== null &&
            !["__proto__", "constructor", "prototype"].includes(segment) &&
            !(Array.isArray(expected) && !/^(?:0|[1-9][0-9]*)$/.test(segment)) &&
            Object.hasOwn(expected, segment);
          expected = own ? (expected as Record<string, unknown>)[segment] : undefined;
          if (expected === undefined) break;
        }
        expect(getPath(value, segments.join("."))).toBe(expected);
      }),
    );
  });

  test("property: a JSON value's own paths read back what is there", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const [path, expected] of ownPaths(value)) {
          if (path.some((s) => s.includes(".") || ["__proto__", "constructor", "prototype"].includes(s))) continue;
          expect(getPath(value, path.join("."))).toBe(expected);
        }
      }),
    );
  });
});

describe("redact", () => {
  test("replaces existing paths, ignores missing ones, leaves the input alone", () => {
    const before = structuredClone(payload);
    const out = redact(payload, ["data.message.content", "data.items.1.tags", "data.missing.deep", "nope", "data.nothing"]);
    expect(out.data.message).toEqual({ id: "msg_1", role: "user", content: REDACTED });
    expect(out.data.items[1]).toEqual({ id: "b", tags: REDACTED });
    expect(out.data.nothing).toBe(REDACTED);
    expect(out).not.toHaveProperty("nope");
    expect(out.data).not.toHaveProperty("missing");
    expect(payload).toEqual(before);
  });

  test("returns a deep copy even with nothing to redact", () => {
    const out = redact(payload, []);
    expect(out).toEqual(payload);
    expect(out).not.toBe(payload);
    expect(out.data.items).not.toBe(payload.data.items);
    out.data.items[0].id = "changed";
    expect(payload.data.items[0].id).toBe("a");
  });

  test("a whole object can be redacted, and a redacted parent swallows its children", () => {
    const out = redact(payload, ["data.message", "data.message.content"]);
    expect(out.data.message).toBe(REDACTED);
  });

  test.each([
    ["__proto__", JSON.parse('{"__proto__": {"x": 1}}')],
    ["constructor", {}],
    ["a.constructor.prototype", { a: {} }],
    ["a.length", { a: [1, 2] }],
  ])("never writes through a reserved or non-data path: %s", (path, value) => {
    const snapshot = JSON.stringify(value);
    const out = redact(value, [path]);
    expect(JSON.stringify(out)).toBe(snapshot);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("x");
  });

  test("copes with payloads nested deeper than the stack", () => {
    const deep = JSON.parse(`${"[".repeat(100_000)}1${"]".repeat(100_000)}`);
    expect(() => redact(deep, ["0.0.0"])).not.toThrow();
  });

  test("property: never mutates the input; redacts every existing path", () => {
    const withPaths = fc
      .jsonValue()
      .chain((value) => fc.tuple(fc.constant(value), fc.subarray(ownPaths(value).map(([path]) => path.join("."))), fc.array(fc.string(), { maxLength: 3 })));
    fc.assert(
      fc.property(withPaths, ([value, existing, random]) => {
        const paths = [...existing, ...random];
        const snapshot = JSON.stringify(value);
        const out = redact(value, paths);
        expect(JSON.stringify(value)).toBe(snapshot);
        for (const path of paths) {
          const coveredByParent = paths.some((other) => path.startsWith(`${other}.`) && getPath(value, other) !== undefined);
          if (!coveredByParent && getPath(value, path) !== undefined) expect(getPath(out, path)).toBe(REDACTED);
        }
      }),
    );
  });

  test("property: never mutates arbitrary inputs", () => {
    // Two equal, independent values: structuredClone would lose null prototypes and boxed strings.
    const arbitraryWithPaths = fc.clone(fc.anything({ withNullPrototype: true, withObjectString: true }), 2).chain((pair) =>
      fc.tuple(
        fc.constant(pair),
        fc
          .tuple(fc.subarray(ownPaths(pair[0]).map(([path]) => path.join("."))), fc.array(fc.string(), { maxLength: 2 }))
          .map(([own, random]) => [...own, ...random]),
      ),
    );
    fc.assert(
      fc.property(arbitraryWithPaths, ([[value, twin], paths]) => {
        redact(value, paths);
        expect(value).toStrictEqual(twin);
      }),
    );
  });
});

describe("pathError", () => {
  test.each(["id", "data.message.content", "data.items.0.id", "a-b_C9", Array.from({ length: 20 }, () => "a").join(".")])("accepts %s", (path) => {
    expect(pathError(path)).toBeNull();
  });

  test.each<[string, unknown, RegExp]>([
    ["empty", "", /must not be empty/],
    ["too long", "a".repeat(201), /at most 200 characters/],
    ["too many segments", Array.from({ length: 21 }, () => "a").join("."), /at most 20 segments/],
    ["leading dot", ".a", /segment 1 is empty/],
    ["trailing dot", "a.", /segment 2 is empty/],
    ["double dot", "a..b", /segment 2 is empty/],
    ["space", "data.my field", /"my field" may contain only/],
    ["wildcard", "data.*", /"\*" may contain only/],
    ["bracket", "data.items[0]", /may contain only/],
    ["__proto__", "data.__proto__.x", /"__proto__" is reserved/],
    ["constructor", "constructor", /reserved/],
    ["prototype", "a.prototype", /reserved/],
    ["not a string", 42, /must be a string/],
  ])("rejects %s", (_name, path, message) => {
    expect(pathError(path as string)).toMatch(message);
  });

  test("exactly 200 characters is fine", () => {
    expect(pathError(`${"a".repeat(99)}.${"b".repeat(100)}`)).toBeNull();
  });
});

/** Every (segments, value) pair reachable through own keys of a JSON value, the root excluded. */
function ownPaths(value: unknown, prefix: string[] = []): Array<[string[], unknown]> {
  if (typeof value !== "object" || value === null) return [];
  return Object.keys(value).flatMap((key) => {
    const child = (value as Record<string, unknown>)[key];
    const path = [...prefix, key];
    return [[path, child] as [string[], unknown], ...ownPaths(child, path)];
  });
}
