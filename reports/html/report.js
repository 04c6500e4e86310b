// The HTML report's script: reads the JSON blob (#data, see
// reports/html_data.go), draws the disk map on a canvas, the timeline as
// SVG and the sortable tables, then records what it drew on the body element:
//   data-drawn="map,timeline,tables"  the parts drawn, in order
//   data-map-pixels, data-map-part-pixels="dev=N;...", data-map-read-pixels,
//   data-map-object-pixels             counted on the canvas (getImageData)
//   data-timeline-bars, data-timeline-rects
//   data-rows-objects, data-rows-parts, data-rows-unmapped
//   data-draw-ms                       time from parsing the data to drawn
// With ?test=sort,hover,zoom in the URL it also exercises itself (clicks a
// column header, hovers an object, zooms into a partition) and records the
// results (data-sort-*, data-hover-*, data-zoom-*), for browser_test.go.
// Plain JavaScript, no framework, nothing fetched.
(function () {
  "use strict";

  var t0 = window.performance ? performance.now() : 0;
  var D = JSON.parse(document.getElementById("data").textContent);
  var body = document.body;
  var drawn = [];
  function mark(what) {
    drawn.push(what);
    body.setAttribute("data-drawn", drawn.join(","));
  }
  function $(id) { return document.getElementById(id); }

  // ---- formatting ----
  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    var u = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"], i = 0, v = n / 1024;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + " " + u[i];
  }
  function fmtNs(ns) {
    if (ns < 1e3) return ns + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + " µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(1) + " ms";
    return (ns / 1e9).toFixed(3) + " s";
  }
  function fmtCount(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function hex(n) { return "0x" + n.toString(16); }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  // nouns(1, "request") is "1 request", nouns(2, "request") "2 requests".
  function nouns(n, noun) { return fmtCount(n) + " " + noun + (n === 1 ? "" : "s"); }
  var KIND = { v: "disk", p: "partition", l: "logical volume", m: "metadata", d: "directory", f: "file" };

  // ---- colours ----
  function rgb(h) { return [parseInt(h.substr(1, 2), 16), parseInt(h.substr(3, 2), 16), parseInt(h.substr(5, 2), 16)]; }
  function css(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
  function mix(c, share) { // keep share of c over white
    return [Math.round(c[0] * share + 255 * (1 - share)), Math.round(c[1] * share + 255 * (1 - share)), Math.round(c[2] * share + 255 * (1 - share))];
  }
  // First-read order ramp: purple, blue, green, orange, red; all dark
  // enough to stand out on the partitions' pale tints.
  var RAMP = ["#5b2a86", "#2c6fbb", "#1a9850", "#e08214", "#b2182b"].map(rgb);
  function ramp(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    var i = Math.min(Math.floor(t), RAMP.length - 2), f = t - i, a = RAMP[i], b = RAMP[i + 1];
    return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
  }
  var BG = rgb("#eef0f2");          // outside any partition, not read
  var UNMAPPED_READ = rgb("#23272e"); // read, outside any partition
  // Metadata structures: a cyan found neither on the ramp nor among the
  // partitions' colours (it was a grey purple, the ramp's first colour).
  var META = rgb("#00b5cc");
  var maxOrder = 1;
  D.objects.forEach(function (o) { if (o.o > maxOrder) maxOrder = o.o; });
  function objColour(o) {
    if (o.t === "m") return META;
    return ramp(maxOrder > 1 ? (o.o - 1) / (maxOrder - 1) : 0);
  }
  var devColour = D.devices.map(function (d) { return rgb(d.colour); });
  var devTint = D.devices.map(function (d) { return rgb(d.tint); });

  // ---- binary search in flat [off, len, ...] arrays (stride 2 or 3) sorted by off ----
  // Index (in entries) of the first entry with off >= x.
  function lowerBound(a, stride, x) {
    var lo = 0, hi = a.length / stride;
    while (lo < hi) {
      var mid = (lo + hi) >>> 1;
      if (a[mid * stride] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  // Entries overlapping [b0, b1): those starting before b1, scanning back
  // a bounded way (extents of files, directories and metadata rarely nest;
  // read regions never overlap).
  function overlapping(a, stride, b0, b1, fn) {
    var i = lowerBound(a, stride, b1) - 1;
    for (var k = 0; i >= 0 && k < 64; i--, k++) {
      if (a[i * stride] + a[i * stride + 1] > b0) fn(i);
    }
  }

  // ---- the disk map ----
  var CELL = 2, ROWS = 150;
  var map = $("map"), tip = $("tip"), diskSel = $("map-disk");
  var state = { disk: 0, v0: 0, v1: 0, zoom: null, cols: 0, rows: ROWS, bpp: 1 };

  D.disks.forEach(function (d, i) {
    var opt = document.createElement("option");
    opt.value = String(i);
    opt.textContent = d.device + " (" + fmtBytes(d.size) + ")";
    diskSel.appendChild(opt);
  });
  if (D.disks.length < 2) diskSel.hidden = true;

  function setView(disk, zoom) {
    var d = D.disks[disk];
    state.disk = disk;
    state.zoom = zoom;
    if (zoom !== null) {
      var p = D.devices[zoom];
      state.v0 = p.off;
      state.v1 = p.off + p.len;
    } else {
      state.v0 = 0;
      state.v1 = d.size;
    }
    drawMap();
  }

  function drawMap() {
    var d = D.disks[state.disk];
    var width = Math.max(400, Math.floor((map.parentNode.clientWidth || 1200) - 2));
    var cols = Math.floor(width / CELL), rows = ROWS, n = cols * rows;
    var v0 = state.v0, v1 = Math.max(state.v1, state.v0 + 1);
    var bpp = (v1 - v0) / n;
    state.cols = cols;
    state.bpp = bpp;
    map.width = cols * CELL;
    map.height = rows * CELL;
    map.style.width = map.width + "px";

    var part = new Int32Array(n).fill(-1);
    var obj = new Int32Array(n).fill(-1);
    var prio = new Int8Array(n);
    var read = new Uint8Array(n);
    function cells(off, len) { // [first, last] cell of a byte range, or null
      var end = off + len;
      if (len <= 0 || end <= v0 || off >= v1) return null;
      var a = Math.floor((Math.max(off, v0) - v0) / bpp);
      var b = Math.floor((Math.min(end, v1) - 1 - v0) / bpp);
      return [Math.max(0, Math.min(a, n - 1)), Math.max(0, Math.min(b, n - 1))];
    }
    d.parts.forEach(function (pi) {
      var p = D.devices[pi], c = cells(p.off, p.len);
      if (c) part.fill(pi, c[0], c[1] + 1);
    });
    var ext = d.ext;
    for (var i = 0; i < ext.length; i += 3) {
      var o = D.objects[ext[i + 2]];
      if (o.q <= 3) continue; // disks, partitions, LVs: drawn as tints
      var c = cells(ext[i], ext[i + 1]);
      if (!c) continue;
      for (var k = c[0]; k <= c[1]; k++) {
        if (o.q >= prio[k]) { prio[k] = o.q; obj[k] = ext[i + 2]; }
      }
    }
    var rd = d.reads;
    for (i = 0; i < rd.length; i += 2) {
      c = cells(rd[i], rd[i + 1]);
      if (c) read.fill(1, c[0], c[1] + 1);
    }

    // Colour every cell, at one pixel per cell, then scale up.
    var off = document.createElement("canvas");
    off.width = cols;
    off.height = rows;
    var octx = off.getContext("2d");
    var img = octx.createImageData(cols, rows), px = img.data;
    var objCol = D.objects.map(objColour);
    var objPale = objCol.map(function (c) { return mix(c, 0.45); });
    var readCells = 0;
    for (k = 0; k < n; k++) {
      var col;
      if (obj[k] >= 0) {
        col = read[k] ? objCol[obj[k]] : objPale[obj[k]];
      } else if (part[k] >= 0) {
        col = read[k] ? devColour[part[k]] : devTint[part[k]];
      } else {
        col = read[k] ? UNMAPPED_READ : BG;
      }
      if (read[k]) readCells++;
      // The last row may run past the end of the view: white.
      if (k * bpp >= v1 - v0) col = [255, 255, 255];
      px[k * 4] = col[0]; px[k * 4 + 1] = col[1]; px[k * 4 + 2] = col[2]; px[k * 4 + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    var ctx = map.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, cols * CELL, rows * CELL);

    // Count what the canvas shows (read back, not what was meant): cells
    // of each partition in its tint, cells of objects in their colours.
    var back = octx.getImageData(0, 0, cols, rows).data;
    function is(k, c) { return back[k * 4] === c[0] && back[k * 4 + 1] === c[1] && back[k * 4 + 2] === c[2]; }
    var partPx = {}, nonBG = 0, objPx = 0;
    d.parts.forEach(function (pi) {
      var p = D.devices[pi], c = cells(p.off, p.len), m = 0;
      for (var k = c ? c[0] : 1; c && k <= c[1]; k++) if (is(k, devTint[pi])) m++;
      partPx[p.device] = m;
    });
    for (k = 0; k < n; k++) {
      if (is(k, BG) || is(k, [255, 255, 255])) continue;
      nonBG++;
      if (obj[k] >= 0 && (is(k, objCol[obj[k]]) || is(k, objPale[obj[k]]))) objPx++;
    }

    // Partition labels at each partition's first cell.
    ctx.font = "bold 12px system-ui, sans-serif";
    ctx.textBaseline = "top";
    d.parts.forEach(function (pi) {
      var p = D.devices[pi], c = cells(p.off, p.len);
      if (!c || c[1] - c[0] < 200) return; // no room for a label
      var x = (c[0] % cols) * CELL, y = Math.floor(c[0] / cols) * CELL;
      var label = p.device.replace(/^\/dev\//, "") + " " + fmtBytes(p.len);
      var w = ctx.measureText(label).width + 8;
      x = Math.min(x, map.width - w);
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(x, y, w, 16);
      ctx.strokeStyle = css(devColour[pi]);
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, w - 2, 14);
      ctx.fillStyle = "#1d232b";
      ctx.fillText(label, x + 4, y + 2);
    });

    $("map-view").textContent = state.zoom === null ? d.device + ", whole disk" : D.devices[state.zoom].device + " (zoomed; click or 'Whole disk' to go back)";
    $("map-scale").textContent = fmtCount(cols) + " × " + rows + " cells, " + fmtBytes(Math.ceil(bpp)) + " per cell" +
      (d.reads_approx ? "; read regions merged to fit, highlights cover a little more than was read" : "");
    $("map-reset").disabled = state.zoom === null;
    var pp = [];
    for (var dev in partPx) pp.push(dev + "=" + partPx[dev]);
    body.setAttribute("data-map-pixels", String(nonBG));
    body.setAttribute("data-map-part-pixels", pp.join(";"));
    body.setAttribute("data-map-object-pixels", String(objPx));
    body.setAttribute("data-map-read-pixels", String(readCells));
    body.setAttribute("data-map-view", state.zoom === null ? d.device : D.devices[state.zoom].device);
  }

  // What lies under a cell: the highest-priority object, the partition,
  // the first read.
  function probe(cell) {
    var d = D.disks[state.disk];
    var b0 = state.v0 + cell * state.bpp, b1 = Math.min(state.v0 + (cell + 1) * state.bpp, state.v1);
    var lo = Math.floor(b0), hi = Math.max(Math.ceil(b1), lo + 1);
    var best = -1, bestQ = -1;
    overlapping(d.ext, 3, lo, hi, function (i) {
      var oi = d.ext[i * 3 + 2], o = D.objects[oi];
      if (o.q > 3 && o.q > bestQ) { best = oi; bestQ = o.q; }
    });
    var firstRead = -1;
    overlapping(d.reads, 2, lo, hi, function (i) {
      var t = d.read_first[i];
      if (firstRead < 0 || t < firstRead) firstRead = t;
    });
    var p = null;
    d.parts.forEach(function (pi) {
      var q = D.devices[pi];
      if (q.off < hi && q.off + q.len > lo) p = pi;
    });
    return { lo: lo, hi: hi, obj: best, part: p, first: firstRead };
  }

  function cellAt(ev) {
    var r = map.getBoundingClientRect();
    var x = Math.floor((ev.clientX - r.left) * map.width / r.width / CELL);
    var y = Math.floor((ev.clientY - r.top) * map.height / r.height / CELL);
    if (x < 0 || y < 0 || x >= state.cols || y >= state.rows) return -1;
    var cell = y * state.cols + x;
    return state.v0 + cell * state.bpp < state.v1 ? cell : -1;
  }

  function showTip(ev) {
    var cell = cellAt(ev);
    if (cell < 0) { tip.hidden = true; return null; }
    var h = probe(cell), lines = [];
    if (h.obj >= 0) {
      var o = D.objects[h.obj];
      lines.push("<b class=\"path\">" + esc(o.p || o.d) + "</b>");
      lines.push(esc(KIND[o.t] || o.t) + " on " + esc(o.d) + (o.i ? ", inode " + o.i : "") + (o.s ? ", " + fmtBytes(o.s) : ""));
      lines.push("read #" + o.o + " first at " + fmtNs(o.f) + ", " + nouns(o.r, "request") + ", " + fmtBytes(o.b));
    } else if (h.part !== null) {
      lines.push("<b>" + esc(D.devices[h.part].device) + "</b> (no file or structure read here)");
    } else {
      lines.push("<b>" + esc(D.disks[state.disk].device) + "</b> (outside any partition)");
    }
    if (h.obj >= 0 && h.part !== null) lines.push("partition " + esc(D.devices[h.part].device));
    lines.push("disk " + hex(h.lo) + "–" + hex(h.hi) + (h.first >= 0 ? ", read here first at " + fmtNs(h.first) : ", not read here"));
    tip.innerHTML = lines.join("<br>");
    tip.hidden = false;
    var wrap = map.parentNode.getBoundingClientRect();
    var x = ev.clientX - wrap.left + 14, y = ev.clientY - wrap.top + 14;
    if (x + tip.offsetWidth > wrap.width) x = Math.max(0, ev.clientX - wrap.left - tip.offsetWidth - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
    return h;
  }

  map.addEventListener("mousemove", showTip);
  map.addEventListener("mouseleave", function () { tip.hidden = true; });
  map.addEventListener("click", function (ev) {
    var cell = cellAt(ev);
    if (cell < 0) return;
    var h = probe(cell);
    if (state.zoom === null && h.part !== null) setView(state.disk, h.part);
    else if (state.zoom !== null) setView(state.disk, null);
  });
  $("map-reset").addEventListener("click", function () { setView(state.disk, null); });
  diskSel.addEventListener("change", function () { setView(Number(diskSel.value), null); });

  function mapLegend() {
    var L = $("map-legend"), html = [];
    var seen = {};
    D.disks.forEach(function (d) {
      d.parts.forEach(function (pi) {
        if (seen[pi]) return;
        seen[pi] = true;
        html.push("<span><span class=\"sw\" style=\"background:" + css(devTint[pi]) + "\"></span><span class=\"sw\" style=\"background:" +
          css(devColour[pi]) + "\"></span>" + esc(D.devices[pi].device) + "</span>");
      });
    });
    if (html.length) html.push("<span>(partitions: pale, not read; strong, read outside any file or structure)</span>");
    html.push("<span>files and directories by first read: first<span class=\"ramp\" style=\"background:linear-gradient(to right," +
      RAMP.map(css).join(",") + ")\"></span>last (pale: not read)</span>");
    html.push("<span><span class=\"sw\" style=\"background:" + css(META) + "\"></span>metadata</span>");
    html.push("<span><span class=\"sw\" style=\"background:" + css(BG) + "\"></span>outside partitions</span>");
    html.push("<span><span class=\"sw\" style=\"background:" + css(UNMAPPED_READ) + "\"></span>read, in no partition</span>");
    L.innerHTML = html.join("");
  }

  // ---- the timeline (SVG) ----
  var SVG = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceStep(raw, base) { // 1, 2, 5 × base^k
    if (!(raw > 0)) return 1;
    var p = Math.pow(base, Math.floor(Math.log(raw) / Math.log(base)));
    var steps = base === 1024 ? [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] : [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return steps[i] * p;
    return steps[steps.length - 1] * p;
  }

  // A time axis label: as few decimals as the step needs.
  function fmtTick(t, step) {
    if (t === 0) return "0";
    var units = [[1e9, "s"], [1e6, "ms"], [1e3, "µs"], [1, "ns"]];
    for (var i = 0; i < units.length; i++) {
      var u = units[i][0];
      if (step >= u || i === units.length - 1) {
        var dec = 0;
        while (dec < 3 && Math.abs(Math.round(step / u * Math.pow(10, dec)) - step / u * Math.pow(10, dec)) > 1e-6) dec++;
        return (t / u).toFixed(dec) + " " + units[i][1];
      }
    }
  }

  function drawTimeline() {
    var T = D.timeline, bars = T.bars, host = $("timeline");
    host.textContent = "";
    var W = Math.max(600, Math.floor(host.clientWidth || 1200)), H = 240;
    var ml = 70, mr = 14, mt = 10, mb = 36, pw = W - ml - mr, ph = H - mt - mb;
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": "bytes read over time" }, host);
    var maxB = 0, used = {};
    bars.forEach(function (b) {
      var s = 0;
      for (var j = 1; j < b.length; j++) { s += b[j]; if (b[j] > 0) used[j - 1] = true; }
      if (s > maxB) maxB = s;
    });
    var step = niceStep(Math.max(maxB, 1) / 4, 1024), top = Math.max(step, Math.ceil(maxB / step) * step);
    for (var v = 0; v <= top + 0.5; v += step) {
      var y = mt + ph - v / top * ph;
      svgEl("line", { x1: ml, x2: ml + pw, y1: y, y2: y, "class": v === 0 ? "axis" : "grid" }, svg);
      svgEl("text", { x: ml - 6, y: y + 4, "text-anchor": "end" }, svg).textContent = fmtBytes(v);
    }
    var total = bars.length * T.bucket_ns;
    var tstep = niceStep(total / 8, 10);
    for (var t = 0; t <= total; t += tstep) {
      var x = ml + t / Math.max(total, 1) * pw;
      svgEl("line", { x1: x, x2: x, y1: mt + ph, y2: mt + ph + 4, "class": "axis" }, svg);
      svgEl("text", { x: x, y: mt + ph + 17, "text-anchor": x > ml + pw - 24 ? "end" : "middle" }, svg).textContent = fmtTick(t, tstep);
    }
    svgEl("text", { x: ml + pw, y: H - 3, "text-anchor": "end" }, svg).textContent =
      "time since the trace started (" + fmtNs(T.bucket_ns) + " per bar)";
    var bw = pw / Math.max(bars.length, 1), gap = bw > 4 ? 1 : 0;
    var nbars = 0, nrects = 0;
    bars.forEach(function (b, i) {
      var sum = 0;
      for (var j = 1; j < b.length; j++) sum += b[j];
      if (sum === 0 && b[0] === 0) return;
      var g = svgEl("g", { "data-bar": i }, svg);
      var title = svgEl("title", {}, g);
      var lines = [fmtNs(i * T.bucket_ns) + " – " + fmtNs((i + 1) * T.bucket_ns) + ": " + nouns(b[0], "request") + ", " + fmtBytes(sum)];
      var y0 = mt + ph;
      for (j = 1; j < b.length; j++) {
        if (b[j] <= 0) continue;
        var h = b[j] / top * ph;
        svgEl("rect", { x: (ml + i * bw).toFixed(2), y: (y0 - Math.max(h, 1)).toFixed(2), width: Math.max(bw - gap, 0.8).toFixed(2),
          height: Math.max(h, 1).toFixed(2), fill: D.devices[j - 1].colour, "data-device": D.devices[j - 1].device }, g);
        y0 -= h;
        nrects++;
        lines.push(D.devices[j - 1].device + ": " + fmtBytes(b[j]));
      }
      title.textContent = lines.join("\n");
      nbars++;
    });
    svgEl("line", { x1: ml, x2: ml, y1: mt, y2: mt + ph, "class": "axis" }, svg);
    $("tl-scale").textContent = nouns(bars.length, "bar") + " of " + fmtNs(T.bucket_ns);
    var L = [];
    D.devices.forEach(function (d, j) {
      if (!used[j]) return;
      var s = 0;
      bars.forEach(function (b) { s += b[j + 1]; });
      L.push("<span><span class=\"sw\" style=\"background:" + esc(d.colour) + "\"></span>" + esc(d.device) +
        (d.is_disk ? " (outside partitions)" : "") + ": " + fmtBytes(s) + "</span>");
    });
    $("tl-legend").innerHTML = L.join("");
    body.setAttribute("data-timeline-bars", String(nbars));
    body.setAttribute("data-timeline-rects", String(nrects));
  }

  // ---- sortable tables ----
  // cols: {key, label, num, get(row) sort value, show(row) HTML}.
  function Table(el, cols, rows, key, dir, rowAttr) {
    this.el = el; this.cols = cols; this.rows = rows; this.key = key; this.dir = dir; this.rowAttr = rowAttr;
    var self = this, head = "<thead><tr>";
    cols.forEach(function (c) {
      head += "<th data-key=\"" + c.key + "\"" + (c.num ? " class=\"num\"" : "") + (c.title ? " title=\"" + esc(c.title) + "\"" : "") + ">" + esc(c.label) + "</th>";
    });
    el.innerHTML = head + "</tr></thead><tbody></tbody>";
    el.querySelectorAll("th").forEach(function (th) {
      th.addEventListener("click", function () {
        var k = th.getAttribute("data-key"), c = self.col(k);
        if (k === self.key) self.dir = -self.dir; else { self.key = k; self.dir = c.num ? -1 : 1; }
        self.render();
      });
    });
    this.render();
  }
  Table.prototype.col = function (k) { return this.cols.filter(function (c) { return c.key === k; })[0]; };
  Table.prototype.setRows = function (rows) { this.rows = rows; this.render(); };
  Table.prototype.render = function () {
    var c = this.col(this.key), dir = this.dir, get = c.get;
    var idx = this.rows.map(function (r, i) { return i; }), rows = this.rows;
    idx.sort(function (a, b) {
      var x = get(rows[a]), y = get(rows[b]);
      if (x < y) return -dir;
      if (x > y) return dir;
      return a - b;
    });
    var cols = this.cols, rowAttr = this.rowAttr, out = [];
    idx.forEach(function (i) {
      var r = rows[i], s = "<tr" + (rowAttr ? rowAttr(r) : "") + ">";
      cols.forEach(function (cc) { s += "<td" + (cc.num ? " class=\"num\"" : cc.cls ? " class=\"" + cc.cls + "\"" : "") + ">" + cc.show(r) + "</td>"; });
      out.push(s + "</tr>");
    });
    if (out.length === 0) out.push("<tr><td class=\"empty\" colspan=\"" + cols.length + "\">none</td></tr>");
    var tb = this.el.tBodies[0];
    tb.innerHTML = out.join("");
    var key = this.key;
    this.el.querySelectorAll("th").forEach(function (th) {
      if (th.getAttribute("data-key") === key) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    this.el.setAttribute("data-rows", String(this.rows.length));
  };

  function num(f, show) { return { num: true, get: f, show: show || function (r) { return fmtCount(f(r)); } }; }
  function col(key, label, o) { o.key = key; o.label = label; return o; }
  function shareText(h) { return h === undefined || h === null ? "" : (h * 100).toFixed(h < 0.1 ? 1 : 0) + " %"; }

  var tables = {};
  function drawTables() {
    var objCol = D.objects.map(objColour);
    var objCols = [
      col("o", "#", num(function (r) { return r.n; }, function (r) { return "<span class=\"sw\" style=\"background:" + css(objCol[r._i]) + "\"></span>" + r.n; })),
      col("t", "type", { get: function (r) { return r.t; }, show: function (r) { return esc(KIND[r.t] || r.t); } }),
      col("d", "device", { get: function (r) { return r.d; }, show: function (r) { return esc(r.d); } }),
      col("p", "path", { cls: "path", get: function (r) { return r.p || ""; }, show: function (r) { return esc(r.p || ""); } }),
      col("f", "first read", num(function (r) { return r.f; }, function (r) { return fmtNs(r.f); })),
      col("l", "last read", num(function (r) { return r.l; }, function (r) { return fmtNs(r.l); })),
      col("r", "requests", num(function (r) { return r.r; })),
      col("b", "bytes read", num(function (r) { return r.b; }, function (r) { return fmtBytes(r.b); })),
      col("u", "distinct", num(function (r) { return r.u; }, function (r) { return (r.a ? "≤ " : "") + fmtBytes(r.u); })),
      col("s", "size", num(function (r) { return r.s || 0; }, function (r) { return r.s ? fmtBytes(r.s) : ""; })),
      col("h", "% read", num(function (r) { return r.h === undefined ? -1 : r.h; }, function (r) { return shareText(r.h); })),
      col("c", "contents first read", num(function (r) { return r.c === undefined ? Infinity : r.c; }, function (r) { return r.c === undefined ? "" : fmtNs(r.c); }))
    ];
    objCols[11].title = "when the file's contents were first read (not its record, inode or index blocks): sort by it for the boot's story";
    objCols[8].title = "bytes of the object read at least once";
    objCols[10].title = "part of the contents read (files, directories); distinct/size otherwise";
    // n: the rank by first read among the files, directories and
    // metadata this table lists (o counts disks and partitions too, so
    // the column would skip numbers).
    var rank = 0;
    D.objects.forEach(function (o, i) { o._i = i; if (o.q >= 4) o.n = ++rank; });
    var only = $("only-files");
    function objRows() {
      return D.objects.filter(function (o) { return o.q >= 4 && (!only.checked || o.t === "f" || o.t === "d"); });
    }
    tables.objects = new Table($("t-objects"), objCols, objRows(), "o", 1, function (r) {
      return " data-name=\"" + esc(r.d + " " + (r.p || "")) + "\"";
    });
    only.addEventListener("change", function () { tables.objects.setRows(objRows()); recordRows(); });

    // Partitions and disks: their layout joined with their stats.
    var stats = {};
    D.objects.forEach(function (o) { if (o.t === "p" || o.t === "l" || o.t === "v") stats[o.d] = o; });
    var prow = D.devices.map(function (d, j) {
      var o = stats[d.device] || {};
      return { j: j, dev: d.device, disk: d.is_disk, off: d.off, len: d.len, f: o.f, r: o.r || 0, b: o.b || 0, u: o.u || 0, h: o.h };
    }).filter(function (r) { return r.len > 0 || r.r > 0; });
    tables.parts = new Table($("t-parts"), [
      col("dev", "device", { get: function (r) { return r.dev; }, show: function (r) { return "<span class=\"sw\" style=\"background:" + esc(D.devices[r.j].colour) + "\"></span>" + esc(r.dev) + (r.disk ? " (disk)" : ""); } }),
      col("off", "offset", num(function (r) { return r.off; }, function (r) { return hex(r.off); })),
      col("len", "size", num(function (r) { return r.len; }, function (r) { return fmtBytes(r.len); })),
      col("f", "first read", num(function (r) { return r.f === undefined ? Infinity : r.f; }, function (r) { return r.f === undefined ? "" : fmtNs(r.f); })),
      col("r", "requests", num(function (r) { return r.r; })),
      col("b", "bytes read", num(function (r) { return r.b; }, function (r) { return fmtBytes(r.b); })),
      col("u", "distinct", num(function (r) { return r.u; }, function (r) { return fmtBytes(r.u); })),
      col("h", "% read", num(function (r) { return r.h === undefined ? -1 : r.h; }, function (r) { return shareText(r.h); }))
    ], prow, "off", 1);

    var diskName = {};
    D.disks.forEach(function (d) { diskName[d.disk] = d.device; });
    D.exports.forEach(function (e) { diskName[e.disk] = e.device; });
    tables.unmapped = new Table($("t-unmapped"), [
      col("disk", "disk", { get: function (r) { return r.disk; }, show: function (r) { return esc(diskName[r.disk] || String(r.disk)); } }),
      col("off", "offset", num(function (r) { return r.off; }, function (r) { return hex(r.off); })),
      col("end", "end", num(function (r) { return r.off + r.len; }, function (r) { return hex(r.off + r.len); })),
      col("len", "length", num(function (r) { return r.len; }, function (r) { return fmtBytes(r.len); }))
    ], D.unmapped, "off", 1);
    recordRows();
  }
  function recordRows() {
    ["objects", "parts", "unmapped"].forEach(function (k) {
      body.setAttribute("data-rows-" + k, String(tables[k].rows.length));
    });
  }

  // ---- self-tests (?test=sort,hover,zoom) ----
  function firstRow(t) {
    var tr = t.el.tBodies[0].rows[0];
    return tr ? tr.getAttribute("data-name") || "" : "";
  }
  function selfTest(which) {
    if (which.indexOf("sort") >= 0) {
      var t = tables.objects, th = t.el.querySelector("th[data-key=\"b\"]");
      th.click();
      body.setAttribute("data-sort-key", t.key);
      body.setAttribute("data-sort-dir", th.getAttribute("aria-sort") || "");
      body.setAttribute("data-sort-first", firstRow(t));
      th.click();
      body.setAttribute("data-sort-dir2", th.getAttribute("aria-sort") || "");
      body.setAttribute("data-sort-first2", firstRow(t));
    }
    if (which.indexOf("hover") >= 0 && D.disks.length > 0) {
      // The first file read: hover the middle cell of its longest extent.
      var d = D.disks[state.disk], best = -1, bestLen = 0, bestOrder = Infinity;
      for (var i = 0; i < d.ext.length; i += 3) {
        var o = D.objects[d.ext[i + 2]];
        if (o.t !== "f") continue;
        if (o.o < bestOrder || (o.o === bestOrder && d.ext[i + 1] > bestLen)) { best = i; bestLen = d.ext[i + 1]; bestOrder = o.o; }
      }
      if (best >= 0) {
        var mid = d.ext[best] + Math.floor(d.ext[best + 1] / 2);
        var cell = Math.floor((mid - state.v0) / state.bpp);
        var r = map.getBoundingClientRect();
        var x = r.left + ((cell % state.cols) + 0.5) * CELL * r.width / map.width;
        var y = r.top + (Math.floor(cell / state.cols) + 0.5) * CELL * r.height / map.height;
        var h = showTip({ clientX: x, clientY: y });
        body.setAttribute("data-hover-want", D.objects[d.ext[best + 2]].p || "");
        body.setAttribute("data-hover-got", h && h.obj >= 0 ? D.objects[h.obj].p || "" : "");
        body.setAttribute("data-hover-text", tip.textContent);
      }
    }
    if (which.indexOf("zoom") >= 0 && D.disks.length > 0 && D.disks[state.disk].parts.length > 0) {
      var before = body.getAttribute("data-map-part-pixels");
      var pi = D.disks[state.disk].parts[D.disks[state.disk].parts.length - 1];
      setView(state.disk, pi);
      body.setAttribute("data-zoom-part-pixels", body.getAttribute("data-map-part-pixels"));
      body.setAttribute("data-zoom-object-pixels", body.getAttribute("data-map-object-pixels"));
      body.setAttribute("data-zoom-view", body.getAttribute("data-map-view"));
      setView(state.disk, null);
      body.setAttribute("data-zoom-back", String(body.getAttribute("data-map-part-pixels") === before));
    }
  }

  if (D.disks.length > 0) {
    setView(0, null);
    mapLegend();
    mark("map");
  } else {
    $("map-section").querySelector(".help").textContent = "No disk layout in this trace.";
    map.hidden = true;
  }
  drawTimeline();
  mark("timeline");
  drawTables();
  mark("tables");
  var resizeTimer = 0;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (D.disks.length > 0) drawMap(); drawTimeline(); }, 150);
  });
  if (window.performance) body.setAttribute("data-draw-ms", (performance.now() - t0).toFixed(1));
  var m = /[?&]test=([^&#]*)/.exec(location.search);
  if (m) selfTest(decodeURIComponent(m[1]).split(","));
  body.setAttribute("data-done", "1");
})();
