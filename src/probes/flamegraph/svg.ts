// A flame graph as a standalone SVG from folded stacks: one rectangle per frame, as wide as
// its share of the total, children stacked above their caller, siblings in name order
// (flamegraph.pl's layout). Each frame carries a <title> (name, value, share) and its name
// when it fits; a small inline script zooms into a clicked frame (double click: reset).

export interface FlameSvgOptions {
  readonly title: string;
  /** What a value counts ("samples", "us"). */
  readonly unit: string;
  readonly width?: number;
}

interface Node {
  readonly name: string;
  value: number;
  readonly children: Map<string, Node>;
}

const FRAME_H = 16;
const FONT = 12;
const CHAR_W = FONT * 0.59;
const PAD = 10;
const TOP = 3 * FONT;
const MIN_W = 0.1;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function tree(stacks: readonly (readonly [string, number])[]): { root: Node; depth: number } {
  const root: Node = { name: "all", value: 0, children: new Map() };
  let depth = 0;
  for (const [stack, value] of stacks) {
    if (value <= 0) continue;
    root.value += value;
    let node = root;
    const frames = stack.split(";");
    depth = Math.max(depth, frames.length);
    for (const f of frames) {
      let c = node.children.get(f);
      if (!c) node.children.set(f, (c = { name: f, value: 0, children: new Map() }));
      c.value += value;
      node = c;
    }
  }
  return { root, depth: depth + 1 };
}

/** A deterministic warm colour per name; kernel frames orange, process/container frames grey. */
function colour(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  const v1 = (h & 0xff) / 255;
  const v2 = ((h >>> 8) & 0xff) / 255;
  if (name.endsWith("_[k]")) return `rgb(${230 + Math.round(25 * v1)},${140 + Math.round(60 * v2)},40)`;
  if (name.startsWith("[")) return `rgb(${170 + Math.round(30 * v1)},${170 + Math.round(30 * v1)},${180 + Math.round(30 * v2)})`;
  return `rgb(${205 + Math.round(50 * v1)},${Math.round(230 * v2)},${Math.round(55 * v1)})`;
}

const ZOOM_SCRIPT = `<script type="text/ecmascript"><![CDATA[
(function(){var W=+document.documentElement.getAttribute("data-width"),P=${PAD};
function frames(){return Array.prototype.slice.call(document.querySelectorAll("g.f"));}
function show(x0,w0,y0){frames().forEach(function(g){var r=g.querySelector("rect"),t=g.querySelector("text");
var x=+g.getAttribute("data-x"),w=+g.getAttribute("data-w"),y=+g.getAttribute("data-y");
if(w0&&(x+w<=x0||x>=x0+w0||y>y0&&!(x>=x0&&x+w<=x0+w0))){g.style.display="none";return;}
g.style.display="";var s=w0?(W-2*P)/w0:1,nx=w0?P+(x-x0)*s:x,nw=w0?w*s:w;
r.setAttribute("x",nx);r.setAttribute("width",nw);t.setAttribute("x",nx+3);
var n=g.getAttribute("data-n"),c=Math.floor((nw-6)/${CHAR_W});t.textContent=c<3?"":n.length<=c?n:n.slice(0,c-2)+"..";});}
frames().forEach(function(g){g.addEventListener("click",function(){show(+g.getAttribute("data-x"),+g.getAttribute("data-w"),+g.getAttribute("data-y"));});});
document.documentElement.addEventListener("dblclick",function(){show(0,0,0);});})();
]]></script>`;

/** The SVG text of the flame graph of `stacks` ([folded stack, value] pairs). */
export function flameGraphSvg(stacks: readonly (readonly [string, number])[], o: FlameSvgOptions): string {
  const width = o.width ?? 1200;
  const { root, depth } = tree(stacks);
  const height = TOP + depth * FRAME_H + 2 * PAD + FONT;
  const scale = root.value > 0 ? (width - 2 * PAD) / root.value : 0;
  const out: string[] = [
    `<?xml version="1.0" standalone="no"?>`,
    `<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-width="${width}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#f8f8f0"/>`,
    `<text x="${width / 2}" y="${FONT * 2}" text-anchor="middle" font-family="Verdana,sans-serif" font-size="${FONT + 5}">${escapeXml(o.title)}</text>`,
    `<text x="${PAD}" y="${height - PAD / 2}" font-family="Verdana,sans-serif" font-size="${FONT}">${escapeXml(`${root.value} ${o.unit} in total; click a frame to zoom, double click to reset`)}</text>`,
  ];
  const walk = (node: Node, x: number, level: number) => {
    const w = node.value * scale;
    if (w < MIN_W) return;
    const y = height - PAD - FONT - (level + 1) * FRAME_H;
    const pct = ((100 * node.value) / root.value).toFixed(2);
    const chars = Math.floor((w - 6) / CHAR_W);
    const label = chars < 3 ? "" : node.name.length <= chars ? node.name : `${node.name.slice(0, chars - 2)}..`;
    out.push(
      `<g class="f" data-n="${escapeXml(node.name)}" data-x="${x.toFixed(2)}" data-w="${w.toFixed(2)}" data-y="${y}"><title>${escapeXml(`${node.name} (${node.value} ${o.unit}, ${pct}%)`)}</title>` +
        `<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${FRAME_H - 1}" fill="${colour(node.name)}" rx="2"/>` +
        `<text x="${(x + 3).toFixed(2)}" y="${y + FRAME_H - 4}" font-family="Verdana,sans-serif" font-size="${FONT}">${escapeXml(label)}</text></g>`,
    );
    let cx = x;
    for (const c of [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      walk(c, cx, level + 1);
      cx += c.value * scale;
    }
  };
  if (root.value > 0) walk(root, PAD, 0);
  out.push(ZOOM_SCRIPT, `</svg>`, "");
  return out.join("\n");
}
