/* The memory explorer: the figure at the top of every architecture page, live.
 *
 * Every element `<div class="memory-explorer" data-model="transformer_xl">` becomes an SVG
 * figure: segments along x, the layers' states along y (h⁰ the embeddings, hᴺ the top layer's
 * output). Point at a state (hover, tap, or focus the figure and use the arrow keys) and the
 * states it can depend on light up in every layer below, coloured by the memory that carried
 * them there; the sliders change the model's sizes and the figure and the printed reach follow.
 * `data-compact` draws it small, without sliders (the landing page shows all seven so).
 *
 * The reach in characters is counted by `windowReach`, a line-by-line port of `window_reach`
 * in labml_memory/tasks/reach.py; the site's browser test (tests/test_explorer.py) drives the
 * sliders and compares every printed number with the Python function. Where that module has
 * no count (a memory with no window), the explorer says what the module says instead.
 *
 * Plain JavaScript, no library, nothing fetched; colours come from the page's stylesheet
 * (docs/assets/explorer.css), so the figure follows the light and dark schemes. */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";

  // ## The rule, as labml_memory/tasks/reach.py counts it
  //
  // `window_reach(position, seg_len, mem_lens, compressed_lens=None, rate=1)`: from the top
  // layer down, the earliest position the layer reads is the start of its segment less the
  // memory (and c times the compressed slots), cut at position 0. Memory lengths are per
  // layer, bottom first.
  function windowReach(position, segLen, memLens, compressedLens, rate) {
    if (segLen <= 0 || position < 0) {
      throw new Error("need seg_len > 0 and position >= 0, got seg_len=" + segLen + ", position=" + position);
    }
    if (rate === undefined) rate = 1;
    // Python's `compressed_lens or [0] * len(mem_lens)`: an empty list counts as none.
    if (!compressedLens || compressedLens.length === 0) compressedLens = memLens.map(function () { return 0; });
    if (compressedLens.length !== memLens.length) {
      throw new Error(memLens.length + " memory lengths but " + compressedLens.length + " compressed lengths");
    }
    var earliest = position;
    for (var i = memLens.length - 1; i >= 0; i--) {
      var segmentStart = Math.floor(earliest / segLen) * segLen;
      earliest = Math.max(0, segmentStart - memLens[i] - rate * compressedLens[i]);
    }
    return position - earliest;
  }

  // labml_memory/memory_depth/__init__.py: which layers (from 0) keep the long memory.
  function longRangeLayers(nLayers, nLong, placement) {
    var out = [], k;
    if (placement === "first") { for (k = 0; k < nLong; k++) out.push(k); return out; }
    if (placement === "last") { for (k = nLayers - nLong; k < nLayers; k++) out.push(k); return out; }
    // interleaved: -(-(k + 1) * n_layers // n_long) - 1, i.e. ceil((k + 1) N / n_long) - 1
    for (k = 0; k < nLong; k++) out.push(Math.ceil((k + 1) * nLayers / nLong) - 1);
    return out;
  }

  function memoryLengths(nLayers, nLong, placement, longLen, shortLen) {
    var longs = longRangeLayers(nLayers, nLong, placement), out = [];
    for (var n = 0; n < nLayers; n++) out.push(longs.indexOf(n) >= 0 ? longLen : shortLen);
    return out;
  }

  function repeat(value, n) { var out = []; for (var i = 0; i < n; i++) out.push(value); return out; }
  function fmt(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function ceilDiv(a, b) { return Math.ceil(a / b); }

  // ## The seven models
  //
  // Each declares its controls, its layers (`hops`: what layer n reads from the states below
  // it, bottom first) and the sentences of its readout. A hop is
  // {mem: M, comp: M_c, rate: c, table: C, summary: true when a state summarises the whole
  // past}; the drawing follows the hops, the printed numbers follow `windowReach`.
  var P = {
    L: { key: "L", sym: "<i>L</i>", label: "segment", min: 2, max: 64, step: 1 },
    M: { key: "M", sym: "<i>M</i>", label: "memory per layer", min: 0, max: 128, step: 1 },
    N: { key: "N", sym: "<i>N</i>", label: "layers", min: 1, max: 8, step: 1 }
  };
  function param(base, over) { var out = {}, k; for (k in base) out[k] = base[k]; for (k in over) out[k] = over[k]; return out; }

  function windowHops(v) { return repeat({ mem: v.M, comp: 0, rate: 1, table: 0 }, v.N); }
  function plainHops(v) { return repeat({ mem: 0, comp: 0, rate: 1, table: 0 }, v.N); }

  var MODELS = {
    transformer_xl: {
      name: "Transformer-XL",
      params: [param(P.L, { value: 8 }), param(P.M, { value: 6 }), param(P.N, { value: 3 })],
      kinds: ["seg", "mem"],
      hops: windowHops,
      mems: function (v) { return repeat(v.M, v.N); },
      formula: function (v, r) {
        var value = r + v.M + (v.N - 1) * ceilDiv(v.M, v.L) * v.L;
        return { value: value, text: "(<i>L</i> − 1) + <i>M</i> + (<i>N</i> − 1)⌈<i>M</i> / <i>L</i>⌉<i>L</i> = " +
          r + " + " + v.M + " + " + (v.N - 1) + " · " + ceilDiv(v.M, v.L) + " · " + v.L };
      },
      state: function (v) { return "The memory holds <i>M</i> = " + v.M + " states per layer, " + fmt(v.M * v.N) + " in all."; }
    },
    compressive: {
      name: "Compressive Transformer",
      params: [param(P.L, { value: 8, min: 8, step: 8 }), param(P.M, { value: 8, min: 1 }),
               { key: "Mc", sym: "<i>M</i><sub>c</sub>", label: "compressed slots", min: 0, max: 64, step: 1, value: 4 },
               { key: "c", sym: "<i>c</i>", label: "compression rate", values: [1, 2, 4, 8], value: 2 },
               param(P.N, { value: 2 })],
      kinds: ["seg", "mem", "cmem"],
      hops: function (v) { return repeat({ mem: v.M, comp: v.Mc, rate: v.c, table: 0 }, v.N); },
      mems: function (v) { return repeat(v.M, v.N); },
      comps: function (v) { return repeat(v.Mc, v.N); },
      rate: function (v) { return v.c; },
      formula: function (v, r) {
        var w = v.M + v.c * v.Mc, value = r + w + (v.N - 1) * ceilDiv(w, v.L) * v.L;
        return { value: value, text: "(<i>L</i> − 1) + (<i>M</i> + <i>c M</i><sub>c</sub>) + (<i>N</i> − 1)⌈(<i>M</i> + <i>c M</i><sub>c</sub>) / <i>L</i>⌉<i>L</i>, " +
          "with <i>M</i> + <i>c M</i><sub>c</sub> = " + w };
      },
      state: function (v) { return "Each layer keeps <i>M</i> + <i>M</i><sub>c</sub> = " + (v.M + v.Mc) + " vectors, standing for <i>M</i> + <i>c M</i><sub>c</sub> = " + (v.M + v.c * v.Mc) + " positions."; }
    },
    infinity_former: {
      name: "∞-former",
      params: [param(P.L, { value: 8 }), param(P.M, { value: 8, label: "short memory" }),
               { key: "J", sym: "<i>J</i>", label: "basis functions", min: 2, max: 128, step: 1, value: 16 },
               param(P.N, { value: 2 })],
      kinds: ["seg", "mem", "sum"],
      words: { mem: "through the short memory", sum: "through the continuous signal (the long-term memory)" },
      hops: function (v) { return repeat({ mem: v.M, comp: 0, rate: 1, table: 0, summary: true }, v.N); },
      mems: function (v) { return repeat(v.M, v.N); },
      unbounded: function (v) { return "no hard limit (the whole past, ever more coarsely, in a signal of <i>J</i> = " + v.J + " basis functions per layer)"; },
      windowWords: "verbatim, through the short memory",
      state: function (v) { return "Each layer keeps <i>M</i> = " + v.M + " recent states and <i>J</i> = " + v.J + " coefficient vectors for everything older."; }
    },
    infini_attention: {
      name: "Infini-attention",
      params: [param(P.L, { value: 8 }), param(P.N, { value: 3 })],
      kinds: ["seg", "sum"],
      words: { sum: "through each head's memory matrix and normaliser (superimposed)" },
      hops: function (v) { return repeat({ mem: 0, comp: 0, rate: 1, table: 0, summary: true }, v.N); },
      mems: function (v) { return repeat(0, v.N); },
      unbounded: function () { return "no hard limit (everything, superimposed in each head's memory matrix and normaliser)"; },
      windowWords: "verbatim, inside the segment",
      state: function (v) { return "Each head of each of the " + v.N + " layers keeps one <i>d</i><sub>k</sub> × <i>d</i><sub>v</sub> matrix and one <i>d</i><sub>k</sub> vector, however long the text."; }
    },
    memorizing_transformer: {
      name: "Memorizing Transformer",
      params: [param(P.L, { value: 8 }), param(P.M, { value: 4 }),
               { key: "C", sym: "<i>C</i>", label: "kNN table", values: [64, 128, 256, 512, 1024, 2048, 4096], value: 64 },
               param(P.N, { value: 4, min: 2 })],
      kinds: ["seg", "mem", "table"],
      words: { table: "through the kNN table (the top k of C pairs)" },
      knnLayer: function (v) { return Math.max(0, v.N - 2); },     // 0-based, as `knn_layer`
      hops: function (v) {
        var hops = windowHops(v), k = this.knnLayer(v);
        hops[k] = { mem: v.M, comp: 0, rate: 1, table: v.C };
        return hops;
      },
      mems: function (v) { return repeat(v.M, v.N); },
      table: function (v) { return "as far as the table (<i>C</i> = " + fmt(v.C) + " pairs, read by layer " + (this.knnLayer(v) + 1) + ", the top <i>k</i> of them per query)"; },
      windowWords: "local path, through Transformer-XL's memory",
      state: function (v) { return "Every layer keeps <i>M</i> = " + v.M + " states; layer " + (this.knnLayer(v) + 1) + " also keeps a table of up to <i>C</i> = " + fmt(v.C) + " key-value pairs."; }
    },
    recurrent_memory: {
      name: "Recurrent Memory Transformer",
      params: [param(P.L, { value: 8 }),
               { key: "m", sym: "<i>M</i>", label: "memory tokens", min: 1, max: 16, step: 1, value: 2 },
               param(P.N, { value: 3 })],
      kinds: ["seg", "tok", "sum"],
      words: { tok: "the read tokens (last segment's write tokens)", sum: "through the memory tokens" },
      tokens: function (v) { return v.m; },
      hops: plainHops,
      mems: function (v) { return repeat(0, v.N); },
      unbounded: function (v) { return "no hard limit (the whole past, through <i>M</i> = " + v.m + " memory tokens)"; },
      windowWords: "verbatim, inside the segment",
      state: function (v) { return "The whole model keeps <i>M</i> = " + v.m + " vectors: the write tokens' outputs become the next segment's read tokens."; }
    },
    memory_depth: {
      name: "Memory depth",
      params: [param(P.L, { value: 8 }), param(P.N, { value: 4 }),
               { key: "Ml", sym: "<i>M</i><sub>long</sub>", label: "long memory", min: 0, max: 128, step: 1, value: 16 },
               { key: "Ms", sym: "<i>M</i><sub>short</sub>", label: "short memory", min: 0, max: 128, step: 1, value: 2 },
               { key: "nl", sym: "<i>N</i><sub>long</sub>", label: "long-range layers", min: 0, max: 8, step: 1, value: 1 },
               { key: "placement", sym: "", label: "placed", options: ["first", "interleaved", "last"], value: "last" }],
      kinds: ["seg", "mem"],
      // The short memory never exceeds the long one, and there are no more long layers than
      // layers (memory_lengths and long_range_layers refuse both).
      limits: function (v) { return { Ms: { max: v.Ml }, nl: { max: v.N } }; },
      mems: function (v) { return memoryLengths(v.N, v.nl, v.placement, v.Ml, v.Ms); },
      hops: function (v) { return this.mems(v).map(function (m) { return { mem: m, comp: 0, rate: 1, table: 0 }; }); },
      perLayer: true,
      state: function (v) { return "Memory per layer, bottom first: " + this.mems(v).join(", ") + " (" + fmt(this.mems(v).reduce(function (a, b) { return a + b; }, 0)) + " states in all)."; }
    }
  };

  var KIND_WORDS = {
    seg: "read inside a segment",
    mem: "through the memory (cached states)",
    cmem: "through compressed slots",
    table: "through the kNN table",
    tok: "memory tokens",
    sum: "through a summary of the whole past"
  };

  // ## Tracing a query down the layers
  //
  // For a query at row r (the output of layer r) and position p, the states of row r - 1 it
  // reads are its segment up to p, the layer's memory before the segment and, where the
  // model has them, compressed slots or the table further back. Each lower row adds what the
  // earliest of those reads in turn: the same recursion as `windowReach`, kept per row so
  // that it can be drawn. A state reached at one row is reached at every row below it (each
  // position depends on its own input), so every row inherits the spans of the row above and
  // adds its own to the left, each coloured by how it was first reached.
  function trace(model, v, hops, row, p, L) {
    var rows = {}, spans = [{ from: p, to: p, kind: "seg" }], e = p, summary = false, k;
    for (k = row - 1; k >= 0; k--) {
      var hop = hops[k], s = Math.floor(e / L) * L, add = [];
      if (s < e) add.push({ from: s, to: e - 1, kind: "seg" });
      if (hop.mem > 0) add.push({ from: s - hop.mem, to: s - 1, kind: "mem" });
      var reach = hop.mem + hop.rate * hop.comp;
      if (hop.comp > 0) add.push({ from: s - reach, to: s - hop.mem - 1, kind: "cmem" });
      if (hop.table > reach) add.push({ from: s - hop.table, to: s - reach - 1, kind: "table" });
      var next = Math.max(0, s - Math.max(reach, hop.table));
      spans = spans.concat(add.filter(function (a) { return a.to >= a.from; })
        .map(function (a) { return { from: Math.max(0, a.from), to: a.to, kind: a.kind }; })
        .filter(function (a) { return a.to >= a.from; }));
      summary = summary || !!hop.summary;
      rows[k] = { spans: spans.slice(), earliest: next, summary: summary ? next : null };
      e = next;
    }
    return rows;
  }

  // ## One explorer

  var instances = 0;

  function Explorer(root) {
    this.root = root;
    this.id = "mx" + (++instances);
    this.model = MODELS[root.getAttribute("data-model")];
    this.compact = root.hasAttribute("data-compact");
    this.values = {};
    this.query = null;        // {row, seg (0 = the last drawn), offset}
    this.pinned = null;
    var self = this;
    this.model.params.forEach(function (p) { self.values[p.key] = p.value; });
    root.textContent = "";
    root.classList.add("mx-ready");
    if (this.compact) root.classList.add("mx-compact");
    if (!this.compact) {
      var lede = el("p", "mx-lede");
      lede.innerHTML = "<strong>Reach, layer by layer.</strong> Point at a state (hover, tap, or focus the " +
        "figure and use the arrow keys): the states it can depend on light up in every layer below, " +
        "coloured by the memory that carried them. The sliders change the model.";
      root.appendChild(lede);
    }
    this.svg = document.createElementNS(SVGNS, "svg");
    this.svg.setAttribute("class", "mx-svg");
    this.svg.setAttribute("tabindex", "0");
    this.svg.setAttribute("role", "img");
    root.appendChild(this.svg);
    if (!this.compact) {
      this.legend = el("ul", "mx-legend");
      root.appendChild(this.legend);
    }
    this.readout = el("div", "mx-readout");
    this.readout.setAttribute("aria-live", "polite");
    root.appendChild(this.readout);
    if (!this.compact) this.buildControls();
    this.bindPointer();
    this.width = 0;
    this.render();
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (Math.abs(self.root.clientWidth - self.width) >= 8) self.render();
      }).observe(root);
    }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svgEl(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  Explorer.prototype.buildControls = function () {
    var self = this, box = el("div", "mx-controls");
    this.inputs = {};
    this.model.params.forEach(function (p) {
      var label = el("label", "mx-control"), name = el("span", "mx-name"), input, out = el("output", "mx-value");
      name.innerHTML = (p.sym ? p.sym + " " : "") + p.label;
      if (p.options) {
        input = el("select");
        p.options.forEach(function (o) { var opt = el("option", "", o); opt.value = o; input.appendChild(opt); });
        input.value = p.value;
      } else {
        input = el("input");
        input.type = "range";
        if (p.values) {
          input.min = 0; input.max = p.values.length - 1; input.step = 1;
          input.value = p.values.indexOf(p.value);
          input.setAttribute("data-options", JSON.stringify(p.values));
        } else {
          input.min = p.min; input.max = p.max; input.step = p.step; input.value = p.value;
        }
      }
      input.setAttribute("data-param", p.key);
      input.setAttribute("aria-label", p.label + (p.sym ? " (" + p.sym.replace(/<[^>]+>/g, "") + ")" : ""));
      var update = function () { self.readInput(p, input, out); self.render(); };
      input.addEventListener("input", update);
      input.addEventListener("change", update);
      label.appendChild(name);
      label.appendChild(input);
      if (!p.options) label.appendChild(out);
      box.appendChild(label);
      self.inputs[p.key] = { input: input, out: out, param: p };
      self.readInput(p, input, out);
    });
    this.root.appendChild(box);
  };

  Explorer.prototype.readInput = function (p, input, out) {
    var value = p.options ? input.value : p.values ? p.values[Number(input.value)] : Number(input.value);
    this.values[p.key] = value;
    input.setAttribute("data-value", value);
    if (out) out.textContent = typeof value === "number" ? fmt(value) : value;
  };

  // Limits that depend on other settings (memory depth's short memory and long layers).
  Explorer.prototype.applyLimits = function () {
    if (!this.model.limits) return;
    var limits = this.model.limits(this.values), key;
    for (key in limits) {
      var max = limits[key].max;
      if (this.values[key] > max) this.values[key] = max;
      var entry = this.inputs && this.inputs[key];
      if (entry) {
        entry.input.max = max;
        entry.input.value = this.values[key];
        this.readInput(entry.param, entry.input, entry.out);
      }
    }
  };

  // ## Drawing

  Explorer.prototype.render = function () {
    this.applyLimits();
    var m = this.model, v = this.values, L = v.L, N = v.N, self = this;
    var hops = m.hops(v), tokens = m.tokens ? m.tokens(v) : 0;
    this.width = this.root.clientWidth;
    var W = Math.max(280, Math.min(760, this.width || 720));
    var compact = this.compact;

    // How many segments to draw: the query's and the ones the end of a segment reaches, plus
    // one it does not (for contrast), within what the width allows.
    var far = 2;
    hops.forEach(function (h) { far += ceilDiv(Math.max(h.mem + h.rate * h.comp, h.table), L) + 1; });
    var maxSegs = compact ? 5 : 10;
    var probe = trace(m, v, hops, N, far * L + L - 1, L);
    var back = far - Math.floor(probe[0].earliest / L);   // whole segments reached behind the last
    var S = Math.max(3, Math.min(maxSegs, back + 2));
    // Absolute positions: the drawn segments are far into a long text, so that nothing the
    // rule counts is cut at position 0 (the printed reach is a long text's).
    var first = far + S, off = first * L;
    this.geometry = { S: S, L: L, N: N, off: off, tokens: tokens };

    var left = compact ? 26 : 34, right = m.perLayer && !compact ? 40 : 8, edge = 16;
    var gap = Math.max(3, Math.min(8, W / 90)), slots = L + 2 * tokens;
    var usable = W - left - right - edge - (S - 1) * gap;
    var cw = usable / (S * slots);
    var rowH = compact ? 11 : 16, rowGap = compact ? 7 : 11, top = 6;
    var H = top + (N + 1) * (rowH + rowGap) + (compact ? 12 : 18);
    var x0 = left + edge;
    function segX(j) { return x0 + j * (slots * cw + gap); }
    function posX(q) {       // left edge of the drawn position q (0 .. S*L - 1)
      var j = Math.floor(q / L);
      return segX(j) + (tokens + (q - j * L)) * cw;
    }
    function rowY(k) { return top + (N - k) * (rowH + rowGap); }
    this.geometry.posX = posX; this.geometry.rowY = rowY; this.geometry.cw = cw;
    this.geometry.segX = segX; this.geometry.slots = slots; this.geometry.gap = gap;
    this.geometry.rowH = rowH; this.geometry.rowGap = rowGap;

    var svg = this.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + W.toFixed(0) + " " + H.toFixed(0));
    svg.setAttribute("aria-label", m.name + ": " + (N + 1) + " rows of states (embeddings and " + N +
      " layers) over " + S + " segments of " + L + ". Arrow keys move the query.");
    var defs = svgEl("defs", {}, svg);
    var hatch = svgEl("pattern", { id: this.id + "-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
                                   patternTransform: "rotate(45)" }, defs);
    svgEl("rect", { width: 6, height: 6, "class": "mx-hatch-bg" }, hatch);
    svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 6, "class": "mx-hatch-line" }, hatch);

    // Rows: labels and the segments' outlines.
    var font = compact ? 10 : 12, k, j;
    var mems = m.mems(v);
    for (k = 0; k <= N; k++) {
      var y = rowY(k);
      var label = svgEl("text", { x: left - 6, y: y + rowH / 2 + font * 0.35, "class": "mx-label",
                                  "text-anchor": "end", "font-size": font }, svg);
      label.textContent = "h" + superscript(k);
      if (m.perLayer && !compact && k > 0) {
        var ml = svgEl("text", { x: W - right + 4, y: y + rowH / 2 + font * 0.35, "class": "mx-label mx-muted",
                                 "font-size": font - 1 }, svg);
        ml.textContent = "M " + mems[k - 1];
      }
      for (j = 0; j < S; j++) {
        svgEl("rect", { x: segX(j) + tokens * cw, y: y, width: L * cw, height: rowH, "class": "mx-seg" }, svg);
        if (tokens) {
          svgEl("rect", { x: segX(j), y: y, width: tokens * cw, height: rowH, "class": "mx-seg mx-slot" }, svg);
          svgEl("rect", { x: segX(j) + (tokens + L) * cw, y: y, width: tokens * cw, height: rowH, "class": "mx-seg mx-slot" }, svg);
        }
      }
      if (cw >= 5) {      // one tick per position where there is room for it
        var d = "";
        for (j = 0; j < S; j++) for (var q = 1; q < slots; q++) {
          var xq = segX(j) + q * cw;
          d += "M" + xq.toFixed(1) + "," + y + "v" + rowH;
        }
        svgEl("path", { d: d, "class": "mx-tick" }, svg);
      }
    }
    // Segment labels under the bottom row, counted back from the last drawn one.
    var every = Math.max(1, Math.ceil(S / Math.max(1, Math.floor((W - x0) / 44))));
    for (j = 0; j < S; j++) {
      if ((S - 1 - j) % every) continue;
      var t = svgEl("text", { x: segX(j) + slots * cw / 2, y: rowY(0) + rowH + (compact ? 10 : 14),
                              "class": "mx-label mx-muted", "text-anchor": "middle", "font-size": font - 1 }, svg);
      // "segment 0" where the segment is wide enough to hold the words, else "0".
      t.textContent = j === S - 1 ? (compact || slots * cw < 8 * font ? "0" : "segment 0") : "−" + (S - 1 - j);
    }
    // The RMT: each segment's write tokens (top) become the next segment's read tokens (bottom).
    if (tokens) {
      for (j = 0; j < S - 1; j++) {
        var xa = segX(j) + (tokens + L + tokens / 2) * cw, xb = segX(j + 1) + tokens / 2 * cw;
        svgEl("path", { d: "M" + xa.toFixed(1) + "," + rowY(N) + " C" + (xa + gap * 2).toFixed(1) + "," + rowY(N) +
          " " + (xb - gap * 2).toFixed(1) + "," + (rowY(0) + rowH) + " " + xb.toFixed(1) + "," + (rowY(0) + rowH),
          "class": "mx-carry" }, svg);
      }
    }

    this.litLayer = svgEl("g", { "class": "mx-lit-layer" }, svg);
    // Hit areas: one band per layer row (the embeddings ask nothing).
    for (k = 1; k <= N; k++) {
      svgEl("rect", { x: x0, y: rowY(k) - rowGap / 2, width: segX(S - 1) + slots * cw - x0, height: rowH + rowGap,
                      "class": "mx-hit", "data-row": k }, svg);
    }

    // The query survives a redraw where it still fits.
    var qd = this.pinned || { row: N, seg: 0, offset: L - 1 };
    this.pinned = { row: Math.min(Math.max(1, qd.row), N), seg: Math.max(-(S - 1), Math.min(0, qd.seg)),
                    offset: Math.min(qd.offset, L - 1) };
    this.hops = hops;
    this.showQuery(this.pinned);
    if (this.legend) this.drawLegend();
  };

  function superscript(n) {
    var digits = "⁰¹²³⁴⁵⁶⁷⁸⁹";
    return String(n).split("").map(function (d) { return digits[Number(d)]; }).join("");
  }

  Explorer.prototype.drawLegend = function () {
    var legend = this.legend, m = this.model;
    legend.textContent = "";
    m.kinds.forEach(function (kind) {
      var li = el("li"), sw = el("span", "mx-swatch mx-k-" + kind);
      li.appendChild(sw);
      li.appendChild(document.createTextNode((m.words && m.words[kind]) || KIND_WORDS[kind]));
      legend.appendChild(li);
    });
    var li = el("li"), sw = el("span", "mx-swatch mx-k-query");
    li.appendChild(sw);
    li.appendChild(document.createTextNode("the query"));
    legend.appendChild(li);
  };

  // Light up what the query reaches, and print the numbers.
  Explorer.prototype.showQuery = function (q) {
    var g = this.geometry, m = this.model, v = this.values, L = g.L, S = g.S, N = g.N;
    var layer = this.litLayer, self = this;
    while (layer.firstChild) layer.removeChild(layer.firstChild);
    this.query = q;
    var drawn = (S - 1 + q.seg) * L + q.offset;          // position among the drawn ones
    var p = g.off + drawn;                                // in the long text
    var rows = trace(m, v, this.hops, q.row, p, L);
    var segStart = (S - 1 + q.seg) * L;
    var hasTokens = g.tokens > 0;

    function span(k, from, to, kind, extra) {
      // Split at segment boundaries; the part before the drawing is marked at the left edge.
      var a = from - g.off, b = to - g.off;
      if (b < 0) { if (kind !== "sum") edgeMark(k); return; }
      if (a < 0) { if (kind !== "sum") edgeMark(k); a = 0; }
      for (var j = Math.floor(a / L); j <= Math.floor(b / L); j++) {
        var lo = Math.max(a, j * L), hi = Math.min(b, j * L + L - 1);
        var r = svgEl("rect", { x: g.posX(lo), y: g.rowY(k), width: (hi - lo + 1) * g.cw, height: g.rowH,
                                "class": "mx-lit mx-k-" + kind + (extra || ""), "data-row": k,
                                "data-from": lo, "data-to": hi }, layer);
        r.setAttribute("pointer-events", "none");
      }
    }
    function edgeMark(k) {
      if (layer.querySelector('[data-edge="' + k + '"]')) return;
      var t = svgEl("text", { x: g.segX(0) - 3, y: g.rowY(k) + g.rowH / 2 + 4, "class": "mx-edge",
                              "text-anchor": "end", "font-size": self.compact ? 9 : 11, "data-edge": k }, layer);
      t.textContent = "◀";
    }
    function summaryBand(k, before) {
      // Everything before `before` (absolute), to the left edge and beyond.
      var b = before - 1 - g.off;
      var x1 = b >= 0 ? g.posX(Math.min(b, S * L - 1)) + g.cw : g.segX(0);
      svgEl("rect", { x: g.segX(0) - 14, y: g.rowY(k), width: Math.max(0, x1 - g.segX(0) + 14), height: g.rowH,
                      "class": "mx-lit mx-k-sum", fill: "url(#" + self.id + "-hatch)", "data-row": k,
                      "data-from": "-inf", "data-to": b, "pointer-events": "none" }, layer);
    }

    var k;
    if (hasTokens) {
      // The RMT: every drawn state of the earlier segments (and their memory tokens) reaches
      // the query through the read tokens; in its own segment, the read tokens and the
      // segment up to the query, in every row below it.
      var sj = S - 1 + q.seg;
      for (k = 0; k <= N; k++) {
        if (sj > 0) {
          svgEl("rect", { x: g.segX(0) - 14, y: g.rowY(k), width: g.segX(sj) - g.gap - g.segX(0) + 14, height: g.rowH,
                          "class": "mx-lit mx-k-sum", fill: "url(#" + this.id + "-hatch)", "data-row": k,
                          "data-from": "-inf", "data-to": sj * L - 1, "pointer-events": "none" }, layer);
        }
        if (k < q.row) {
          svgEl("rect", { x: g.segX(sj), y: g.rowY(k), width: g.tokens * g.cw, height: g.rowH,
                          "class": "mx-lit mx-k-tok", "data-row": k, "pointer-events": "none" }, layer);
          span(k, g.off + segStart, p, "seg");
        }
      }
    } else {
      for (k = q.row - 1; k >= 0; k--) {
        var r = rows[k];
        if (r.summary !== null) summaryBand(k, r.earliest);
        r.spans.forEach(function (s) { span(k, s.from, s.to, s.kind); });
      }
      // The hop each layer takes: from the earliest state it reads to the earliest below.
      var e = p;
      for (k = q.row - 1; k >= 0; k--) {
        var next = rows[k].earliest, a = e - g.off, b = next - g.off;
        if (b >= 0) {
          svgEl("line", { x1: g.posX(a) + g.cw / 2, y1: g.rowY(k + 1) + g.rowH, x2: g.posX(b) + g.cw / 2,
                          y2: g.rowY(k), "class": "mx-hop", "pointer-events": "none" }, layer);
        }
        e = next;
      }
    }
    var qw = Math.max(g.cw, 3) + 1, qx = Math.min(g.posX(drawn) + g.cw / 2 - qw / 2, g.segX(S - 1) + g.slots * g.cw + 1 - qw);
    svgEl("rect", { x: qx, y: g.rowY(q.row) - 1.5, width: qw, height: g.rowH + 3,
                    "class": "mx-query", "data-row": q.row, "data-from": drawn, "data-to": drawn,
                    "pointer-events": "none" }, layer);

    this.root.setAttribute("data-query-row", q.row);
    this.root.setAttribute("data-query-segment", q.seg);
    this.root.setAttribute("data-query-offset", q.offset);
    this.root.setAttribute("data-segments", S);
    this.printReadout(q);
  };

  // ## The readout

  Explorer.prototype.printReadout = function (q) {
    var m = this.model, v = this.values, g = this.geometry, L = v.L, N = v.N;
    var mems = m.mems(v), comps = m.comps ? m.comps(v) : undefined, rate = m.rate ? m.rate(v) : 1;
    var end = g.off + (g.S * L) - 1;                     // the last position of a segment
    var reach = windowReach(end, L, mems, comps, rate);
    var out = this.readout, compact = this.compact;
    out.textContent = "";
    function line(role, html) { var p = el("p", "mx-line"); p.setAttribute("data-role", role); p.innerHTML = html; out.appendChild(p); return p; }
    function num(n) { return '<b class="mx-num">' + fmt(n) + "</b>"; }
    var from = compact ? "" : " from the last position of a segment";

    if (compact && (m.unbounded || m.table)) {
      line("reach", "Reach: " + (m.unbounded ? "no hard limit" : "as far as the table, <i>C</i> = " + fmt(v.C)) + ".");
      line("window", (m.table ? "Local path: " : "Verbatim: ") + num(reach) + " characters.");
    } else if (m.unbounded || m.table) {
      line("reach", "Reach: " + (m.unbounded ? m.unbounded(v) : m.table(v)) + ".");
      line("window", capital(m.windowWords) + from + ": " + num(reach) + " characters.");
    } else {
      var text = "Reach" + from + ": " + num(reach) + " characters";
      var f = m.formula && !compact ? m.formula(v, L - 1) : null;
      if (f && f.value === reach) text += ' <span class="mx-formula">= ' + f.text + "</span>";
      line("reach", text + ".");
    }
    if (compact) return;
    var p = g.off + (g.S - 1 + q.seg) * L + q.offset;
    var below = mems.slice(0, q.row), cb = comps ? comps.slice(0, q.row) : undefined;
    var mine = windowReach(p, L, below, cb, rate);
    var where = "h" + superscript(q.row) + " at offset " + q.offset + " of segment " + (q.seg ? "−" + (-q.seg) : "0");
    var tail = m.unbounded ? " verbatim, and the whole past through the memory"
      : m.table && q.row > m.knnLayer(v) ? " on the local path, and as far as the table through layer " + (m.knnLayer(v) + 1)
      : "";
    line("query", "The query, " + where + ", reaches " + num(mine) + " characters back" + tail + ".");
    line("state", m.state(v));
  };

  function capital(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

  // ## Pointer and keyboard

  Explorer.prototype.locate = function (event) {
    var g = this.geometry, svg = this.svg;
    var point = svg.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    var ctm = svg.getScreenCTM();
    if (!ctm) return null;
    var at = point.matrixTransform(ctm.inverse());
    var row = g.N - Math.floor((at.y - 6 + g.rowGap / 2) / (g.rowH + g.rowGap));
    if (row < 1 || row > g.N) return null;
    var pitch = g.slots * g.cw + g.gap, j = Math.floor((at.x - g.segX(0)) / pitch);
    j = Math.max(0, Math.min(g.S - 1, j));
    var offset = Math.floor((at.x - g.segX(j)) / g.cw) - g.tokens;
    offset = Math.max(0, Math.min(g.L - 1, offset));
    return { row: row, seg: j - (g.S - 1), offset: offset };
  };

  Explorer.prototype.bindPointer = function () {
    var self = this, svg = this.svg;
    svg.addEventListener("pointermove", function (event) {
      if (event.pointerType === "touch") return;
      var q = self.locate(event);
      if (q) self.showQuery(q);
    });
    svg.addEventListener("pointerleave", function () { self.showQuery(self.pinned); });
    svg.addEventListener("pointerdown", function (event) {
      var q = self.locate(event);
      if (q) { self.pinned = q; self.showQuery(q); }
    });
    svg.addEventListener("keydown", function (event) {
      var g = self.geometry, q = self.pinned, pos = (g.S - 1 + q.seg) * g.L + q.offset, row = q.row;
      var last = g.S * g.L - 1;
      switch (event.key) {
        case "ArrowLeft": pos -= 1; break;
        case "ArrowRight": pos += 1; break;
        case "ArrowUp": row += 1; break;
        case "ArrowDown": row -= 1; break;
        case "PageUp": pos -= g.L; break;
        case "PageDown": pos += g.L; break;
        case "Home": pos = 0; break;
        case "End": pos = last; break;
        default: return;
      }
      event.preventDefault();
      pos = Math.max(0, Math.min(last, pos));
      row = Math.max(1, Math.min(g.N, row));
      self.pinned = { row: row, seg: Math.floor(pos / g.L) - (g.S - 1), offset: pos % g.L };
      self.showQuery(self.pinned);
    });
  };

  // ## Start

  function start() {
    var found = document.querySelectorAll(".memory-explorer[data-model]:not(.mx-ready)");
    for (var i = 0; i < found.length; i++) {
      if (MODELS[found[i].getAttribute("data-model")]) found[i].explorer = new Explorer(found[i]);
    }
  }

  // For the browser test: the rule itself, to check the port against Python directly too.
  window.memoryExplorer = { windowReach: windowReach, memoryLengths: memoryLengths, models: Object.keys(MODELS) };

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(start);      // mkdocs-material's page-load signal
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
