import type { Child } from "hono/jsx";

// Everything the pages share: the frame, the styles and the one small script (no external assets, nothing to
// build). The colours are chosen for at least 4.5:1 contrast on their backgrounds (WCAG AA), and every status
// is said in words as well as colour.

const STYLES = `
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;--accent:#0b57d0;--danger:#b3261e;--ok:#116329;--ok-bg:#dafbe1;--bad:#a40e26;--bad-bg:#ffebe9;--wait:#6b4b00;--wait-bg:#fff8c5}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--bg);padding:.5rem}.skip:focus{left:.5rem}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--soft)}
header.top .brand{font-weight:700;text-decoration:none;color:var(--fg)}
header.top nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}h2{font-size:1.25rem;margin:2rem 0 .75rem}h3{font-size:1.05rem;margin:1.25rem 0 .5rem}
.crumbs{font-size:.9rem;color:var(--muted);margin:0}.crumbs a{color:var(--muted)}
.muted{color:var(--muted)}.small{font-size:.875rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.75rem;overflow:auto;max-height:24rem;white-space:pre-wrap;overflow-wrap:anywhere}
.btn,button{display:inline-block;font:inherit;font-weight:600;padding:.45rem .9rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;line-height:1.4}
.btn.secondary,button.secondary{background:var(--bg);color:var(--accent)}
button.danger{background:var(--danger);border-color:var(--danger)}
button.link{background:none;border:none;color:var(--accent);padding:0;font-weight:400;text-decoration:underline}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:1rem 0}
.actions form{display:inline}
label{font-weight:600}
.field{margin:0 0 1rem}.field>label{display:block;margin-bottom:.25rem}
.hint{display:block;font-weight:400;font-size:.875rem;color:var(--muted)}.field>.hint{margin:-.15rem 0 .3rem}
input[type=text],input[type=url],input[type=number],input[type=password],select,textarea{font:inherit;width:100%;max-width:40rem;padding:.45rem .6rem;border:1px solid #8c959f;border-radius:6px;background:var(--bg);color:var(--fg)}
textarea{min-height:5rem;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
input[aria-invalid=true],textarea[aria-invalid=true],select[aria-invalid=true]{border:2px solid var(--danger)}
.field-error{color:var(--bad);font-weight:600;margin:.25rem 0 0}
fieldset{border:1px solid var(--line);border-radius:6px;margin:0 0 1rem;padding:.75rem 1rem}
legend{font-weight:700;padding:0 .25rem}
fieldset[aria-invalid=true]{border:2px solid var(--danger)}
.checks{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:.25rem 1rem}
.checks label{font-weight:400;display:flex;gap:.5rem;align-items:flex-start;padding:.2rem 0}
.checks input{margin-top:.3rem}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:0 1rem}
details{margin:1rem 0}summary{cursor:pointer;font-weight:600}
details.panel{border:1px solid var(--line);border-radius:6px;padding:.5rem 1rem}
.flash{border-radius:6px;padding:.75rem 1rem;margin:1rem 0;border:1px solid}
.flash.ok{background:var(--ok-bg);border-color:#4ac26b;color:var(--ok)}
.flash.error{background:var(--bad-bg);border-color:#ff8182;color:var(--bad)}
.flash.info{background:#ddf4ff;border-color:#54aeff;color:#0a3069}
.flash ul{margin:.25rem 0 0;padding-left:1.25rem}.flash a{color:inherit}
.badge{display:inline-block;font-size:.8rem;font-weight:700;padding:.1rem .5rem;border-radius:999px;background:#eef1f4;color:#3d444d;white-space:nowrap}
.badge.ok{background:var(--ok-bg);color:var(--ok)}.badge.bad{background:var(--bad-bg);color:var(--bad)}.badge.wait{background:var(--wait-bg);color:var(--wait)}
.cards{list-style:none;padding:0;margin:0;display:grid;gap:.75rem}
.card{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem}
.card h2,.card h3{margin:0 0 .25rem;font-size:1.05rem;overflow-wrap:anywhere}
.meta{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;margin:.25rem 0 0;font-size:.9rem}
dl.props{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.props dt{font-weight:600}dl.props dd{margin:0;overflow-wrap:anywhere}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);white-space:nowrap}tr:last-child td{border-bottom:none}
.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;margin:0 0 1rem}
.filters .field{margin:0}.filters select{width:auto}
.secret{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.secret code{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.45rem .6rem;overflow-wrap:anywhere;font-size:.95rem}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;margin:0 0 1rem;padding:0;list-style:none}
.stats li{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem}
.stats strong{display:block;font-size:1.3rem}
svg.chart{width:100%;height:auto;max-width:36rem;display:block}
.result{margin:0 0 1.5rem}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){main{padding:.75rem}dl.props{grid-template-columns:1fr}dl.props dd{margin-bottom:.5rem}h1{font-size:1.35rem}}
`;

// Progressive enhancement only: every page works without it. Copy buttons put the text of their target on the
// clipboard (falling back to selecting it where the Clipboard API is unavailable) and say so to screen readers;
// a form sent back with problems puts the focus on their summary.
const SCRIPT = `
document.addEventListener("click", async (e) => {
  const btn = e.target.closest("[data-copy]");
  if (!btn) return;
  const target = document.getElementById(btn.dataset.copy);
  const status = document.getElementById(btn.dataset.copy + "-status");
  const text = target ? (target.value ?? target.textContent) : "";
  let done = false;
  try { await navigator.clipboard.writeText(text); done = true; } catch {
    const range = document.createRange(); range.selectNodeContents(target);
    const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range);
    done = document.execCommand && document.execCommand("copy");
  }
  if (status) status.textContent = done ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.";
});
for (const el of document.querySelectorAll("[data-copy]")) el.hidden = false;
document.getElementById("form-errors")?.focus();
`;

/** The frame of every page. `signOut` carries the CSRF token when someone is signed in. */
export function Layout(props: { title: string; signedIn?: { csrf: string }; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        {/* An empty icon: without one the browser asks for /favicon.ico, which the API answers 404. */}
        <link rel="icon" href="data:," />
        <title>{`${props.title} · Webhooks · BroxiAI`}</title>
        <style dangerouslySetInnerHTML={{ __html: STYLES }} />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            BroxiAI · Settings → Webhooks
          </a>
          <nav aria-label="Account">
            <a href="/docs">API reference</a>
            {props.signedIn ? (
              <form method="post" action="/sign-out">
                <CsrfField token={props.signedIn.csrf} />
                <button type="submit" class="secondary">
                  Sign out
                </button>
              </form>
            ) : null}
          </nav>
        </header>
        <main id="main">{props.children}</main>
        <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
  );
}

/** The hidden field that carries the session's CSRF token in every form that changes something. */
export function CsrfField(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

/** A message at the top of a page: an outcome (status) or a problem (alert, read out at once). */
export function Flash(props: { kind: "ok" | "error" | "info"; children: Child }) {
  return (
    <div class={`flash ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

const STATUS_CLASS: Record<string, string> = { delivered: "ok", failed: "bad", pending: "wait", expired: "bad", cancelled: "" };

/** A delivery status, in words with a colour. */
export function StatusBadge(props: { status: string }) {
  return <span class={`badge ${STATUS_CLASS[props.status] ?? ""}`}>{props.status}</span>;
}

/** An HTTP status code with a badge colour for its class. */
export function CodeBadge(props: { code: number | null; error?: string | null }) {
  if (props.code === null) return <span class="badge bad">{props.error ? "no response" : "—"}</span>;
  const cls = props.code >= 200 && props.code < 300 ? "ok" : "bad";
  return <span class={`badge ${cls}`}>{props.code}</span>;
}

/** "3 min ago" for people, the exact UTC time on hover (or shown beside it with `exact`) and for machines. */
export function Time(props: { iso: string | null; now: number; exact?: boolean }) {
  if (!props.iso) return <span class="muted">—</span>;
  const exact = `${props.iso
    .replace("T", " ")
    .replace(/\.\d+Z$/, "")
    .replace("Z", "")} UTC`;
  const relative = ago(Date.parse(props.iso), props.now);
  return (
    <time datetime={props.iso} title={exact}>
      {props.exact ? `${exact} (${relative})` : relative}
    </time>
  );
}

/** A relative time in words. */
export function ago(then: number, now: number): string {
  const s = Math.round((now - then) / 1000);
  const future = s < 0;
  const a = Math.abs(s);
  const text =
    a < 5 ? "just now" : a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return text === "just now" ? text : future ? `in ${text}` : `${text} ago`;
}

/** A block of text with a copy button (the button appears only when the script runs). */
export function CopyBlock(props: { id: string; label: string; text: string; code?: boolean }) {
  return (
    <div>
      <div class="secret">
        {props.code === false ? <pre id={props.id}>{props.text}</pre> : <code id={props.id}>{props.text}</code>}
        <button type="button" class="secondary" data-copy={props.id} hidden>
          Copy<span class="vh"> {props.label}</span>
        </button>
      </div>
      <p id={`${props.id}-status`} class="small muted" aria-live="polite" />
    </div>
  );
}
