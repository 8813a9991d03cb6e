// HTML for the dashboard: escaping, the page shell with its inline stylesheet (no external assets, no
// script), and the headers every answer carries (CSP with a per-answer style nonce, no framing, no
// caching, no referrer to other sites).

import { escapeHtml } from "../_shared/html.ts";

/** Escapes text for HTML content and attribute values. */
export const h = escapeHtml;

/** A fragment already escaped (built with h()). */
export type Html = { html: string };
export const raw = (html: string): Html => ({ html });

/** Tagged template that escapes every interpolation except Html fragments and arrays of them. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return raw(out);
}

function render(v: unknown): string {
  if (Array.isArray(v)) return v.map(render).join("");
  if (v && typeof v === "object" && "html" in v) return (v as Html).html;
  if (v === null || v === undefined || v === false) return "";
  return h(v);
}

const CSS = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#f5f7fa;--card:#fff;--bad:#b42318;--warn:#a15c00;--ok:#05603a;--accent:#2747b0}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:break-word}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;background:var(--fg);color:#fff}
header h1{font-size:1.1rem;margin:0}
header form{margin:0}
main{max-width:1200px;margin:0 auto;padding:1rem}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1rem}
h2{font-size:1.05rem;margin:0 0 .75rem}
h3{font-size:.95rem;margin:1rem 0 .5rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:.75rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.6rem .75rem}
.card b{display:block;font-size:1.3rem}
.muted{color:var(--muted)}
.bad{color:var(--bad);font-weight:600}
.warn{color:var(--warn);font-weight:600}
.ok{color:var(--ok);font-weight:600}
.notice{border-left:4px solid var(--ok);background:#ecfdf3;padding:.6rem .75rem;margin:0 0 1rem;border-radius:4px}
.error{border-left:4px solid var(--bad);background:#fef3f2;padding:.6rem .75rem;margin:0 0 1rem;border-radius:4px}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:600}
code{font-size:.85em;background:var(--bg);padding:0 .2em;border-radius:3px;word-break:break-all}
details{margin:.25rem 0}
summary{cursor:pointer;color:var(--accent)}
form.action{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.4rem 0}
input,select,textarea,button{font:inherit;max-width:100%}
input[type=text],input[type=search],textarea{padding:.35rem .5rem;border:1px solid var(--line);border-radius:4px;min-width:0;flex:1 1 12rem}
select{padding:.3rem;border:1px solid var(--line);border-radius:4px}
textarea{width:100%;min-height:6rem}
button{padding:.35rem .8rem;border:1px solid var(--accent);border-radius:4px;background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--accent)}
header button{background:transparent;border-color:#fff}
nav{display:flex;flex-wrap:wrap;gap:.25rem .75rem;font-size:.9rem;margin:0 0 1rem}
nav a{color:var(--accent)}
@media (max-width:700px){
  main{padding:.5rem}
  section{padding:.75rem}
  table,thead,tbody,tr,th,td{display:block}
  thead{display:none}
  tr{border:1px solid var(--line);border-radius:6px;margin:0 0 .5rem;padding:.25rem .5rem}
  td{border:0;padding:.2rem 0}
  td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-weight:600}
}
`;

/** The headers of every HTML answer. */
export function securityHeaders(nonce: string): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; ` +
      "frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    // not no-referrer: under it Chromium sends `Origin: null` with the page's own form posts, which the
    // origin check must refuse; same-origin sends nothing to other sites and the origin to this one
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  };
}

/** A whole page: title, optional header extras (sign-out), body. */
export function page(opts: { title: string; header?: Html; body: Html; status?: number; headers?: HeadersInit }) {
  const nonce = crypto.randomUUID().replace(/-/g, "");
  const doc = html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex">
        <title>${opts.title}</title>
        <style nonce="${nonce}">${raw(CSS)}</style>
      </head>
      <body>
        <header><h1>${opts.title}</h1>${opts.header}</header>
        <main>${opts.body}</main>
      </body>
    </html>
  `;
  const headers = new Headers(securityHeaders(nonce));
  for (const [k, v] of new Headers(opts.headers)) headers.append(k, v);
  return new Response(doc.html, { status: opts.status ?? 200, headers });
}

/** 303 See Other: after a form post the browser GETs the page, so nothing posted stays in history. */
export function seeOther(location: string, headers: Record<string, string> = {}) {
  return new Response(null, {
    status: 303,
    headers: { location, "cache-control": "no-store", "referrer-policy": "same-origin", ...headers },
  });
}
