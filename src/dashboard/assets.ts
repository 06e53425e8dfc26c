import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from '../util/root.js';

/**
 * What the browser loads, all served by PocketStack itself (no CDN): the page, its style, the
 * page's script (TypeScript compiled by `tsc -p tsconfig.web.json` into dist/web/ at build time)
 * and cytoscape.js's ES module straight from node_modules. The page imports cytoscape by its bare
 * name through an import map, so the compiled script needs no bundler.
 */

// From the sources (tsx, tests) and the build alike: <repo>/dist/web/.
const WEB_DIR = join(PROJECT_ROOT, 'dist', 'web');
const require = createRequire(import.meta.url);

export interface Asset {
  type: string;
  body: string | Buffer;
}

const cache = new Map<string, Asset>();

/** The page's one inline script: the import map that names cytoscape's module. */
const IMPORT_MAP = '{"imports":{"cytoscape":"/assets/cytoscape.mjs"}}';

/**
 * The page loads scripts only from PocketStack itself (and the import map, by its hash): it holds
 * a Keystone token, so nothing else may run in it, and nobody may frame it.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  `script-src 'self' 'sha256-${createHash('sha256').update(IMPORT_MAP).digest('base64')}'`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
].join('; ');

function load(name: string): Asset | null {
  const hit = cache.get(name);
  if (hit) return hit;
  let asset: Asset | null = null;
  try {
    if (name === 'cytoscape.mjs') {
      asset = { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dirname(require.resolve('cytoscape')), 'cytoscape.esm.min.mjs')) };
    } else if (name === 'style.css') {
      asset = { type: 'text/css; charset=utf-8', body: STYLE };
    } else if (/^[a-z]+\.js$/.test(name)) {
      asset = { type: 'text/javascript; charset=utf-8', body: readFileSync(join(WEB_DIR, name)) };
    }
  } catch {
    return null;
  }
  // Compiled scripts are re-read while developing (tsc --watch); the rest never changes.
  if (asset && !name.endsWith('.js')) cache.set(name, asset);
  return asset;
}

/** An asset by file name (`app.js`, `cytoscape.mjs`, `style.css`), or null. */
export function asset(name: string): Asset | null {
  return load(name);
}

/** Whether the page's script was built (npm run build); the page says how to build it if not. */
export function built(): boolean {
  try {
    readFileSync(join(WEB_DIR, 'app.js'));
    return true;
  } catch {
    return false;
  }
}

export function page(): string {
  const missing = built()
    ? ''
    : '<p class="error" id="unbuilt">The dashboard\'s script is not built: run <code>npm run build</code> (it compiles src/dashboard/web/ into dist/web/).</p>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>PocketStack</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="data:,">
<script type="importmap">${IMPORT_MAP}</script>
</head>
<body>
<header>
  <span class="brand">PocketStack</span>
  <span id="who"></span>
  <select id="project" title="project" hidden></select>
  <span id="live" class="live" hidden>live</span>
  <span class="spacer"></span>
  <span id="counts"></span>
  <button id="fit" hidden>Fit</button>
  <button id="logout" hidden>Log out</button>
</header>
<main>
  <section id="login" class="card">
    <h1>Log in</h1>
    <p>With your OpenStack (Keystone) credentials, as for <code>openstack</code>.</p>
    ${missing}
    <form id="login-form">
      <label>User <input name="username" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <label>Domain <input name="domain" value="Default"></label>
      <label>Project <input name="project" placeholder="(your own)"></label>
      <button type="submit">Log in</button>
      <p id="login-error" class="error" role="alert"></p>
    </form>
  </section>
  <section id="graph" hidden></section>
  <aside id="side" hidden>
    <div id="explain" class="card">
      <h2>Explain</h2>
      <p class="hint">Click an object, then “from” or “to”.</p>
      <div class="row"><button id="set-from">from</button><span id="from">the internet</span></div>
      <div class="row"><button id="set-to">to</button><span id="to">—</span></div>
      <div class="row">
        <select id="protocol"><option>tcp</option><option>udp</option><option>icmp</option></select>
        <input id="port" value="80" size="5" aria-label="port">
        <button id="run-explain">Explain</button>
      </div>
      <div id="explain-out"></div>
    </div>
    <div id="details" class="card"><p class="hint">Click anything for its details and IDs.</p></div>
  </aside>
</main>
<script type="module" src="/assets/app.js"></script>
</body>
</html>
`;
}

const STYLE = `
:root { --bg: #f6f7f9; --fg: #1d2733; --muted: #6b7785; --line: #d5dbe2; --ok: #2e9d58; --warn: #d99a1e; --bad: #d1453b; --info: #3f7ccf; }
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; font: 14px/1.4 system-ui, 'DejaVu Sans', sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 12px; align-items: center; padding: 8px 14px; background: #17212c; color: #eef2f6; height: 44px; }
header .brand { font-weight: 700; letter-spacing: .02em; }
header .spacer { flex: 1; }
header select, header button { font: inherit; }
.live { color: #8fe3a9; font-size: 12px; } .live::before { content: '● '; }
main { display: flex; height: calc(100% - 44px); }
#graph { flex: 1; min-width: 0; background: #fff; }
aside { width: 380px; overflow: auto; border-left: 1px solid var(--line); padding: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin-bottom: 10px; }
#login { margin: 60px auto; width: 360px; height: fit-content; }
#login label { display: block; margin: 8px 0; } #login input { width: 100%; padding: 6px; font: inherit; }
.error { color: var(--bad); }
.hint { color: var(--muted); margin: 4px 0; }
h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 15px; margin: 0 0 6px; }
.row { display: flex; gap: 8px; align-items: center; margin: 4px 0; }
table.kv { border-collapse: collapse; width: 100%; font-size: 12px; }
table.kv td { border-top: 1px solid #eef1f4; padding: 2px 4px; vertical-align: top; word-break: break-all; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; word-break: normal; }
.verdict { font-weight: 700; padding: 4px 8px; border-radius: 4px; display: inline-block; margin: 6px 0; }
.verdict.allowed { background: #e3f4e9; color: var(--ok); } .verdict.denied { background: #fbe7e5; color: var(--bad); }
ol.hops { padding-left: 20px; margin: 6px 0; } ol.hops li { margin: 4px 0; }
ol.hops li.drop { color: var(--bad); } ol.hops li.pass .what::before { content: '✓ '; color: var(--ok); }
.fix { background: #fff6e0; border-left: 3px solid var(--warn); padding: 4px 8px; margin: 6px 0; }
code { background: #eef1f4; padding: 0 3px; border-radius: 3px; font-size: 12px; }
`;
