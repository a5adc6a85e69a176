// The flame graph page the agent serves at /flamegraph on the metrics port (beyond
// upstream, which needs a Pyroscope server for this): plain HTML and JS in this file, no
// CDN, no build step. It reads /flamegraph/data (the last periods, see ./history.ts, and
// the one in progress):
// pick the type, the process and how many of the last periods to merge; click a frame to
// zoom into it (click the root to zoom out); search highlights matching frames and shows
// their share. Frames carry data-name / data-value / data-self; the body carries
// data-hottest (the frame with the most self value) once drawn.

export const FLAME_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gala-gopher flame graph</title>
<style>
body{font:13px Verdana,sans-serif;margin:12px;background:#fafaf5}
#bar>*{margin-right:10px}
#graph{position:relative;margin-top:12px;border-top:1px solid #ccc}
.fr{position:absolute;height:17px;box-sizing:border-box;border:1px solid #fafaf5;border-radius:2px;overflow:hidden;white-space:nowrap;font-size:11px;line-height:15px;padding-left:3px;cursor:pointer}
.fr.hl{background:#e040e0 !important}
#info{margin-top:6px;color:#444;min-height:16px}
</style></head>
<body>
<div id="bar">
<label>type <select id="type"></select></label>
<label>process <select id="pid"><option value="">all</option></select></label>
<label>last <select id="periods"></select> periods</label>
<input id="search" placeholder="search (regex)" size="24">
<span id="match"></span>
</div>
<div id="info">loading…</div>
<div id="graph"></div>
<script>
(function(){
var data={periods:[]},zoom=[],H=18,$=function(id){return document.getElementById(id);};
function colour(n){var h=2166136261;for(var i=0;i<n.length;i++){h=Math.imul(h^n.charCodeAt(i),16777619)>>>0;}
var a=(h&255)/255,b=((h>>>8)&255)/255;
if(/_\\[k\\]$/.test(n))return"rgb("+(230+Math.round(25*a))+","+(140+Math.round(60*b))+",40)";
if(n.charAt(0)==="[")return"rgb("+(170+Math.round(30*a))+","+(170+Math.round(30*a))+","+(180+Math.round(30*b))+")";
return"rgb("+(205+Math.round(50*a))+","+Math.round(230*b)+","+Math.round(55*a)+")";}
function selected(){var t=$("type").value,pid=$("pid").value,n=+$("periods").value||1;
var ps=data.periods.filter(function(p){return p.type===t;});return {ps:ps.slice(-n),pid:pid};}
function tree(){var s=selected(),root={name:"all",value:0,self:0,kids:{}},unit="";
s.ps.forEach(function(p){unit=p.unit;p.stacks.forEach(function(r){if(s.pid&&String(r[2])!==s.pid)return;
var node=root;root.value+=r[1];r[0].split(";").forEach(function(f){var k=node.kids[f];if(!k){k=node.kids[f]={name:f,value:0,self:0,kids:{}};}k.value+=r[1];node=k;});node.self+=r[1];});});
return {root:root,unit:unit};}
function draw(){var t=tree(),g=$("graph"),W=g.clientWidth||1000,root=t.root,path=[];
var start=root;for(var i=0;i<zoom.length;i++){var k=start.kids[zoom[i]];if(!k)break;start=k;path.push(zoom[i]);}
zoom=path;g.innerHTML="";var depth=0,hottest=null,frames=[];
function walk(n,x,w,d,trail){if(w<0.5)return;depth=Math.max(depth,d);frames.push({n:n,x:x,w:w,d:d,trail:trail});
if(!hottest||n.self>hottest.self)hottest=n;
var cx=x;Object.keys(n.kids).sort().forEach(function(k){var c=n.kids[k],cw=w*c.value/n.value;walk(c,cx,cw,d+1,trail.concat([k]));cx+=cw;});}
var anc=[root].concat(path.map(function(_,i){var n=root;for(var j=0;j<=i;j++)n=n.kids[path[j]];return n;}));
anc.forEach(function(n,i){frames.push({n:n,x:0,w:W,d:i,trail:path.slice(0,i),ancestor:true});});
if(start.value>0){var cx=0;Object.keys(start.kids).sort().forEach(function(k){var c=start.kids[k],cw=W*c.value/start.value;walk(c,cx,cw,anc.length,path.concat([k]));cx+=cw;});}
depth=Math.max(depth,anc.length-1);g.style.height=((depth+1)*H+4)+"px";
frames.forEach(function(f){var e=document.createElement("div");e.className="fr";
e.style.left=f.x+"px";e.style.width=f.w+"px";e.style.top=((depth-f.d)*H)+"px";e.style.background=colour(f.n.name);
e.textContent=f.w>30?f.n.name:"";e.title=f.n.name+" ("+f.n.value+" "+t.unit+", "+(100*f.n.value/(root.value||1)).toFixed(2)+"%)";
e.dataset.name=f.n.name;e.dataset.value=f.n.value;e.dataset.self=f.n.self;e.dataset.width=f.w.toFixed(1);
e.onclick=function(){zoom=f.ancestor?f.trail:f.trail;draw();};g.appendChild(e);});
document.body.dataset.hottest=hottest?hottest.name:"";
$("info").textContent=root.value+" "+t.unit+(zoom.length?" — zoomed into "+zoom[zoom.length-1]+" (click a lower frame to zoom out)":"")+" — hottest frame: "+(hottest?hottest.name:"none");
search();document.body.dataset.ready="1";}
function search(){var q=$("search").value,re=null,sum=0,tot=0;try{re=q?new RegExp(q):null;}catch(e){re=null;}
Array.prototype.forEach.call(document.querySelectorAll(".fr"),function(e){var hit=!!re&&re.test(e.dataset.name);e.classList.toggle("hl",hit);});
$("match").textContent=re?"matched":"";}
function options(){var types={},pids={};data.periods.forEach(function(p){types[p.type]=1;p.stacks.forEach(function(r){pids[r[2]]=r[0].split(";").filter(function(f){return /^\\[\\d+\\]/.test(f);})[0]||r[2];});});
var t=$("type");t.innerHTML="";Object.keys(types).forEach(function(k){var o=document.createElement("option");o.value=o.textContent=k;t.appendChild(o);});
var p=$("pid");p.innerHTML='<option value="">all</option>';Object.keys(pids).forEach(function(k){var o=document.createElement("option");o.value=k;o.textContent=pids[k];p.appendChild(o);});
var n=$("periods");n.innerHTML="";var max=Math.max(1,data.periods.filter(function(q){return q.type===t.value;}).length);for(var i=1;i<=max;i++){var o=document.createElement("option");o.value=o.textContent=i;n.appendChild(o);}n.value=String(max);}
["type","pid","periods"].forEach(function(id){$(id).onchange=function(){zoom=[];draw();};});$("search").oninput=search;
fetch("/flamegraph/data").then(function(r){return r.json();}).then(function(d){data=d;options();draw();})
.catch(function(e){$("info").textContent="cannot read /flamegraph/data: "+e;});
})();
</script></body></html>
`;
