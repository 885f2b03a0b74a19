import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { FILTER_LIMITS, type Filter, FilterSchema, filterErrors, matchesFilter } from "../src/webhooks/filter";

const payload = {
  id: "evt_01",
  type: "workflow.completed",
  timestamp: "2026-11-27T09:00:00.000Z",
  account_id: "acc_1",
  data: {
    workflow_id: "wf_1",
    execution_id: "exe_1",
    duration_ms: 90_000,
    status: "ok",
    nothing: null,
    flag: false,
    tags: ["prod", "eu", { team: "ml" }],
    outputs: { answer: 42, nested: { a: [1, 2] } },
    message: { role: "user", content: "Hello, World" },
  },
};

describe("matchesFilter: operators", () => {
  test.each<[string, Filter, boolean]>([
    ["empty filter", {}, true],
    ["literal shorthand", { type: "workflow.completed" }, true],
    ["literal shorthand, other value", { type: "workflow.failed" }, false],
    ["literal object is deep equality", { "data.outputs": { nested: { a: [1, 2] }, answer: 42 } }, true],
    ["literal object, not a subset match", { "data.outputs": { answer: 42 } }, false],
    ["literal array is whole-array equality", { "data.tags": ["prod", "eu", { team: "ml" }] }, true],
    ["literal scalar does not match inside an array", { "data.tags": "prod" }, false],
    ["literal {} equals only {}", { "data.outputs": {} }, false],
    ["$eq number", { "data.duration_ms": { $eq: 90_000 } }, true],
    ["$eq null", { "data.nothing": { $eq: null } }, true],
    ["$eq null does not match a missing field", { "data.missing": { $eq: null } }, false],
    ["$eq false", { "data.flag": { $eq: false } }, true],
    ["$eq does not coerce", { "data.duration_ms": { $eq: "90000" } }, false],
    ["$eq deep object, key order irrelevant", { "data.message": { $eq: { content: "Hello, World", role: "user" } } }, true],
    ["$eq deep array, order matters", { "data.outputs.nested.a": { $eq: [2, 1] } }, false],
    ["$ne other value", { "data.status": { $ne: "failed" } }, true],
    ["$ne same value", { "data.status": { $ne: "ok" } }, false],
    ["$ne on a missing field", { "data.missing": { $ne: "x" } }, true],
    ["$ne null on a missing field", { "data.missing": { $ne: null } }, true],
    ["$gt number", { "data.duration_ms": { $gt: 60_000 } }, true],
    ["$gt equal number", { "data.duration_ms": { $gt: 90_000 } }, false],
    ["$gte equal number", { "data.duration_ms": { $gte: 90_000 } }, true],
    ["$lt number", { "data.duration_ms": { $lt: 60_000 } }, false],
    ["$lte equal number", { "data.duration_ms": { $lte: 90_000 } }, true],
    ["$gt string vs string (ISO time)", { timestamp: { $gt: "2026-01-01T00:00:00Z" } }, true],
    ["$lt string vs string", { "data.status": { $lt: "ol" } }, true],
    ["$lt string vs string, later", { "data.status": { $lt: "oj" } }, false],
    ["$gt number vs string is false", { "data.duration_ms": { $gt: "1" } }, false],
    ["$lt number vs string is false", { "data.duration_ms": { $lt: "z" } }, false],
    ["$gt string vs number is false", { "data.status": { $gt: 0 } }, false],
    ["$gt on null is false", { "data.nothing": { $gt: 0 } }, false],
    ["$lt on a missing field is false", { "data.missing": { $lt: 10 } }, false],
    ["$gte on an array is false", { "data.tags": { $gte: 0 } }, false],
    ["range: $gt and $lt together", { "data.duration_ms": { $gt: 60_000, $lt: 120_000 } }, true],
    ["range: one side fails", { "data.duration_ms": { $gt: 60_000, $lt: 80_000 } }, false],
    ["$in hit", { type: { $in: ["workflow.failed", "workflow.completed"] } }, true],
    ["$in miss", { type: { $in: ["workflow.failed"] } }, false],
    ["$in deep-equal item", { "data.outputs.nested": { $in: [{ a: [1, 2] }] } }, true],
    ["$in on a missing field", { "data.missing": { $in: [null] } }, false],
    ["$in empty list", { type: { $in: [] } }, false],
    ["$nin miss", { type: { $nin: ["workflow.failed"] } }, true],
    ["$nin hit", { type: { $nin: ["workflow.completed"] } }, false],
    ["$nin on a missing field", { "data.missing": { $nin: ["x"] } }, true],
    ["$exists true, present", { "data.execution_id": { $exists: true } }, true],
    ["$exists true, null counts as present", { "data.nothing": { $exists: true } }, true],
    ["$exists true, missing", { "data.missing": { $exists: true } }, false],
    ["$exists false, missing", { "data.missing": { $exists: false } }, true],
    ["$exists false, present", { "data.flag": { $exists: false } }, false],
    ["$exists is own-only", { "data.outputs.toString": { $exists: true } }, false],
    ["$contains substring", { "data.message.content": { $contains: "World" } }, true],
    ["$contains is case-sensitive", { "data.message.content": { $contains: "world" } }, false],
    ["$contains empty substring", { "data.message.content": { $contains: "" } }, true],
    ["$contains array element", { "data.tags": { $contains: "eu" } }, true],
    ["$contains array deep element", { "data.tags": { $contains: { team: "ml" } } }, true],
    ["$contains array, no such element", { "data.tags": { $contains: "us" } }, false],
    ["$contains not a substring of an element", { "data.tags": { $contains: "pro" } }, false],
    ["$contains number in a string is false", { "data.status": { $contains: 1 } }, false],
    ["$contains on a number is false", { "data.duration_ms": { $contains: 9 } }, false],
    ["$contains on a missing field", { "data.missing": { $contains: "x" } }, false],
    ["array index path", { "data.tags.1": "eu" }, true],
    ["several keys are ANDed", { type: "workflow.completed", "data.status": "ok" }, true],
    ["several keys, one fails", { type: "workflow.completed", "data.status": "bad" }, false],
    ["$and all", { $and: [{ type: "workflow.completed" }, { "data.duration_ms": { $gt: 1 } }] }, true],
    ["$and one fails", { $and: [{ type: "workflow.completed" }, { "data.duration_ms": { $gt: 1e9 } }] }, false],
    ["$or one", { $or: [{ type: "workflow.failed" }, { "data.duration_ms": { $gt: 1 } }] }, true],
    ["$or none", { $or: [{ type: "workflow.failed" }, { "data.duration_ms": { $gt: 1e9 } }] }, false],
    ["$not", { $not: { type: "workflow.failed" } }, true],
    ["$not of a match", { $not: { type: "workflow.completed" } }, false],
    ["$not of the empty filter", { $not: {} }, false],
    ["$not $ne on a missing field", { $not: { "data.missing": { $ne: 1 } } }, false],
    ["nested logic", { $or: [{ $and: [{ "data.status": "ok" }, { $not: { "data.flag": true } }] }, { type: "x" }], account_id: "acc_1" }, true],
  ])("%s", (_name, filter, expected) => {
    expect(filterErrors(filter)).toEqual([]);
    expect(matchesFilter(filter, payload)).toBe(expected);
    expect(matchesFilter({ $not: filter }, payload)).toBe(!expected);
  });

  test.each<[string, unknown]>([
    ["null payload", null],
    ["string payload", "workflow.completed"],
    ["array payload", [payload]],
    ["null data", { ...payload, data: null }],
    ["null-prototype payload", Object.assign(Object.create(null), { type: "x" })],
  ])("odd payloads never throw: %s", (_name, odd) => {
    expect(matchesFilter({ "data.x": { $ne: 1 } }, odd)).toBe(true);
    expect(matchesFilter({ "data.x": { $exists: true } }, odd)).toBe(false);
  });

  test("an invalid filter never matches by accident and never throws", () => {
    expect(matchesFilter({ "data.status": { $gtt: 1 } } as Filter, payload)).toBe(false);
    expect(matchesFilter({ $where: "1" } as Filter, payload)).toBe(false);
    expect(matchesFilter({ $and: "nope" } as Filter, payload)).toBe(false);
    expect(matchesFilter(null as unknown as Filter, payload)).toBe(false);
  });
});

describe("filterErrors", () => {
  test.each<[string, Filter]>([
    ["empty", {}],
    ["spec example", { "data.duration_ms": { $gt: 60000 } }],
    [
      "every operator",
      {
        "data.a": { $eq: { x: [1, null] }, $ne: 1, $gt: 1, $gte: "a", $lt: 2, $lte: "b" },
        "data.b": { $in: [1, "a", null, { x: 1 }], $nin: [], $exists: false, $contains: "x" },
      },
    ],
    ["logic", { $and: [{ a: 1 }], $or: [{ b: 2 }, { $not: { c: 3 } }] }],
    ["literal object value", { "data.outputs": { answer: 42 } }],
    ["depth 8", nest(8)],
  ])("accepts %s", (_name, filter) => {
    expect(filterErrors(filter)).toEqual([]);
  });

  test.each<[string, unknown, string]>([
    ["not an object", [], "filter: must be an object"],
    ["null", null, "filter: must be an object"],
    ["unknown top-level operator", { $gtt: 1 }, "filter: unknown operator $gtt"],
    ["unknown operator inside $and", { $and: [{ a: 1 }, { $gtt: 1 }] }, "filter.$and[1]: unknown operator $gtt"],
    ["unknown field operator", { "data.x": { $gtt: 1 } }, 'filter["data.x"]: unknown operator $gtt'],
    ["field operator at filter level", { $gt: 1 }, 'filter: $gt applies to a field, e.g. {"data.duration_ms": {"$gt": …}}'],
    ["logical operator inside a field", { "data.x": { $not: { $eq: 1 } } }, 'filter["data.x"]: $not combines filters'],
    ["$and not an array", { $and: { a: 1 } }, "filter.$and: must be a non-empty array of filters"],
    ["$or empty", { $or: [] }, "filter.$or: must be a non-empty array of filters"],
    ["$and item not an object", { $and: [1] }, "filter.$and[0]: must be an object"],
    ["$not not an object", { $not: [{ a: 1 }] }, "filter.$not: must be an object"],
    ["bad field path", { "data..x": 1 }, 'filter["data..x"]: invalid field path: segment 2 is empty'],
    ["reserved field path", { "data.__proto__": 1 }, 'filter["data.__proto__"]: invalid field path: segment "__proto__" is reserved'],
    ["field path with a space", { "data.my field": 1 }, 'filter["data.my field"]: invalid field path'],
    ["$gt with a boolean", { "data.x": { $gt: true } }, 'filter["data.x"].$gt: must be a number or a string'],
    ["$lte with null", { "data.x": { $lte: null } }, 'filter["data.x"].$lte: must be a number or a string'],
    ["$gte with an object", { "data.x": { $gte: {} } }, 'filter["data.x"].$gte: must be a number or a string'],
    ["$lt with Infinity", { "data.x": { $lt: Infinity } }, 'filter["data.x"].$lt: must be a number or a string'],
    ["$in not an array", { "data.x": { $in: "a" } }, 'filter["data.x"].$in: must be an array'],
    ["$nin not an array", { "data.x": { $nin: 1 } }, 'filter["data.x"].$nin: must be an array'],
    ["$in too long", { "data.x": { $in: Array.from({ length: 101 }, (_, i) => i) } }, 'filter["data.x"].$in: must hold at most 100 items'],
    ["$exists not boolean", { "data.x": { $exists: 1 } }, 'filter["data.x"].$exists: must be true or false'],
    ["mixed operator and key", { "data.x": { $eq: 1, y: 2 } }, 'filter["data.x"]: "y" cannot sit beside operators'],
    ["undefined literal", { "data.x": undefined }, 'filter["data.x"]: must be a JSON value'],
    ["NaN in $eq", { "data.x": { $eq: NaN } }, 'filter["data.x"].$eq: must be a finite number'],
    ["function in $in", { "data.x": { $in: [1, () => 1] } }, 'filter["data.x"].$in[1]: must be a JSON value'],
    ["too deep", nest(9), "nested too deeply (at most 8 levels of $and, $or and $not)"],
    ["too deep a literal", { "data.x": deepLiteral(40) }, 'filter["data.x"]: value nested too deeply'],
    ["too many conditions", manyConditions(101), "filter: has 101 conditions; at most 100 are allowed"],
    ["$and too long", { $and: Array.from({ length: 101 }, () => ({})) }, "filter.$and: must hold at most 100 filters"],
  ])("rejects %s", (_name, filter, message) => {
    const errors = filterErrors(filter);
    expect(
      errors.some((e) => e.includes(message)),
      `${JSON.stringify(errors)} should mention ${message}`,
    ).toBe(true);
  });

  test("exactly 100 conditions is fine", () => {
    expect(filterErrors(manyConditions(100))).toEqual([]);
    // Each logical operator counts too.
    expect(filterErrors({ $and: [manyConditions(99)] })).toEqual([]);
    expect(filterErrors({ $and: [manyConditions(100)] })).toHaveLength(1);
  });

  test("reports every problem, up to a cap", () => {
    const several = filterErrors({ $and: [{ $x: 1 }, { "a..b": { $gt: [] } }] });
    expect(several).toEqual([
      "filter.$and[0]: unknown operator $x",
      'filter.$and[1]["a..b"]: invalid field path: segment 2 is empty (paths look like "data.message.content")',
      'filter.$and[1]["a..b"].$gt: must be a number or a string',
    ]);
    const flood = filterErrors(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`$bad${i}`, 1])));
    expect(flood).toHaveLength(FILTER_LIMITS.reportedErrors + 1);
    expect(flood.at(-1)).toBe("filter: 30 more problem(s) not shown");
  });

  test("property: never throws, always a list of strings", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withObjectString: true }), (value) => {
        const errors = filterErrors(value);
        expect(Array.isArray(errors) && errors.every((e) => typeof e === "string")).toBe(true);
      }),
    );
  });
});

describe("matchesFilter: properties", () => {
  const fields = ["type", "data.n", "data.s", "data.list", "data.obj", "data.obj.k", "data.list.0", "data.missing"];
  const scalar = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom("", "a", "b", "ab", "workflow.completed"), fc.boolean(), fc.constant(null));
  const value: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 4, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.record({ k: scalar }, { requiredKeys: [] }) },
  );
  const operatorArg = (op: string): fc.Arbitrary<unknown> => {
    switch (op) {
      case "$gt":
      case "$gte":
      case "$lt":
      case "$lte":
        return fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom("", "a", "b"));
      case "$in":
      case "$nin":
        return fc.array(value, { maxLength: 3 });
      case "$exists":
        return fc.boolean();
      default:
        return value;
    }
  };
  const ops = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"];
  const operatorObject = fc
    .uniqueArray(fc.constantFrom(...ops), { minLength: 1, maxLength: 2 })
    .chain((chosen) => fc.tuple(...chosen.map((op) => operatorArg(op).map((arg) => [op, arg] as const))))
    .map((entries) => Object.fromEntries(entries));
  // A literal shorthand must not look like an operator object, which the generated values never do.
  const leaf = fc.tuple(fc.constantFrom(...fields), fc.oneof(value, operatorObject)).map(([field, condition]) => ({ [field]: condition }) as Filter);

  const { filter } = fc.letrec<{ filter: Filter }>((tie) => ({
    filter: fc.oneof(
      { depthSize: "small", maxDepth: 3 },
      leaf,
      fc.constant({}),
      fc.array(tie("filter"), { minLength: 1, maxLength: 3 }).map((items) => ({ $and: items })),
      fc.array(tie("filter"), { minLength: 1, maxLength: 3 }).map((items) => ({ $or: items })),
      tie("filter").map((inner) => ({ $not: inner })),
      fc.tuple(leaf, leaf).map(([a, b]) => ({ ...a, ...b })),
    ),
  }));

  const eventPayload = fc.record({
    id: fc.constant("evt_1"),
    type: fc.constantFrom("workflow.completed", "a", "b"),
    timestamp: fc.constant("2026-11-27T09:00:00.000Z"),
    account_id: fc.constant("acc_1"),
    data: fc.record({ n: value, s: value, list: value, obj: value }, { requiredKeys: [] }),
  });

  test("property: generated filters are valid", () => {
    fc.assert(
      fc.property(filter, (f) => {
        expect(filterErrors(f)).toEqual([]);
      }),
    );
  });

  test("the generators reach both outcomes, so the properties below test something", () => {
    const outcomes = new Set(fc.sample(fc.tuple(filter, eventPayload), 300).map(([f, p]) => matchesFilter(f, p)));
    expect(outcomes).toEqual(new Set([true, false]));
  });

  test("property: F and {$not: F} never both match and never both fail", () => {
    fc.assert(
      fc.property(filter, eventPayload, (f, p) => {
        expect(matchesFilter({ $not: f }, p)).toBe(!matchesFilter(f, p));
      }),
      { numRuns: 500 },
    );
  });

  test("property: the same holds for arbitrary JSON and non-JSON payloads", () => {
    fc.assert(
      fc.property(filter, fc.oneof(fc.jsonValue(), fc.anything({ withNullPrototype: true, withObjectString: true })), (f, p) => {
        expect(matchesFilter({ $not: f }, p)).toBe(!matchesFilter(f, p));
      }),
    );
  });

  test("property: $ne is the negation of $eq, $nin of $in", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), value, fc.array(value, { maxLength: 3 }), eventPayload, (field, v, list, p) => {
        expect(matchesFilter({ [field]: { $ne: v } }, p)).toBe(!matchesFilter({ [field]: { $eq: v } }, p));
        expect(matchesFilter({ [field]: { $nin: list } }, p)).toBe(!matchesFilter({ [field]: { $in: list } }, p));
      }),
    );
  });

  test("property: $and and $or agree with every/some", () => {
    fc.assert(
      fc.property(fc.array(filter, { minLength: 1, maxLength: 4 }), eventPayload, (items, p) => {
        const each = items.map((f) => matchesFilter(f, p));
        expect(matchesFilter({ $and: items }, p)).toBe(each.every(Boolean));
        expect(matchesFilter({ $or: items }, p)).toBe(each.some(Boolean));
      }),
    );
  });

  test("property: never throws, whatever the filter or payload", () => {
    fc.assert(
      fc.property(
        fc.oneof(filter, fc.anything({ withNullPrototype: true }) as fc.Arbitrary<Filter>),
        fc.anything({ withNullPrototype: true, withObjectString: true, withMap: true, withSet: true }),
        (f, p) => {
          expect(typeof matchesFilter(f, p)).toBe("boolean");
        },
      ),
    );
  });
});

/** A filter whose $not chain reaches `levels` levels, counting the top. */
function nest(levels: number): Filter {
  let f: Filter = { "data.x": 1 };
  for (let i = 1; i < levels; i++) f = { $not: f };
  return f;
}

function deepLiteral(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

function manyConditions(n: number): Filter {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`data.f${i}`, i]));
}

describe("__proto__, constructor and prototype as filter keys", () => {
  // As the API receives them: JSON text, where "__proto__" is an own key like any other.
  test.each([
    ['{"__proto__": {"data.duration_ms": {"$gt": 60000}}}', "__proto__"],
    ['{"constructor": {"$exists": true}}', "constructor"],
    ['{"prototype": 1}', "prototype"],
    ['{"data.x": 1, "__proto__": {"$eq": 1}}', "__proto__"],
    ['{"$and": [{"data.x": 1}, {"__proto__": 1}]}', "__proto__"],
    ['{"$not": {"constructor": 1}}', "constructor"],
    ['{"data.constructor.prototype": 1}', "constructor"],
  ])("%s is refused, naming %s", (json, key) => {
    const parsed = FilterSchema.parse(JSON.parse(json));
    expect(filterErrors(parsed).some((e) => e.includes(`segment "${key}" is reserved`))).toBe(true);
  });

  test("the schema keeps the filter exactly as sent: no key vanishes into a prototype", () => {
    const parsed = FilterSchema.parse(JSON.parse('{"__proto__": {"data.x": 1}, "data.y": 2}'));
    expect(Object.keys(parsed!)).toEqual(["__proto__", "data.y"]);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(FilterSchema.parse(null)).toBeNull();
    expect(FilterSchema.safeParse([1]).success).toBe(false);
  });
});
