/**
 * The report's one stylesheet. System fonts only (the file must not fetch anything); a single column on a phone,
 * wider grids on a laptop; series colors as CSS variables so inline SVG follows dark mode too.
 */
export const REPORT_CSS = `
:root{--fg:#1b1f24;--muted:#5b6470;--bg:#fff;--panel:#f5f7fa;--line:#d9dee5;--grid:#e9edf2;--accent:#2458c6;
--c0:#4b5563;--c1:#2563eb;--c2:#d9480f;--c3:#2b8a3e;--c4:#9c36b5;--c5:#c2255c;--c6:#0b7285;--c7:#8f6a00;
--cw:#2563eb;--ca:#e8590c;--cmin:#1971c2;--cmax:#c92a2a;--cbefore:#868e96;--cafter:#2b8a3e;--chist:#5c7cfa}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ee;--muted:#9aa4b2;--bg:#111418;--panel:#1a1f26;--line:#2e3640;
--grid:#232a33;--accent:#7aa2f7;--c0:#adb5bd;--c1:#74a0ff;--c2:#ff8a4c;--c3:#69db7c;--c4:#da77f2;--c5:#f783ac;
--c6:#3bc9db;--c7:#ffd43b;--cw:#74a0ff;--ca:#ffa94d;--cmin:#74c0fc;--cmax:#ff8787;--cbefore:#adb5bd;--cafter:#69db7c}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1120px;margin:0 auto;padding:16px 16px 48px}
h1{font-size:1.5rem;margin:.2em 0 .1em;overflow-wrap:anywhere}
h2{font-size:1.2rem;margin:2em 0 .4em;padding-bottom:.2em;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1.2em 0 .3em;overflow-wrap:anywhere}
p,li{max-width:80ch}
.muted,figcaption,.note{color:var(--muted);font-size:.9rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;overflow-wrap:anywhere}
td code{overflow-wrap:normal;white-space:nowrap}
nav.toc{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.9rem;margin:.6em 0 0}
nav.toc a{color:var(--accent);text-decoration:none}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:1em 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.card b{display:block;font-size:1.25rem;font-variant-numeric:tabular-nums}
.card span{color:var(--muted);font-size:.82rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5em 0}
table{border-collapse:collapse;font-size:.88rem;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600}
th.num{text-align:right}
td.num{text-align:right;white-space:nowrap}
tr.total td{font-weight:600}
.meter{display:inline-block;height:.7em;background:var(--accent);border-radius:2px;vertical-align:middle;opacity:.7}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px 20px}
figure{margin:0}
svg.chart{width:100%;height:auto;display:block;font-family:inherit}
svg.wide{max-width:760px}
svg .grid{stroke:var(--grid)}
svg .axis{stroke:var(--muted)}
svg .tick{fill:var(--muted);font-size:11px}
svg .label{fill:var(--fg);font-size:12px}
svg .marker{stroke:var(--muted);stroke-dasharray:3 3}
svg .marker-label{fill:var(--muted);font-size:10px}
svg .line{fill:none;stroke:var(--c);stroke-width:1.7;stroke-linejoin:round}
svg .band{fill:var(--c);opacity:.13}
svg .dot,svg .bar{fill:var(--c)}
svg .dot{opacity:.85}
.c0{--c:var(--c0)}.c1{--c:var(--c1)}.c2{--c:var(--c2)}.c3{--c:var(--c3)}.c4{--c:var(--c4)}.c5{--c:var(--c5)}
.c6{--c:var(--c6)}.c7{--c:var(--c7)}.cw{--c:var(--cw)}.ca{--c:var(--ca)}.cmin{--c:var(--cmin)}.cmax{--c:var(--cmax)}
.cbefore{--c:var(--cbefore)}.cafter{--c:var(--cafter)}.chist{--c:var(--chist)}
ul.legend{list-style:none;display:flex;flex-wrap:wrap;gap:2px 16px;padding:0;margin:.2em 0 .6em;font-size:.85rem}
.sw{display:inline-block;width:16px;height:3px;background:var(--c);vertical-align:middle;margin-right:6px}
.sw.dot{width:8px;height:8px;border-radius:50%}
.sw.square{width:8px;height:8px}
.samples{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px}
.samples img{width:100%;height:auto;image-rendering:pixelated;display:block;border:1px solid var(--line);background:#000}
details{margin:.6em 0}
summary{cursor:pointer;color:var(--accent)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:.5em 0;font-size:.92rem}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0;overflow-wrap:anywhere}
@media (max-width:600px){body{font-size:14px}main{padding:10px 10px 40px}th,td{padding:3px 6px}ul.legend{margin-left:0}
svg.wide .tick,svg.wide .label{font-size:20px}svg.wide .marker-label{font-size:16px}}
`;
