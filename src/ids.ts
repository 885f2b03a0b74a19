const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32, as ULIDs use

type IdPrefix = "acc" | "key" | "wh" | "evt" | "dlv" | "bat" | "rly";

let lastTime = 0;
let lastRandom: number[] = [];

/**
 * A prefixed, time-sortable id (`evt_01JD…`): 10 characters of millisecond time then 16 of randomness, like a
 * ULID. Within one millisecond the random part is incremented, so ids made by one isolate sort in creation order.
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  const time = timePart(now);
  if (now === lastTime) {
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      if (lastRandom[i] < 31) {
        lastRandom[i]++;
        break;
      }
      lastRandom[i] = 0;
    }
  } else {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    lastRandom = Array.from(bytes, (b) => b % 32);
    lastRandom[0] &= 0x0f; // headroom so increments within a millisecond never wrap
    lastTime = now;
  }
  return `${prefix}_${time}${lastRandom.map((n) => ALPHABET[n]).join("")}`;
}

/**
 * The smallest id `newId(prefix, ms)` can make: every id made in that millisecond or later sorts at or after it,
 * every id made earlier sorts before it. So "created at or after ms" is `id >= idAtTime(prefix, ms)`, an index range.
 */
export function idAtTime(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${timePart(ms)}${ALPHABET[0].repeat(16)}`;
}

/** A millisecond time as 10 characters of Crockford base32, most significant first (sorts as the time does). */
function timePart(ms: number): string {
  let time = "";
  let t = Math.max(0, Math.floor(ms));
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
}
