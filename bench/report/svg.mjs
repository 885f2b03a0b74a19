// The chart beside the results: the single-event path against the forward-only Worker (delivered/s, ingest latency
// under load, light-load latency) and batch-fed delivery, bars for medians over the rounds and whiskers for min–max.
import { writeFileSync } from "node:fs";
import { fmt } from "./lib.mjs";

const esc = (s) => String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const COLORS = { service: "#f38020", baseline: "#4a5568", service2: "#fbad41", baseline2: "#a0aec0" };

/** One panel of grouped bars with optional min–max whiskers and a dashed reference line. */
function panel({ x, y, w, h, title, unit, groups, series, ref }) {
  const out = [];
  const values = groups.flatMap((g) => g.bars.flatMap((b) => [b.value ?? 0, b.max ?? 0]));
  if (ref) values.push(ref.value);
  const top = niceMax(Math.max(1, ...values));
  const plotX = x + 46;
  const plotW = w - 56;
  const plotY = y + 40;
  const plotH = h - 100;
  const sy = (v) => plotY + plotH - (Math.max(0, v) / top) * plotH;
  out.push(`<text x="${x + w / 2}" y="${y + 18}" text-anchor="middle" font-size="14" font-weight="600">${esc(title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    const yy = sy(v);
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${yy}" y2="${yy}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${plotX - 6}" y="${yy + 4}" text-anchor="end" font-size="10" fill="#4a5568">${fmt(v)}</text>`);
  }
  out.push(`<text x="${x + 10}" y="${plotY - 8}" font-size="10" fill="#4a5568">${esc(unit)}</text>`);
  const gw = plotW / groups.length;
  groups.forEach((g, gi) => {
    const bw = Math.min(28, (gw - 14) / g.bars.length);
    const gx = plotX + gi * gw + (gw - bw * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      if (b.value === null || b.value === undefined) return;
      const bx = gx + bi * bw;
      const yy = sy(b.value);
      out.push(
        `<rect x="${bx + 1}" y="${yy}" width="${bw - 2}" height="${plotY + plotH - yy}" fill="${b.color}"><title>${esc(`${b.name}: ${fmt(b.value)} ${unit}`)}</title></rect>`,
      );
      if (b.min !== undefined && b.max !== undefined && b.min !== null && b.max !== null) {
        const cx = bx + bw / 2;
        out.push(`<line x1="${cx}" x2="${cx}" y1="${sy(b.min)}" y2="${sy(b.max)}" stroke="#1a202c" stroke-width="1"/>`);
        out.push(`<line x1="${cx - 3}" x2="${cx + 3}" y1="${sy(b.max)}" y2="${sy(b.max)}" stroke="#1a202c"/>`);
        out.push(`<line x1="${cx - 3}" x2="${cx + 3}" y1="${sy(b.min)}" y2="${sy(b.min)}" stroke="#1a202c"/>`);
      }
      out.push(`<text x="${bx + bw / 2}" y="${yy - 3}" text-anchor="middle" font-size="8" fill="#1a202c">${fmt(b.value)}</text>`);
    });
    out.push(`<text x="${plotX + gi * gw + gw / 2}" y="${plotY + plotH + 14}" text-anchor="middle" font-size="11">${esc(g.label)}</text>`);
  });
  if (ref) {
    const yy = sy(ref.value);
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${yy}" y2="${yy}" stroke="#c53030" stroke-dasharray="5 4"/>`);
    const ly = plotY + plotH + 38 + Math.ceil(series.length / 2) * 15;
    out.push(`<line x1="${x + 10}" x2="${x + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="#c53030" stroke-dasharray="3 2"/>`);
    out.push(`<text x="${x + 24}" y="${ly}" font-size="10" fill="#c53030">${esc(ref.label)}</text>`);
  }
  series.forEach((s, k) => {
    const lx = x + 10 + (k % 2) * (w / 2);
    const ly = plotY + plotH + 38 + Math.floor(k / 2) * 15;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly}" font-size="10">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const bar = (name, color, s) => ({ name, color, value: s?.median ?? null, min: s?.min, max: s?.max });

/** The chart, written to `file`. */
export function writeSvg(r, file) {
  const s = r.single ?? {};
  const panels = [];
  if (s.baseline) {
    const b = s.baseline.delivered_per_s?.median;
    panels.push({
      title: "Single events, 16 clients: delivered/s",
      unit: "per second",
      series: [
        { name: "forward-only Worker", color: COLORS.baseline },
        { name: "service", color: COLORS.service },
      ],
      groups: [
        ["baseline", "forward-only", COLORS.baseline],
        ["none", "1 none", COLORS.service],
        ["strict", "1 strict", COLORS.service],
        ["ten", "10 strict", COLORS.service],
      ].map(([k, label, color]) => ({ label, bars: [bar(label, color, s[k]?.delivered_per_s)] })),
      ref: b ? { value: b * 0.8, label: `target for 1 webhook: 0.8 × forward-only (${fmt(b * 0.8)}/s)` } : null,
    });
    panels.push({
      title: "Ingest latency under that load",
      unit: "ms",
      series: [
        { name: "forward-only Worker", color: COLORS.baseline },
        { name: "service, 1 webhook none", color: COLORS.service },
      ],
      groups: ["p50", "p99"].map((p) => ({
        label: p,
        bars: [bar("forward-only", COLORS.baseline, s.baseline[`ingest_${p}_ms`]), bar("service", COLORS.service, s.none?.[`ingest_${p}_ms`])],
      })),
    });
  }
  if (s.light) {
    panels.push({
      title: "Light load: send → receipt",
      unit: "ms",
      series: [
        { name: "forward-only Worker", color: COLORS.baseline },
        { name: "service", color: COLORS.service },
      ],
      groups: ["p50", "p95", "p99"].map((p) => ({
        label: p,
        bars: [bar("forward-only", COLORS.baseline, s.light.baseline?.[`sent_${p}`]), bar("service", COLORS.service, s.light.service?.[`sent_${p}`])],
      })),
    });
  }
  const bf = r.batchfed;
  if (bf?.baseline) {
    panels.push({
      title: "Batch-fed deliveries/s",
      unit: "per second",
      series: [
        { name: "baseline: forwards/s", color: COLORS.baseline2 },
        { name: "service: deliveries/s", color: COLORS.service2 },
      ],
      groups: [
        { label: "baseline", bars: [bar("baseline", COLORS.baseline2, bf.baseline.forwarded_per_s)] },
        ...[
          ["w1", "1"],
          ["w10", "10"],
          ["w100", "100"],
        ].map(([k, label]) => ({ label, bars: [bar(label, COLORS.service2, bf[k]?.delivered_per_s)] })),
      ],
    });
  }
  const W = 320 * Math.max(1, panels.length);
  const H = 440;
  const pw = W / Math.max(1, panels.length);
  const parts = panels.map((p, k) => panel({ ...p, x: k * pw, y: 30, w: pw, h: H - 40 }));
  const m = r.meta;
  const caption = `BroxiAI Webhooks benchmark, ${m.date?.slice(0, 16).replace("T", " ")} UTC, ${m.machine?.cores} cores, load avg ${m.machine?.load_average_before?.[0]}; bars are medians over rounds, whiskers min–max`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">
<rect width="${W}" height="${H}" fill="#ffffff"/>
<text x="12" y="20" font-size="12" fill="#4a5568">${esc(caption)}</text>
${parts.join("\n")}
</svg>
`;
  writeFileSync(file, svg);
}
