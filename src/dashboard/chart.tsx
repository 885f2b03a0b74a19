import type { HourBucket } from "./chart-data";

// Two small inline-SVG charts over the last 24 hours. Each has a text alternative (title and description), each
// bar and point its own tooltip, and the numbers are also offered as a table, so nothing depends on seeing colour.

// A narrow drawing scaled to the width available keeps its labels legible from phone to desktop.
const W = 480;
const H = 130;
const LEFT = 52;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 26;
const PLOT_W = W - LEFT - RIGHT;
const PLOT_H = H - TOP - BOTTOM;
const SLOT = PLOT_W / 24;

const hourLabel = (ms: number) => `${new Date(ms).toISOString().slice(11, 13)}:00`;
const pct = (r: number) => `${Math.round(r * 1000) / 10}%`;

/** Milliseconds in a short human form. */
export function fmtMs(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 6000) / 10} min`;
  return `${Math.round(ms / 360_000) / 10} h`;
}

function XAxis(props: { buckets: HourBucket[] }) {
  return (
    <g font-size="12" fill="#59636e">
      <line x1={LEFT} y1={TOP + PLOT_H} x2={W - RIGHT} y2={TOP + PLOT_H} stroke="#8c959f" />
      {props.buckets.map((b, i) =>
        i % 6 === 0 || i === 23 ? (
          <text x={LEFT + i * SLOT + SLOT / 2} y={H - 7} text-anchor="middle">
            {hourLabel(b.start)}
          </text>
        ) : null,
      )}
    </g>
  );
}

function YLabel(props: { y: number; text: string }) {
  return (
    <g font-size="12" fill="#59636e">
      <line x1={LEFT} y1={props.y} x2={W - RIGHT} y2={props.y} stroke="#d1d9e0" stroke-dasharray="3 3" />
      <text x={LEFT - 6} y={props.y + 4} text-anchor="end">
        {props.text}
      </text>
    </g>
  );
}

/** Success rate per hour (bars) and median latency per hour (line), with the same numbers as a table. */
export function DeliveryCharts(props: { buckets: HourBucket[]; truncatedAt: number | null }) {
  const { buckets } = props;
  const rated = buckets.filter((b) => b.successRate !== null);
  const lat = buckets.filter((b) => b.p50 !== null).map((b) => b.p50 as number);
  const maxLat = Math.max(1, ...lat);
  // A round top for the latency axis, so its label reads as a plain number.
  const step = 10 ** Math.floor(Math.log10(maxLat));
  const top = Math.ceil(maxLat / step) * step;
  const points = buckets.map((b, i) => (b.p50 === null ? null : { x: LEFT + i * SLOT + SLOT / 2, y: TOP + PLOT_H - (b.p50 / top) * PLOT_H, b }));
  const segments: string[] = [];
  let run: string[] = [];
  for (const p of points) {
    if (p) run.push(`${p.x.toFixed(1)},${p.y.toFixed(1)}`);
    else if (run.length) {
      segments.push(run.join(" "));
      run = [];
    }
  }
  if (run.length) segments.push(run.join(" "));
  const worst = rated.length ? Math.min(...rated.map((b) => b.successRate as number)) : null;
  const rateDesc = rated.length
    ? `${rated.length} of 24 hours had finished deliveries; the lowest hourly success rate was ${pct(worst as number)}.`
    : "No deliveries finished in the last 24 hours.";
  const latDesc = lat.length
    ? `Hourly median latency ranged from ${fmtMs(Math.min(...lat))} to ${fmtMs(Math.max(...lat))}.`
    : "No deliveries succeeded in the last 24 hours.";

  return (
    <div>
      <h3>Success rate per hour</h3>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-rate-svg-title chart-rate-desc">
        <title id="chart-rate-svg-title">Success rate per hour, last 24 hours</title>
        <desc id="chart-rate-desc">{rateDesc}</desc>
        <YLabel y={TOP} text="100%" />
        <YLabel y={TOP + PLOT_H / 2} text="50%" />
        {buckets.map((b, i) => {
          if (b.successRate === null) return null;
          const h = Math.max(2, b.successRate * PLOT_H);
          const fill = b.successRate >= 0.95 ? "#1a7f37" : b.successRate >= 0.8 ? "#9a6700" : "#cf222e";
          return (
            <rect x={LEFT + i * SLOT + 2} y={TOP + PLOT_H - h} width={SLOT - 4} height={h} fill={fill}>
              <title>{`${hourLabel(b.start)} UTC: ${pct(b.successRate)} (${b.delivered} delivered, ${b.failed} failed)`}</title>
            </rect>
          );
        })}
        <XAxis buckets={buckets} />
      </svg>
      <h3>Median latency per hour</h3>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-latency-svg-title chart-latency-desc">
        <title id="chart-latency-svg-title">Median latency per hour, last 24 hours</title>
        <desc id="chart-latency-desc">{latDesc}</desc>
        <YLabel y={TOP} text={fmtMs(top)} />
        <YLabel y={TOP + PLOT_H / 2} text={fmtMs(top / 2)} />
        {segments.map((s) => (
          <polyline points={s} fill="none" stroke="#0b57d0" stroke-width="2" />
        ))}
        {points.map((p) =>
          p ? (
            <circle cx={p.x} cy={p.y} r="3.5" fill="#0b57d0">
              <title>{`${hourLabel(p.b.start)} UTC: median ${fmtMs(p.b.p50)} over ${p.b.delivered} delivered`}</title>
            </circle>
          ) : null,
        )}
        <XAxis buckets={buckets} />
      </svg>
      {props.truncatedAt !== null ? (
        <p class="small muted">The charts show the latest {props.truncatedAt.toLocaleString("en")} deliveries; the totals above count all of them.</p>
      ) : null}
      <details>
        <summary>Chart data as a table</summary>
        <section class="table-wrap" aria-label="Hourly delivery data" tabindex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Hour (UTC)</th>
                <th scope="col">Delivered</th>
                <th scope="col">Failed</th>
                <th scope="col">Success rate</th>
                <th scope="col">Median latency</th>
              </tr>
            </thead>
            <tbody>
              {buckets.map((b) => (
                <tr>
                  <th scope="row">{hourLabel(b.start)}</th>
                  <td>{b.delivered}</td>
                  <td>{b.failed}</td>
                  <td>{b.successRate === null ? "—" : pct(b.successRate)}</td>
                  <td>{fmtMs(b.p50)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </details>
    </div>
  );
}
