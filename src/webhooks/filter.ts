import { z } from "@hono/zod-openapi";
import { getPath, pathError } from "./paths";

/** A payload condition, MongoDB-like: `{"data.duration_ms": {"$gt": 60000}, "$or": [...]}`. */
export type Filter = Record<string, unknown>;

/**
 * A webhook's filter as the API reads it (null for none): the JSON object exactly as sent, checked by filterErrors.
 * Not zod's record: that rebuilds the object key by key, and assigning "__proto__" sets a prototype instead of making
 * a key, so `{"__proto__": {…}}` came out as `{}`, a filter that matched every event. Kept as sent, it is refused.
 */
export const FilterSchema = z
  .custom<Filter>((value) => isPlainObject(value), { message: "must be an object" })
  .nullable()
  .openapi({ type: ["object", "null"], additionalProperties: {}, example: { "data.duration_ms": { $gt: 60000 } } });

/** Bounds on a filter, so matching one against every ingested event stays cheap. */
export const FILTER_LIMITS = {
  /** Nesting of filter objects through $and, $or and $not; the top level is 1. */
  depth: 8,
  /** Field comparisons plus logical operators, over the whole filter. */
  conditions: 100,
  /** Items in one $in/$nin list, and filters in one $and/$or. */
  listItems: 100,
  /** Nesting inside a literal compared with $eq/$ne/$in/$nin/$contains. */
  valueDepth: 32,
  /** Problems reported at once; past this the answer would only grow, not help. */
  reportedErrors: 20,
} as const;

const FIELD_OPERATORS = new Set(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"]);
const LOGICAL_OPERATORS = new Set(["$and", "$or", "$not"]);

/** Validates a filter; returns a list of problems naming where (e.g. `filter.$and[1]: unknown operator $gtt`), empty when valid. Limits: depth ≤ 8, ≤ 100 conditions in all, $in/$nin arrays ≤ 100 items. Field keys are dotted paths validated with pathError from ./paths. */
export function filterErrors(filter: unknown): string[] {
  const state: ValidationState = { errors: [], dropped: 0, conditions: 0 };
  validateFilter(filter, "filter", 1, state);
  if (state.conditions > FILTER_LIMITS.conditions) {
    state.errors.unshift(`filter: has ${state.conditions} conditions; at most ${FILTER_LIMITS.conditions} are allowed`);
  }
  if (state.dropped > 0) state.errors.push(`filter: ${state.dropped} more problem(s) not shown`);
  return state.errors;
}

/**
 * Evaluates a (valid) filter against a payload {id,type,timestamp,account_id,data}. Never throws.
 *
 * Every node evaluates to a plain boolean and `$not` is exactly its negation, so `{$not: F}` matches precisely
 * when F does not. That is why nothing "fails" part-way: a missing field makes $ne/$nin true and every other
 * operator false (as in MongoDB), and an operator this code does not know is simply false, never an error.
 */
export function matchesFilter(filter: Filter, payload: unknown): boolean {
  try {
    return evaluateFilter(filter, payload);
  } catch {
    // Only reachable for inputs no valid filter and JSON payload produce (e.g. a stack overflow on an unchecked
    // filter); not matching is the safe answer for a dispatcher.
    return false;
  }
}

interface ValidationState {
  errors: string[];
  dropped: number;
  conditions: number;
}

function report(state: ValidationState, message: string): void {
  if (state.errors.length < FILTER_LIMITS.reportedErrors) state.errors.push(message);
  else state.dropped++;
}

function validateFilter(node: unknown, where: string, depth: number, state: ValidationState): void {
  if (!isPlainObject(node)) {
    report(state, `${where}: must be an object`);
    return;
  }
  if (depth > FILTER_LIMITS.depth) {
    report(state, `${where}: nested too deeply (at most ${FILTER_LIMITS.depth} levels of $and, $or and $not)`);
    return;
  }
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (key === "$and" || key === "$or") {
      state.conditions++;
      if (!Array.isArray(value) || value.length === 0) {
        report(state, `${where}.${key}: must be a non-empty array of filters`);
      } else if (value.length > FILTER_LIMITS.listItems) {
        report(state, `${where}.${key}: must hold at most ${FILTER_LIMITS.listItems} filters`);
      } else {
        value.forEach((item, i) => {
          validateFilter(item, `${where}.${key}[${i}]`, depth + 1, state);
        });
      }
    } else if (key === "$not") {
      state.conditions++;
      validateFilter(value, `${where}.$not`, depth + 1, state);
    } else if (FIELD_OPERATORS.has(key)) {
      report(state, `${where}: ${key} applies to a field, e.g. {"data.duration_ms": {"${key}": …}}`);
    } else if (key.startsWith("$")) {
      report(state, `${where}: unknown operator ${key}`);
    } else {
      const fieldWhere = `${where}[${JSON.stringify(key)}]`;
      const problem = pathError(key);
      if (problem) report(state, `${fieldWhere}: invalid field path: ${problem}`);
      validateCondition(value, fieldWhere, state);
    }
  }
}

function validateCondition(condition: unknown, where: string, state: ValidationState): void {
  if (!isOperatorObject(condition)) {
    state.conditions++;
    const problem = jsonValueError(condition, 0);
    if (problem) report(state, `${where}: ${problem}`);
    return;
  }
  for (const op of Object.keys(condition)) {
    const arg = condition[op];
    const opWhere = `${where}.${op}`;
    if (!op.startsWith("$")) {
      report(state, `${where}: "${op}" cannot sit beside operators; to compare with an object use {"$eq": {…}}`);
      continue;
    }
    state.conditions++;
    switch (op) {
      case "$eq":
      case "$ne":
      case "$contains": {
        const problem = jsonValueError(arg, 0);
        if (problem) report(state, `${opWhere}: ${problem}`);
        break;
      }
      case "$gt":
      case "$gte":
      case "$lt":
      case "$lte":
        if (!(typeof arg === "string" || (typeof arg === "number" && Number.isFinite(arg)))) {
          report(state, `${opWhere}: must be a number or a string`);
        }
        break;
      case "$in":
      case "$nin":
        if (!Array.isArray(arg)) {
          report(state, `${opWhere}: must be an array`);
        } else if (arg.length > FILTER_LIMITS.listItems) {
          report(state, `${opWhere}: must hold at most ${FILTER_LIMITS.listItems} items`);
        } else {
          arg.forEach((item, i) => {
            const problem = jsonValueError(item, 1);
            if (problem) report(state, `${opWhere}[${i}]: ${problem}`);
          });
        }
        break;
      case "$exists":
        if (typeof arg !== "boolean") report(state, `${opWhere}: must be true or false`);
        break;
      default:
        report(
          state,
          LOGICAL_OPERATORS.has(op)
            ? `${where}: ${op} combines filters and belongs outside the field, e.g. {"$not": {"data.x": {"$eq": 1}}}`
            : `${where}: unknown operator ${op}`,
        );
    }
  }
}

/** Filters arrive as JSON, but this module also guards callers that build them in code. */
function jsonValueError(value: unknown, depth: number): string | null {
  if (depth > FILTER_LIMITS.valueDepth) return `value nested too deeply (at most ${FILTER_LIMITS.valueDepth} levels)`;
  if (value === null || typeof value === "string" || typeof value === "boolean") return null;
  if (typeof value === "number") return Number.isFinite(value) ? null : "must be a finite number";
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonValueError(item, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const problem = jsonValueError(value[key], depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  return "must be a JSON value";
}

function evaluateFilter(node: unknown, payload: unknown): boolean {
  if (!isPlainObject(node)) return false;
  for (const key of Object.keys(node)) {
    if (!evaluateEntry(key, node[key], payload)) return false;
  }
  return true;
}

function evaluateEntry(key: string, arg: unknown, payload: unknown): boolean {
  switch (key) {
    case "$and":
      return Array.isArray(arg) && arg.every((item) => evaluateFilter(item, payload));
    case "$or":
      return Array.isArray(arg) && arg.some((item) => evaluateFilter(item, payload));
    case "$not":
      return !evaluateFilter(arg, payload);
  }
  if (key.startsWith("$")) return false;
  const value = getPath(payload, key);
  if (!isOperatorObject(arg)) return evaluateOperator("$eq", arg, value);
  for (const op of Object.keys(arg)) {
    if (!evaluateOperator(op, arg[op], value)) return false;
  }
  return true;
}

/** `value` is undefined exactly when the field is absent: getPath yields only own data, and JSON has no undefined. */
function evaluateOperator(op: string, arg: unknown, value: unknown): boolean {
  switch (op) {
    case "$eq":
      return value !== undefined && deepEqual(value, arg);
    case "$ne":
      return !evaluateOperator("$eq", arg, value);
    case "$gt":
      return (compare(value, arg) ?? 0) > 0;
    case "$gte":
      return (compare(value, arg) ?? -1) >= 0;
    case "$lt":
      return (compare(value, arg) ?? 0) < 0;
    case "$lte":
      return (compare(value, arg) ?? 1) <= 0;
    case "$in":
      return value !== undefined && Array.isArray(arg) && arg.some((item) => deepEqual(value, item));
    case "$nin":
      return !evaluateOperator("$in", arg, value);
    case "$exists":
      return (value !== undefined) === (arg === true);
    case "$contains":
      if (typeof value === "string") return typeof arg === "string" && value.includes(arg);
      return Array.isArray(value) && value.some((item) => deepEqual(item, arg));
    default:
      return false;
  }
}

/**
 * The order of a against b, or null when they are not comparable: numbers with numbers and strings with strings
 * only (by UTF-16 code units, so ISO timestamps order correctly), since "10" > 9 would depend on JS coercion.
 */
function compare(a: unknown, b: unknown): number | null {
  if ((typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string")) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return null;
}

/** JSON equality: object key order does not matter, array order does. Recursion ends at the filter's (bounded) side. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  return aKeys.every((key) => Object.hasOwn(bRecord, key) && deepEqual(aRecord[key], bRecord[key]));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `{"$gt": 1}` is a condition, `{"a": 1}` or `{}` a literal to compare with; mixing the two is a validation error. */
function isOperatorObject(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.keys(value).some((key) => key.startsWith("$"));
}
