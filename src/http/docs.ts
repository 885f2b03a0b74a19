import { html, raw } from "hono/html";

type OpenApiDoc = {
  info: { title: string; version: string; description?: string };
  paths?: Record<
    string,
    Record<
      string,
      { summary?: string; description?: string; security?: unknown[]; requestBody?: unknown; responses?: Record<string, { description?: string }> }
    >
  >;
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** A self-contained page that reads the OpenAPI document (no CDN: the Worker serves everything it shows). */
export function docsPage(doc: OpenApiDoc) {
  const ops = Object.entries(doc.paths ?? {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
  );
  const rows = ops
    .map(
      ({ path, method, op }) => `<section class="op">
  <h2><span class="m m-${method.toLowerCase()}">${method}</span> <code>${escapeHtml(path)}</code></h2>
  <p><strong>${escapeHtml(op.summary ?? "")}</strong>${op.security ? ' <span class="auth">bearer token</span>' : ""}</p>
  ${op.description ? `<p>${escapeHtml(op.description)}</p>` : ""}
  <details><summary>Request and responses</summary><pre>${escapeHtml(JSON.stringify({ requestBody: op.requestBody, responses: op.responses }, null, 2))}</pre></details>
</section>`,
    )
    .join("\n");
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${doc.info.title} API</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:960px;margin:0 auto;padding:1rem;color:#1a1a1a}
.op{border-top:1px solid #ddd;padding:.5rem 0}.m{display:inline-block;min-width:4.5em;font-size:.8em;padding:.1em .4em;border-radius:4px;color:#fff;background:#444;text-align:center}
.m-get{background:#0b6e4f}.m-post{background:#1f4e9c}.m-patch{background:#8a5a00}.m-delete{background:#a11}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.85em}.auth{font-size:.8em;color:#555}
</style>
</head>
<body>
<h1>${doc.info.title} <small>v${doc.info.version}</small></h1>
<p>${doc.info.description ?? ""} The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>
${raw(rows)}
</body></html>`;
}
