// The ponder run viewer. Plain JavaScript, no library, no network except the optional poll of
// a local `ponder show --serve` server. Model text only ever reaches the page through
// textContent (never as markup), so a candidate cannot inject markup or script.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var DX = 26; // horizontal distance between neighbouring leaves
  var DY = 64; // vertical distance between depths
  var R = 7; // node radius
  var config = JSON.parse(document.getElementById("ponder-data").textContent);
  var view = config.view;
  var ui = {
    tree: document.getElementById("tree"),
    slider: document.getElementById("slider"),
    frameInfo: document.getElementById("frame-info"),
    budget: document.getElementById("budget"),
    votes: document.getElementById("votes")
  };
  var state = { frame: 0, selected: null, nodes: [], byId: new Map(), edgeEls: [], nodeEls: [], box: null };

  function el(name, attrs, text) {
    var e = document.createElementNS(SVG, name);
    if (attrs) {
      for (var key in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, key)) e.setAttribute(key, String(attrs[key]));
      }
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text;
  }

  function short(text, n) {
    if (text === null || text === undefined) return "";
    text = String(text);
    return text.length > n ? text.slice(0, n - 1) + "\u2026" : text;
  }

  function fmt(x) {
    if (x === null || x === undefined) return "\u2013";
    if (typeof x === "number") return Number.isInteger(x) ? String(x) : x.toFixed(3).replace(/0+$/, "");
    return String(x);
  }

  // -- layout: leaves left to right in depth-first order, parents centred over their children.
  // O(n), iterative (a long refine chain must not overflow the stack).
  function layout(nodes) {
    var children = new Map();
    nodes.forEach(function (n) { children.set(n.id, []); });
    nodes.forEach(function (n) {
      if (n.parent !== null && children.has(n.parent)) children.get(n.parent).push(n);
    });
    var root = nodes[0];
    var pos = new Map();
    var next = 0;
    var maxDepth = 0;
    var stack = [[root, 0]];
    while (stack.length) {
      var top = stack[stack.length - 1];
      var node = top[0];
      var kids = children.get(node.id);
      if (top[1] < kids.length) {
        top[1] += 1;
        stack.push([kids[top[1] - 1], 0]);
        continue;
      }
      stack.pop();
      var x;
      if (kids.length === 0) {
        x = next;
        next += 1;
      } else {
        x = (pos.get(kids[0].id).x + pos.get(kids[kids.length - 1].id).x) / 2;
      }
      maxDepth = Math.max(maxDepth, node.depth);
      pos.set(node.id, { x: x, y: node.depth * DY });
    }
    pos.forEach(function (p) { p.x *= DX; });
    return { pos: pos, width: Math.max(1, next - 1) * DX, height: maxDepth * DY };
  }

  function verdictClass(n) {
    if (n.kind === "problem") return "k-problem";
    return n.verdict ? "v-" + n.verdict : "v-none";
  }

  function drawTree() {
    var svg = ui.tree;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var nodes = view.nodes;
    var placed = layout(nodes);
    var edges = el("g", { "class": "edges" });
    var group = el("g", { "class": "nodes" });
    state.nodes = nodes;
    state.byId = new Map();
    state.edgeEls = new Array(nodes.length);
    state.nodeEls = new Array(nodes.length);
    nodes.forEach(function (n, i) {
      state.byId.set(n.id, i);
      var p = placed.pos.get(n.id);
      if (n.parent !== null) {
        var q = placed.pos.get(n.parent);
        var midY = (q.y + p.y) / 2;
        var path = el("path", {
          "class": "edge" + (n.on_path ? " win" : ""),
          d: "M" + q.x + "," + q.y + "C" + q.x + "," + midY + " " + p.x + "," + midY + " " + p.x + "," + p.y
        });
        edges.appendChild(path);
        state.edgeEls[i] = path;
      }
      var g = el("g", {
        "class": "node " + verdictClass(n) + (n.on_path ? " win" : ""),
        transform: "translate(" + p.x + "," + p.y + ")",
        "data-id": n.id
      });
      g.appendChild(el("circle", { r: n.kind === "problem" ? R + 3 : R }));
      var title = el("title");
      title.textContent = n.id + (n.answer !== null ? " \u2192 " + n.answer : "");
      g.appendChild(title);
      var label = n.kind === "problem" ? "problem" : (n.answer !== null ? short(n.answer, 7) : "");
      if (label) g.appendChild(el("text", { y: R + 12 }, label));
      group.appendChild(g);
      state.nodeEls[i] = g;
    });
    svg.appendChild(edges);
    svg.appendChild(group);
    state.box = { x: -DX, y: -DY / 2, w: placed.width + 2 * DX, h: placed.height + DY };
    fit();
  }

  // -- pan and zoom by the viewBox
  var vb = { x: 0, y: 0, w: 100, h: 100 };

  function applyViewBox() {
    ui.tree.setAttribute("viewBox", vb.x + " " + vb.y + " " + vb.w + " " + vb.h);
    var pixels = ui.tree.clientWidth || 800;
    ui.tree.classList.toggle("small-labels", vb.w / pixels > 1.6);
  }

  function fit() {
    var b = state.box;
    var width = ui.tree.clientWidth || 800;
    var height = ui.tree.clientHeight || 600;
    var scale = Math.max(b.w / width, b.h / height, 0.7); // a small tree is not blown up
    vb.w = width * scale;
    vb.h = height * scale;
    vb.x = b.x - (vb.w - b.w) / 2;
    vb.y = b.y - (vb.h - b.h) / 2;
    applyViewBox();
  }

  function installPanZoom() {
    var svg = ui.tree;
    var drag = null;
    svg.addEventListener("wheel", function (event) {
      event.preventDefault();
      var rect = svg.getBoundingClientRect();
      var fx = (event.clientX - rect.left) / rect.width;
      var fy = (event.clientY - rect.top) / rect.height;
      var factor = Math.exp(event.deltaY * 0.0015);
      var w = vb.w * factor;
      var h = vb.h * factor;
      vb.x += (vb.w - w) * fx;
      vb.y += (vb.h - h) * fy;
      vb.w = w;
      vb.h = h;
      applyViewBox();
    }, { passive: false });
    svg.addEventListener("pointerdown", function (event) {
      if (event.target.closest && event.target.closest("g.node")) return;
      drag = { x: event.clientX, y: event.clientY, vx: vb.x, vy: vb.y };
      svg.classList.add("dragging");
    });
    window.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var scale = vb.w / (svg.clientWidth || 1);
      vb.x = drag.vx - (event.clientX - drag.x) * scale;
      vb.y = drag.vy - (event.clientY - drag.y) * scale;
      applyViewBox();
    });
    window.addEventListener("pointerup", function () {
      drag = null;
      svg.classList.remove("dragging");
    });
    svg.addEventListener("click", function (event) {
      var g = event.target.closest ? event.target.closest("g.node") : null;
      if (g) select(g.getAttribute("data-id"));
    });
    document.getElementById("fit").addEventListener("click", fit);
    window.addEventListener("resize", fit);
  }

  // -- time travel
  function showFrame(f) {
    state.frame = f;
    var nodes = state.nodes;
    for (var i = 0; i < nodes.length; i++) {
      var n = nodes[i];
      var future = n.born > f;
      var g = state.nodeEls[i];
      g.classList.toggle("future", future);
      g.classList.toggle("pending", !future && n.judged !== null && n.judged > f);
      if (state.edgeEls[i]) state.edgeEls[i].classList.toggle("future", future);
    }
    var frame = view.frames[f];
    if (frame) {
      ui.frameInfo.textContent = "checkpoint " + (f + 1) + " of " + view.frames.length + " \u00b7 " +
        frame.namespace + " step " + frame.step + " \u00b7 " + (frame.nodes - 1) + " nodes \u00b7 " +
        frame.tokens + " tokens \u00b7 " + frame.calls + " calls \u00b7 " + frame.seconds.toFixed(1) + " s";
    } else {
      ui.frameInfo.textContent = "no checkpoints";
    }
    drawBudget();
  }

  // -- the budget chart: tokens spent against seconds, with the limit
  function drawBudget() {
    var svg = ui.budget;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var frames = view.frames;
    var W = 360, H = 140, L = 44, B = 22, T = 10, Rt = 10;
    var limit = view.run.budget && view.run.budget.tokens;
    var maxT = 1;
    var maxS = 0.001;
    frames.forEach(function (fr) { maxT = Math.max(maxT, fr.tokens); maxS = Math.max(maxS, fr.seconds); });
    var spentMax = maxT;
    // A limit far above the spend would flatten the curve: then it is named, not drawn.
    var drawLimit = limit && limit <= 4 * spentMax;
    if (drawLimit) maxT = Math.max(maxT, limit);
    function sx(s) { return L + (s / maxS) * (W - L - Rt); }
    function sy(t) { return H - B - (t / maxT) * (H - B - T); }
    svg.appendChild(el("line", { "class": "axis", x1: L, y1: H - B, x2: W - Rt, y2: H - B }));
    svg.appendChild(el("line", { "class": "axis", x1: L, y1: T, x2: L, y2: H - B }));
    svg.appendChild(el("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, String(maxT)));
    svg.appendChild(el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
    svg.appendChild(el("text", { x: W - Rt, y: H - 6, "text-anchor": "end" }, maxS.toFixed(1) + " s"));
    svg.appendChild(el("text", { x: L, y: H - 6 }, "tokens over wall time"));
    if (drawLimit) {
      svg.appendChild(el("line", { "class": "limit", x1: L, y1: sy(limit), x2: W - Rt, y2: sy(limit) }));
      svg.appendChild(el("text", { x: W - Rt, y: sy(limit) + 11, "text-anchor": "end" }, "limit " + limit));
    } else if (limit) {
      svg.appendChild(el("text", { x: W - Rt, y: T + 8, "text-anchor": "end" }, "limit " + limit + " (above)"));
    }
    if (!frames.length) return;
    var points = frames.map(function (fr) { return sx(fr.seconds).toFixed(1) + "," + sy(fr.tokens).toFixed(1); });
    svg.appendChild(el("polyline", { "class": "spent", points: points.join(" ") }));
    var now = frames[Math.min(state.frame, frames.length - 1)];
    svg.appendChild(el("circle", { "class": "now", cx: sx(now.seconds), cy: sy(now.tokens), r: 4 }));
  }

  // -- details of one node
  function select(id) {
    if (state.selected !== null && state.byId.has(state.selected)) {
      state.nodeEls[state.byId.get(state.selected)].classList.remove("selected");
    }
    state.selected = id;
    var i = state.byId.get(id);
    if (i === undefined) return;
    state.nodeEls[i].classList.add("selected");
    var n = state.nodes[i];
    setText("detail-title", n.kind === "problem" ? "the problem" : n.id + " \u00b7 " + n.kind);
    var meta = document.getElementById("detail-meta");
    while (meta.firstChild) meta.removeChild(meta.firstChild);
    var rows = n.kind === "problem"
      ? [["strategy", view.run.strategy], ["answer", view.answer], ["children", countChildren(n.id)]]
      : [
        ["answer", n.answer], ["verdict", n.verdict], ["score", n.score], ["reason", n.reason],
        ["strategy", n.strategy], ["graph node", n.node], ["prompt", n.prompt], ["parent", n.parent],
        ["depth", n.depth], ["tokens", n.tokens_in + " in, " + n.tokens_out + " out"],
        ["latency", n.latency_s.toFixed(2) + " s"], ["temperature", n.temperature], ["seed", n.seed],
        ["finish", n.finish_reason], ["appeared", "checkpoint " + (n.born + 1)],
        ["winning path", n.on_path ? "yes" : "no"]
      ];
    rows.forEach(function (row) {
      var dt = document.createElement("dt");
      dt.textContent = row[0];
      var dd = document.createElement("dd");
      dd.textContent = fmt(row[1]);
      meta.appendChild(dt);
      meta.appendChild(dd);
    });
    setText("detail-text", n.text);
    var pathBox = document.getElementById("detail-path-box");
    pathBox.hidden = n.kind !== "step" || n.depth < 2;
    setText("detail-path", pathBox.hidden ? "" : solutionSoFar(i));
    var critiqueBox = document.getElementById("detail-critique-box");
    critiqueBox.hidden = !n.critique;
    setText("detail-critique", n.critique || "");
  }

  // The steps from the root to node i: for tree search, the solution this step ends.
  function solutionSoFar(i) {
    var steps = [];
    var n = state.nodes[i];
    while (n && n.kind !== "problem" && steps.length <= state.nodes.length) {
      steps.push(n.text.trim());
      var j = state.byId.get(n.parent);
      n = j === undefined ? null : state.nodes[j];
    }
    return steps.reverse().join("\n");
  }

  function countChildren(id) {
    var k = 0;
    state.nodes.forEach(function (n) { if (n.parent === id) k += 1; });
    return k;
  }

  function drawVotes() {
    var list = ui.votes;
    while (list.firstChild) list.removeChild(list.firstChild);
    var entries = Object.keys(view.votes).map(function (k) { return [k, view.votes[k]]; });
    entries.sort(function (a, b) { return b[1] - a[1]; });
    if (!entries.length) {
      var none = document.createElement("li");
      none.textContent = "no votes";
      list.appendChild(none);
    }
    entries.forEach(function (entry) {
      var li = document.createElement("li");
      li.textContent = entry[0] + " \u00d7 " + fmt(entry[1]);
      if (entry[0] === view.answer) li.className = "lead";
      list.appendChild(li);
    });
  }

  function drawHeader() {
    var run = view.run;
    document.title = "ponder run " + run.run_id;
    setText("run-title", "run " + run.run_id + " \u00b7 " + run.strategy);
    setText("problem", run.problem);
    setText("summary",
      "answer: " + (view.answer === null ? "(none)" : view.answer) + " \u00b7 status: " + run.status +
      (run.stop_reason ? " (" + run.stop_reason + ")" : "") + " \u00b7 " + run.tokens + " tokens, " +
      run.calls + " calls, " + run.seconds.toFixed(1) + " s \u00b7 " + (view.nodes.length - 1) + " nodes");
  }

  function render(keepFrame) {
    var last = Math.max(0, view.frames.length - 1);
    var atEnd = state.frame >= Number(ui.slider.max);
    drawHeader();
    drawTree();
    drawVotes();
    ui.slider.max = String(last);
    var frame = keepFrame && !atEnd ? Math.min(state.frame, last) : last;
    ui.slider.value = String(frame);
    showFrame(frame);
    var keep = state.selected;
    state.selected = null;
    select(keep !== null && state.byId.has(keep) ? keep : (view.winner || "root"));
  }

  function poll() {
    var etag = null;
    document.getElementById("live").hidden = false;
    function tick() {
      var headers = etag ? { "If-None-Match": etag } : {};
      fetch(config.poll, { cache: "no-store", headers: headers }).then(function (response) {
        if (response.status !== 200) return null;
        etag = response.headers.get("ETag");
        return response.json();
      }).then(function (data) {
        if (data && data.format === view.format) {
          view = data;
          render(true);
        }
      }).catch(function () { /* the server went away: keep what is shown */ })
        .then(function () { window.setTimeout(tick, config.poll_ms || 1000); });
    }
    window.setTimeout(tick, config.poll_ms || 1000);
  }

  ui.slider.addEventListener("input", function () { showFrame(Number(ui.slider.value)); });
  installPanZoom();
  render(false);
  window.__ponderReady = performance.now();
  performance.mark("ponder-ready");
  document.body.setAttribute("data-ready", "1");
  if (config.poll) poll();
})();
