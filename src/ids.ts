const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32, as ULIDs use

let lastTime = 0;
let lastRandom: number[] = [];

/**
 * A prefixed, time-sortable id (`evt_01JD…`): 10 characters of millisecond time then 16 of randomness, like a
 * ULID. Within one millisecond the random part is incremented, so ids made by one isolate sort in creation order.
 */
export function newId(prefix: "acc" | "key" | "wh" | "evt" | "dlv" | "bat", now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
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
