/** The value that replaces a redacted payload path, both in what is sent and in what is logged. */
export const REDACTED = "[redacted]";

/** Limits on a dotted path, shared by filters, `redact` and `ordering_key`. */
export const PATH_LIMITS = { maxLength: 200, maxSegments: 20 } as const;

// These names reach the prototype chain (or a function's prototype object) rather than payload data. Refusing
// them outright, even when a JSON payload has them as own keys, means a customer-controlled path can never
// read or, through redact, write anything but plain data.
const RESERVED_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);
const SEGMENT = /^[A-Za-z0-9_-]+$/;
// Arrays are read by index only, so "items.length" is absent rather than a number the payload never held.
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Reads a dotted path ("data.message.content", "data.items.0.id") from a payload; undefined when absent. Never reads inherited properties (own properties only; "__proto__", "constructor", "prototype" segments return undefined). */
export function getPath(value: unknown, path: string): unknown {
  if (typeof path !== "string") return undefined;
  let current: unknown = value;
  for (const segment of path.split(".")) {
    const next = ownChild(current, segment);
    if (!next.found) return undefined;
    current = next.value;
  }
  return current;
}

/** A deep copy of payload with each path replaced by "[redacted]" where it exists (missing paths ignored). Does not mutate the input. */
export function redact<T>(payload: T, paths: readonly string[]): T {
  const copy = deepCopy(payload);
  for (const path of paths) {
    if (typeof path !== "string") continue;
    const segments = path.split(".");
    const last = segments.pop() as string;
    let parent: unknown = copy;
    for (const segment of segments) {
      const next = ownChild(parent, segment);
      parent = next.found ? next.value : undefined;
    }
    // ownChild already refused reserved names and non-index array keys, so this write only replaces data.
    if (ownChild(parent, last).found) (parent as Record<string, unknown>)[last] = REDACTED;
  }
  return copy as T;
}

/** Validates a dotted path: 1..20 segments of [A-Za-z0-9_-], total ≤ 200 chars; returns an error message or null. */
export function pathError(path: string): string | null {
  if (typeof path !== "string") return "must be a string";
  if (path.length === 0) return 'must not be empty (paths look like "data.message.content")';
  if (path.length > PATH_LIMITS.maxLength) return `must be at most ${PATH_LIMITS.maxLength} characters`;
  const segments = path.split(".");
  if (segments.length > PATH_LIMITS.maxSegments) return `must have at most ${PATH_LIMITS.maxSegments} segments`;
  for (const [i, segment] of segments.entries()) {
    if (segment === "") return `segment ${i + 1} is empty (paths look like "data.message.content")`;
    if (!SEGMENT.test(segment)) return `segment "${segment}" may contain only letters, digits, "_" and "-"`;
    // getPath would never find these, so a path using one could never match or redact anything.
    if (RESERVED_SEGMENTS.has(segment)) return `segment "${segment}" is reserved`;
  }
  return null;
}

/** An own data property of an object or array, without running getters or consulting the prototype. */
function ownChild(container: unknown, key: string): { found: false } | { found: true; value: unknown } {
  if (typeof container !== "object" || container === null || RESERVED_SEGMENTS.has(key)) return { found: false };
  if (Array.isArray(container) && !ARRAY_INDEX.test(key)) return { found: false };
  const descriptor = Object.getOwnPropertyDescriptor(container, key);
  return descriptor && "value" in descriptor ? { found: true, value: descriptor.value } : { found: false };
}

/**
 * Copies arrays and plain objects; anything else (primitives, and objects no JSON payload holds) is shared.
 * Iterative, so a deeply nested payload that JSON.parse accepted cannot overflow the stack here.
 */
function deepCopy(root: unknown): unknown {
  const copies = new Map<object, object>();
  const pending: Array<[object, object]> = [];
  const copyOf = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value;
    const known = copies.get(value);
    if (known) return known;
    let copy: object;
    if (Array.isArray(value)) copy = new Array(value.length);
    else if (isPlainObject(value)) copy = Object.create(Object.getPrototypeOf(value)) as object;
    else return value;
    copies.set(value, copy);
    pending.push([value, copy]);
    return copy;
  };
  const result = copyOf(root);
  for (let item = pending.pop(); item; item = pending.pop()) {
    const [source, target] = item;
    for (const key of Object.keys(source)) {
      // defineProperty, not assignment: an own "__proto__" key from JSON.parse must stay a plain data key.
      Object.defineProperty(target, key, {
        value: copyOf((source as Record<string, unknown>)[key]),
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
  }
  return result;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
