/**
 * @module openapi/html
 * GET /docs: the OpenAPI document rendered on the server into one self-contained HTML
 * page (inline CSS, no script, nothing fetched), so it reads the same offline, in local
 * dev and deployed. Schemas are shown as TypeScript-like types; named ones link to
 * their definitions at the end.
 */
type Json = Record<string, unknown>;

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch] ?? ch);

/** `code` spans in descriptions (`x`), escaped. */
const prose = (s: unknown) => (typeof s === "string" ? esc(s).replace(/`([^`]+)`/g, "<code>$1</code>") : "");

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Bounds and patterns worth showing beside a type. */
function constraints(s: Json): string {
  const parts: string[] = [];
  if (typeof s.minLength === "number") parts.push(`min length ${s.minLength}`);
  if (typeof s.maxLength === "number") parts.push(`max length ${s.maxLength}`);
  // zod bounds every integer by the safe range; only tighter bounds say anything.
  const bound = (n: unknown): n is number => typeof n === "number" && Math.abs(n) !== Number.MAX_SAFE_INTEGER;
  if (bound(s.minimum)) parts.push(`≥ ${s.minimum}`);
  if (bound(s.exclusiveMinimum)) parts.push(`> ${s.exclusiveMinimum}`);
  if (bound(s.maximum)) parts.push(`≤ ${s.maximum}`);
  if (typeof s.maxItems === "number") parts.push(`at most ${s.maxItems} items`);
  if (typeof s.pattern === "string") parts.push(`/${s.pattern}/`);
  if (s.default !== undefined) parts.push(`default ${JSON.stringify(s.default)}`);
  return parts.length ? ` <span class="c">(${esc(parts.join(", "))})</span>` : "";
}

/** A JSON Schema as a readable type, `indent` levels deep. */
export function typeHtml(schema: unknown, indent = 0): string {
  if (!isObj(schema) || Object.keys(schema).length === 0) return "any";
  const pad = "  ".repeat(indent + 1);
  const end = "  ".repeat(indent);
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.split("/").pop() ?? "";
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  if ("const" in schema) return esc(JSON.stringify(schema.const));
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => esc(JSON.stringify(v))).join(" | ");
  for (const [key, sep] of [
    ["anyOf", " | "],
    ["oneOf", " | "],
    ["allOf", " & "],
  ] as const) {
    const list = schema[key];
    if (Array.isArray(list)) {
      const parts = list.map((s) => typeHtml(s, indent));
      // Short alternatives on one line (`string | null`); objects one under another.
      return parts.join(parts.some((p) => p.includes("\n")) ? `\n${end}${sep.trim()} ` : sep);
    }
  }
  const type = schema.type;
  if (Array.isArray(type)) return type.map((t) => typeHtml({ ...schema, type: t }, indent)).join(" | ");
  if (type === "array") return `${typeHtml(schema.items, indent)}[]${constraints(schema)}`;
  if (type === "object" || isObj(schema.properties)) {
    const props = isObj(schema.properties) ? schema.properties : {};
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const lines = Object.entries(props).map(([name, prop]) => {
      const note =
        isObj(prop) && typeof prop.description === "string"
          ? ` <span class="d">// ${prose(prop.description)}</span>`
          : "";
      return `${pad}${esc(name)}${required.has(name) ? "" : "?"}: ${typeHtml(prop, indent + 1)}${note}`;
    });
    if (isObj(schema.additionalProperties) && Object.keys(props).length === 0) {
      return `{ [key: string]: ${typeHtml(schema.additionalProperties, indent + 1)} }`;
    }
    if (lines.length === 0) return "object";
    return `{\n${lines.join("\n")}\n${end}}`;
  }
  if (type === "string" && typeof schema.contentMediaType === "string") return "bytes";
  if (typeof type === "string") return `${esc(type)}${constraints(schema)}`;
  return "any";
}

const schemaBlock = (schema: unknown) => `<pre>${typeHtml(schema)}</pre>`;

function parametersHtml(params: Json[]): string {
  if (params.length === 0) return "";
  const rows = params.map(
    (p) =>
      `<tr><td><code>${esc(String(p.name))}</code>${p.required ? "" : "?"}</td><td>${esc(String(p.in))}</td>` +
      `<td><code>${typeHtml(p.schema)}</code></td><td>${prose(p.description)}</td></tr>`,
  );
  return `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th></th></tr>${rows.join("")}</table>`;
}

function contentHtml(content: unknown): string {
  if (!isObj(content)) return "";
  return Object.entries(content)
    .map(([type, media]) => {
      const m = isObj(media) ? media : {};
      const events = m["x-sse-events"];
      const body = events ? `events: ${schemaBlock(events)}` : schemaBlock(m.schema);
      return `<div class="media"><span class="mt">${esc(type)}</span>${body}</div>`;
    })
    .join("");
}

function operationHtml(path: string, method: string, op: Json): string {
  const id = esc(String(op.operationId));
  const security = Array.isArray(op.security) && op.security.length > 0 ? Object.keys(op.security[0] as Json)[0] : null;
  const auth =
    security === "apiToken" ? "Bearer API_TOKEN" : security === "runnerToken" ? "Bearer runner token" : "none";
  const body = isObj(op.requestBody)
    ? `<h4>Body${op.requestBody.required ? "" : " (optional)"}</h4>${contentHtml(op.requestBody.content)}`
    : "";
  const responses = Object.entries(isObj(op.responses) ? op.responses : {})
    .map(([status, r]) => {
      const res = isObj(r) ? r : {};
      const isError = status === "default" || Number(status) >= 400;
      const detail = isError ? "" : contentHtml(res.content);
      return `<div class="resp${isError ? " err" : ""}"><b>${esc(status)}</b> ${prose(res.description)}${detail}</div>`;
    })
    .join("");
  return `<section id="${id}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p>${prose(op.summary)}</p>${op.description ? `<p>${prose(op.description)}</p>` : ""}
<p class="auth">Auth: ${esc(auth)} · <code>${id}</code></p>
${parametersHtml(Array.isArray(op.parameters) ? (op.parameters as Json[]) : [])}${body}<h4>Responses</h4>${responses}</section>`;
}

const CSS = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:2px solid #ddd;margin-top:2.5rem}section{border:1px solid #e3e3e3;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
h3{margin:.3rem 0}h4{margin:.8rem 0 .3rem}pre{background:#f6f8fa;padding:.5rem;overflow:auto;margin:.2rem 0}
code{background:#f3f3f3;padding:0 .2rem}.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .3rem}
.get{background:#2b7bb9}.post{background:#3a9a4c}.put{background:#c98a00}.delete{background:#c0392b}.head{background:#777}
.c,.d{color:#777}.auth{color:#555;font-size:.9rem}.resp{margin:.3rem 0}.err{color:#7a2a22}.mt{font-family:monospace;color:#555}
table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;vertical-align:top}nav ul{columns:2}`;

/** The whole page. */
export function docsPage(doc: Json): string {
  const info = isObj(doc.info) ? doc.info : {};
  const tags = Array.isArray(doc.tags) ? (doc.tags as Json[]) : [];
  const ops: Array<{ path: string; method: string; op: Json }> = [];
  for (const [path, item] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
    for (const [method, op] of Object.entries(isObj(item) ? item : {})) if (isObj(op)) ops.push({ path, method, op });
  }
  const inTag = (name: unknown) => ops.filter(({ op }) => Array.isArray(op.tags) && op.tags[0] === name);
  const nav = tags
    .map(
      (t) =>
        `<li><b>${esc(String(t.name))}</b><ul>${inTag(t.name)
          .map(
            ({ path, method, op }) =>
              `<li><a href="#${esc(String(op.operationId))}">${esc(method.toUpperCase())} ${esc(path)}</a></li>`,
          )
          .join("")}</ul></li>`,
    )
    .join("");
  const sections = tags
    .map(
      (t) =>
        `<h2 id="tag-${esc(String(t.name))}">${esc(String(t.name))}</h2><p>${prose(t.description)}</p>` +
        inTag(t.name)
          .map(({ path, method, op }) => operationHtml(path, method, op))
          .join("\n"),
    )
    .join("\n");
  const components = isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  const schemas = Object.entries(components)
    .map(
      ([name, s]) =>
        `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${isObj(s) && s.description ? `<p>${prose(s.description)}</p>` : ""}${schemaBlock(s)}</section>`,
    )
    .join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(String(info.title))} API reference</title><style>${CSS}</style></head><body>
<h1>${esc(String(info.title))} <small>${esc(String(info.version))}</small></h1><p>${prose(info.description)}</p>
<p>The machine-readable document: <a href="openapi.json"><code>/openapi.json</code></a> (OpenAPI ${esc(String(doc.openapi))}; any OpenAPI viewer or client generator reads it).</p>
<nav><ul>${nav}</ul></nav>${sections}<h2 id="schemas">Schemas</h2>${schemas}</body></html>`;
}
