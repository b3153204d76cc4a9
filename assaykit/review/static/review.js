// assaykit review: the plate and tube views. Vanilla JS, no framework, no network resource but this
// server. Every name from the run (file, well, patient, condition, reason) goes on the page through
// textContent, never as markup. The data comes from the <script type="application/json"> block the
// server writes (Jinja's tojson) and from the JSON answers of its POSTs.
"use strict";

(function () {
  const DATA = JSON.parse(document.getElementById("review-data").textContent || "{}");
  const CSRF = DATA.csrf || "";
  const BASE = DATA.base || "./";  // the app's secret path (/<secret>/): every address below it
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const SUPER = {"0": "\u2070", "1": "\u00b9", "2": "\u00b2", "3": "\u00b3", "4": "\u2074", "5": "\u2075",
                 "6": "\u2076", "7": "\u2077", "8": "\u2078", "9": "\u2079", "-": "\u207b"};

  // --- small helpers ------------------------------------------------------------------------------
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value; else node.setAttribute(key, value);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function say(text, bad) {
    const box = document.getElementById("message");
    box.textContent = text || "";
    box.className = bad ? "bad" : "";
  }
  function fmt(value, digits) {
    if (value === null || value === undefined || value === "") return "-";
    if (typeof value !== "number") return String(value);
    return value.toLocaleString("en-US", {maximumFractionDigits: digits === undefined ? 0 : digits,
                                          minimumFractionDigits: digits === undefined ? 0 : digits});
  }
  function tickLabel(label) {
    const found = /^\$10\^\{(-?\d+)\}\$$/.exec(label);
    if (!found) return label;
    return "10" + found[1].split("").map((c) => SUPER[c] || c).join("");
  }
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
      body: JSON.stringify(body || {}),
    });
    let doc = null;
    try { doc = await response.json(); } catch (e) { doc = null; }
    if (!response.ok) {
      const error = new Error(doc && doc.error ? doc.error : ("the server answered " + response.status));
      error.code = doc && doc.code ? doc.code : "";
      throw error;
    }
    return doc;
  }
  function verdictClass(verdict) {
    return verdict === "withheld" ? "withheld" : verdict === "reportable_with_warnings" ? "warning" : "ok";
  }
  function verdictText(verdict) {
    return verdict === "reportable_with_warnings" ? "reportable, with warnings" : (verdict || "-");
  }

  // --- density plots ------------------------------------------------------------------------------
  function colour(t) {
    const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
  }

  // A panel (assaykit.gating.panels.Panel.to_dict) drawn on a canvas; returns the mapping between
  // display coordinates and pixels. opts: {axes: bool, extra: [[x, y], ...] points to keep in view}.
  function drawPanel(canvas, panel, opts) {
    opts = opts || {};
    const ratio = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || Number(canvas.getAttribute("width"));
    const cssH = canvas.clientHeight || Number(canvas.getAttribute("height"));
    canvas.width = Math.round(cssW * ratio);
    canvas.height = Math.round(cssH * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const axes = opts.axes !== false;
    const m = axes ? {l: 58, r: 10, t: 10, b: 44} : {l: 4, r: 4, t: 4, b: 4};
    const W = cssW - m.l - m.r, H = cssH - m.t - m.b;
    const xe = panel.x_edges, ye = panel.y_edges || [];
    const twoD = ye.length > 0;
    let x0 = xe[0], x1 = xe[xe.length - 1];
    let y0 = twoD ? ye[0] : 0, y1 = twoD ? ye[ye.length - 1] : 1;
    for (const p of opts.extra || []) {
      x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]);
      if (twoD) { y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
    }
    const padX = (x1 - x0) * (opts.extra && opts.extra.length ? 0.03 : 0);
    const padY = (y1 - y0) * (opts.extra && opts.extra.length ? 0.03 : 0);
    x0 -= padX; x1 += padX; y0 -= padY; y1 += padY;
    const view = {
      left: m.l, top: m.t, width: W, height: H,
      toPx: (x, y) => [m.l + (x - x0) / (x1 - x0) * W, m.t + H - (y - y0) / (y1 - y0) * H],
      fromPx: (px, py) => [x0 + (px - m.l) / W * (x1 - x0), y0 + (m.t + H - py) / H * (y1 - y0)],
    };
    ctx.fillStyle = "#fff";
    ctx.fillRect(m.l, m.t, W, H);
    const counts = panel.counts;
    if (twoD) {
      const nx = counts.length, ny = nx ? counts[0].length : 0;
      let top = 0;
      for (const column of counts) for (const c of column) top = Math.max(top, c);
      const image = document.createElement("canvas");
      image.width = nx; image.height = ny;
      const ictx = image.getContext("2d");
      const pixels = ictx.createImageData(nx, ny);
      const scale = Math.log1p(top) || 1;
      for (let i = 0; i < nx; i++) {
        for (let j = 0; j < ny; j++) {
          const c = counts[i][j];
          const at = ((ny - 1 - j) * nx + i) * 4;
          if (c > 0) {
            const rgb = colour(0.15 + 0.85 * Math.log1p(c) / scale);
            pixels.data[at] = rgb[0]; pixels.data[at + 1] = rgb[1]; pixels.data[at + 2] = rgb[2];
            pixels.data[at + 3] = 255;
          }
        }
      }
      ictx.putImageData(pixels, 0, 0);
      const a = view.toPx(xe[0], ye[ye.length - 1]), b = view.toPx(xe[xe.length - 1], ye[0]);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(image, a[0], a[1], b[0] - a[0], b[1] - a[1]);
    } else {
      let top = 1;
      for (const c of counts) top = Math.max(top, c);
      ctx.fillStyle = "#3b528b";
      for (let i = 0; i < counts.length; i++) {
        const a = view.toPx(xe[i], counts[i] / top * 0.95), b = view.toPx(xe[i + 1], 0);
        ctx.fillRect(a[0], a[1], Math.max(1, b[0] - a[0]), b[1] - a[1]);
      }
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
      for (const bound of panel.bounds || []) {
        const a = view.toPx(bound, 0), b = view.toPx(bound, 1);
        ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
      }
    }
    if (!opts.noOutline) {
      ctx.save();
      ctx.beginPath(); ctx.rect(m.l, m.t, W, H); ctx.clip();
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = axes ? 2 : 1.5;
      for (const outline of panel.outlines || []) drawLine(ctx, view, outline, false);
      ctx.restore();
    }
    ctx.strokeStyle = "#444"; ctx.lineWidth = 1;
    ctx.strokeRect(m.l + 0.5, m.t + 0.5, W - 1, H - 1);
    if (axes) drawAxes(ctx, view, panel, twoD, [x0, x1, y0, y1], cssH);
    return view;
  }

  function drawLine(ctx, view, points, close) {
    if (!points.length) return;
    ctx.beginPath();
    points.forEach((p, i) => {
      const q = view.toPx(p[0], p[1]);
      if (i === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
    });
    if (close) ctx.closePath();
    ctx.stroke();
  }

  function drawAxes(ctx, view, panel, twoD, range, cssH) {
    const [x0, x1, y0, y1] = range;
    ctx.fillStyle = "#222"; ctx.strokeStyle = "#444"; ctx.font = "11px sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    let lastX = -Infinity;
    for (const [pos, label] of panel.x_ticks || []) {
      if (pos < x0 || pos > x1) continue;
      const p = view.toPx(pos, y0);
      if (p[0] - lastX < 26) continue;  // labels never overlap (logicle's 0 beside 10^2)
      lastX = p[0];
      ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(p[0], p[1] + 4); ctx.stroke();
      ctx.fillText(tickLabel(label), p[0], p[1] + 6);
    }
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    let lastY = Infinity;
    for (const [pos, label] of (twoD ? panel.y_ticks || [] : [])) {
      if (pos < y0 || pos > y1) continue;
      const p = view.toPx(x0, pos);
      if (lastY - p[1] < 14) continue;
      lastY = p[1];
      ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(p[0] - 4, p[1]); ctx.stroke();
      ctx.fillText(tickLabel(label), p[0] - 6, p[1]);
    }
    ctx.font = "12px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText(panel.x_label, view.left + view.width / 2, cssH - 2);
    ctx.save();
    ctx.translate(12, view.top + view.height / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(panel.y_label, 0, 0);
    ctx.restore();
  }

  // --- the reviewer's name ------------------------------------------------------------------------
  function setupReviewer() {
    const name = document.getElementById("reviewer-name");
    const form = document.getElementById("reviewer-form");
    const box = document.getElementById("reviewer-box");
    document.getElementById("run-name").textContent = DATA.run || "";
    if (DATA.reviewer) {
      name.textContent = DATA.reviewer;
      return;
    }
    box.hidden = true;
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const doc = await post(BASE + "api/reviewer", {name: document.getElementById("reviewer-input").value});
        DATA.reviewer = doc.reviewer;
        name.textContent = doc.reviewer;
        box.hidden = false; form.hidden = true;
        say("reviewing as " + doc.reviewer);
      } catch (error) { say(error.message, true); }
    });
  }
  function needReviewer() {
    if (DATA.reviewer) return false;
    say("give your name first (top right)", true);
    document.getElementById("reviewer-input").focus();
    return true;
  }

  // --- the plate ----------------------------------------------------------------------------------
  function gatePanel(tube) {
    if (tube.panel) return tube.panel;
    const panels = tube.panels || [];
    return panels.find((p) => p.population === tube.gate_population) || panels[panels.length - 1] || null;
  }
  function statusText(tube) {
    return tube.status ? String(tube.status).replace(/_/g, " ") : "";
  }
  function hasEntry(tube) {  // a run.yaml entry (a changed gate, an exclusion): no automatic gate to accept
    return ["changed", "excluded", "hand_written"].includes(tube.status);
  }

  function plateView() {
    const plate = document.getElementById("plate");
    const tubes = DATA.tubes || [];
    const cards = [];
    const patients = new Set(), conditions = new Set();
    tubes.forEach((tube) => { patients.add(tube.patient || ""); conditions.add(tube.condition || ""); });
    for (const [id, values] of [["filter-patient", patients], ["filter-condition", conditions]]) {
      const select = document.getElementById(id);
      [...values].filter((v) => v).sort().forEach((v) => select.appendChild(el("option", {value: v}, v)));
    }
    tubes.forEach((tube, index) => {
      const card = el("a", {class: "card", href: BASE + "tube/" + tube.id, "data-id": String(tube.id), tabindex: "-1"});
      const canvas = el("canvas", {width: "180", height: "160", "aria-hidden": "true"});
      card.appendChild(canvas);
      const head = el("div", {class: "line"});
      head.appendChild(el("strong", {class: "well"}, tube.well || tube.file));
      head.appendChild(el("span", {class: "badge " + verdictClass(tube.verdict)}, verdictText(tube.verdict)));
      card.appendChild(head);
      card.appendChild(el("div", {class: "who"}, [tube.patient, tube.timepoint, tube.condition]
        .filter((v) => v).join(" \u00b7 ")));
      const abc = el("div", {class: "abc"});
      abc.appendChild(el("span", {}, "AB/C "));
      abc.appendChild(el("strong", {class: "abc-value"}, tube.verdict === "withheld" ? "withheld" : fmt(tube.hladr_abc)));
      card.appendChild(abc);
      card.appendChild(el("div", {class: "status"}, statusText(tube)));
      card.title = tube.file || "";
      plate.appendChild(card);
      const panel = gatePanel(tube);
      if (panel) {
        const gate = tube.gate_display;
        const view = drawPanel(canvas, panel, {axes: false, noOutline: !!gate});
        if (gate && gate.length) {
          const ctx = canvas.getContext("2d");
          ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.5;
          drawLine(ctx, view, gate, true);
        }
      }
      cards.push({card, tube, index});
    });
    let current = 0;
    function visible() { return cards.filter((c) => !c.card.hidden); }
    function focus(i) {
      const shown = visible();
      if (!shown.length) return;
      current = Math.max(0, Math.min(shown.length - 1, i));
      cards.forEach((c) => c.card.classList.remove("selected"));
      shown[current].card.classList.add("selected");
      shown[current].card.focus({preventScroll: false});
    }
    function applyFilters() {
      const verdict = document.getElementById("filter-verdict").value;
      const patient = document.getElementById("filter-patient").value;
      const condition = document.getElementById("filter-condition").value;
      for (const {card, tube} of cards) {
        let show = true;
        if (verdict === "withheld") show = tube.verdict === "withheld";
        if (verdict === "warnings") show = tube.verdict === "reportable_with_warnings";
        if (verdict === "changed") show = ["changed", "excluded", "hand_written", "reviewed"].includes(tube.status);
        if (patient && tube.patient !== patient) show = false;
        if (condition && tube.condition !== condition) show = false;
        card.hidden = !show;
      }
      focus(0);
    }
    ["filter-verdict", "filter-patient", "filter-condition"].forEach((id) =>
      document.getElementById(id).addEventListener("change", applyFilters));
    async function accept(entry) {
      if (needReviewer()) return;
      if (hasEntry(entry.tube)) {
        say((entry.tube.well || entry.tube.file) + " is " + statusText(entry.tube) +
            ": open it to revert to the automatic gate", true);
        return;
      }
      try {
        const doc = await post(BASE + "api/tube/" + entry.tube.id + "/accept", {});
        Object.assign(entry.tube, doc.result.tube);
        entry.card.querySelector(".status").textContent = statusText(entry.tube) || "accepted";
        say("accepted the automatic gate of " + (entry.tube.well || entry.tube.file));
      } catch (error) { say(error.message, true); }
    }
    document.addEventListener("keydown", (event) => {
      if (event.target.closest("input, select, textarea, form")) return;
      const shown = visible();
      if (["j", "ArrowRight", "ArrowDown"].includes(event.key)) { focus(current + 1); event.preventDefault(); }
      else if (["k", "ArrowLeft", "ArrowUp"].includes(event.key)) { focus(current - 1); event.preventDefault(); }
      else if (event.key === "Enter" && shown[current]) {
        event.preventDefault(); window.location.href = shown[current].card.getAttribute("href");
      }
      else if (event.key === "a" && shown[current]) { event.preventDefault(); accept(shown[current]); }
    });
    focus(0);
    signatures();
  }

  function signatures() {
    const list = document.getElementById("signature-list");
    const form = document.getElementById("sign-form");
    if (!list) return;
    function show(items) {
      list.textContent = "";
      if (!items || !items.length) { list.appendChild(el("li", {class: "unsigned"}, "not signed")); return; }
      for (const s of items) {
        const superseded = s.status === "superseded";
        const item = el("li", {class: "signature" + (superseded ? " superseded" : "")});
        item.appendChild(el("strong", {class: "meaning"}, s.meaning));
        item.appendChild(el("span", {}, " by "));
        item.appendChild(el("span", {class: "signer"}, s.name || s.reviewer));
        item.appendChild(el("span", {}, " at " + (s.at || "") + " \u00b7 outputs " + String(s.outputs_sha256 || "").slice(0, 12)));
        if (s.session_reviewer && s.name && s.session_reviewer !== s.name) {
          item.appendChild(el("span", {class: "session"}, " (signed in " + s.session_reviewer + "'s session)"));
        }
        if (typeof s.tubes_viewed === "number" && typeof s.tubes_total === "number") {
          item.appendChild(el("span", {class: "viewed"}, " (viewed " + s.tubes_viewed + " of " + s.tubes_total + " tubes)"));
        }
        if (superseded) item.appendChild(el("em", {}, " superseded (kept in " + (s.kept_in || "versions/") + ")"));
        list.appendChild(item);
      }
    }
    show(DATA.signatures);
    const nameField = document.getElementById("sign-name");
    nameField.value = DATA.reviewer || "";
    nameField.placeholder = "the signer's full name";
    // typing replaces the prefilled name (a click's mouseup would otherwise undo the selection)
    nameField.addEventListener("focus", () => setTimeout(() => nameField.select(), 0));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const meaning = document.getElementById("sign-meaning").value;
      const name = nameField.value.split(/\s+/).filter((w) => w).join(" ");
      const viewed = DATA.viewed;
      if (DATA.reviewer && name && name !== DATA.reviewer &&
          !window.confirm("This review session is " + DATA.reviewer + "'s. Sign as " + name +
                          " instead?\n\nThe signature records that it was given in " + DATA.reviewer +
                          "'s session.")) {
        say("not signed");
        return;
      }
      if (meaning === "reviewed" && viewed && viewed.tubes_viewed < viewed.tubes_total) {
        // allowed (the lab's procedure decides), but said and confirmed first; the signature records it
        const missing = viewed.tubes_not_viewed;
        const listed = missing.slice(0, 12).join(", ") + (missing.length > 12 ? ", ..." : ".");
        if (!window.confirm("You viewed " + viewed.tubes_viewed + " of " + viewed.tubes_total +
                            " tubes: not viewed " + listed + "\n\nSign as reviewed anyway?")) {
          say("not signed");
          return;
        }
      }
      say("signing (the run is re-scored) ...");
      try {
        const doc = await post(BASE + "api/sign", {meaning, name});
        show(doc.signatures);
        say("signed " + meaning + " by " + name);
      } catch (error) { say(error.message, true); }
    });
  }

  // --- one tube -----------------------------------------------------------------------------------
  function tubeView() {
    const tube = DATA.tube;
    const tubes = DATA.tubes || [];
    const index = tubes.findIndex((t) => t.id === tube.id);
    const prev = tubes[index - 1], next = tubes[index + 1];
    const prevLink = document.getElementById("prev"), nextLink = document.getElementById("next");
    if (prev) prevLink.href = BASE + "tube/" + prev.id; else prevLink.hidden = true;
    if (next) nextLink.href = BASE + "tube/" + next.id; else nextLink.hidden = true;
    document.getElementById("tube-title").textContent =
      [tube.well, tube.file, tube.patient, tube.timepoint, tube.condition].filter((v) => v).join(" \u00b7 ");
    document.getElementById("gate-name").textContent = tube.gate_population || "";
    document.getElementById("patient-name").textContent = tube.patient || "";

    const holder = document.getElementById("panels");
    if (tube.figure_problem) holder.appendChild(el("p", {class: "problem", id: "figure-problem"}, tube.figure_problem));
    let gateCanvas = null, gatePanelData = null;
    const figures = {};  // population -> {canvas, caption}
    function caption(panel) {
      if (panel.no_gate) return panel.population + ": no gate (the automatic gating failed: draw one)";
      return panel.population + ": " + fmt(panel.count) + " (" + fmt(panel.percent_of_parent, 1) + " % of " +
        panel.parent + ")";
    }
    for (const panel of tube.panels || []) {
      const figure = el("figure", {class: "panel"});
      const canvas = el("canvas", {width: "300", height: "280"});
      figure.appendChild(canvas);
      const text = el("figcaption", {}, caption(panel));
      figure.appendChild(text);
      figures[panel.population] = {canvas, caption: text};
      holder.appendChild(figure);
      if (panel.population === tube.gate_population) {
        gateCanvas = canvas; gatePanelData = panel;
        canvas.id = "gate-canvas"; figure.classList.add("editable");
      } else {
        drawPanel(canvas, panel, {axes: true});
      }
    }

    function showTube(t) {
      document.getElementById("abc").textContent = t.verdict === "withheld" ? "withheld" : fmt(t.hladr_abc);
      const verdict = document.getElementById("verdict");
      verdict.textContent = verdictText(t.verdict);
      verdict.className = "badge " + verdictClass(t.verdict);
      const reasons = t.verdict_reasons;
      document.getElementById("reasons").textContent = Array.isArray(reasons) ? reasons.join("; ") : (reasons || "");
      document.getElementById("gate-status").textContent = statusText(t) || "automatic";
      showGateProblem(t.gate_problem);
      showButtons(t);
    }
    function showButtons(t) {  // accept only an automatic gate; revert only a run.yaml entry
      const accept = document.getElementById("accept"), revert = document.getElementById("revert");
      const entry = hasEntry(t);
      accept.disabled = entry || !!t.figure_problem;
      accept.title = entry ? "this tube has a run.yaml entry (" + statusText(t) + "): revert it to go back to " +
        "the automatic gate" : t.figure_problem ? "the automatic gating failed: there is no gate to accept" : "";
      revert.hidden = !entry;
      revert.textContent = t.status === "excluded" ? "Include the tube again" : "Revert to the automatic gate";
    }
    function showGateCaption(r) {  // the gate's panel caption during a preview: the previewed count
      const figure = figures[tube.gate_population];
      if (!figure || !gatePanelData) return;
      figure.caption.textContent = caption(Object.assign({}, gatePanelData, {
        no_gate: false, count: r.monocytes, percent_of_parent: r.monocytes_pct}));
    }
    function showGateProblem(text) {  // a drawn gate of implausible share (finding drawn_gate_implausible)
      const box = document.getElementById("gate-problem");
      if (!box) return;
      box.textContent = text ? "Withheld: " + text : "";
      box.hidden = !text;
    }
    function showPatient(rows, p) {
      rows = rows || [];
      const body = document.querySelector("#patient-table tbody");
      body.textContent = "";
      for (const r of rows) {
        const tr = el("tr");
        const withheld = r.verdict === "withheld";  // the comparison; the drug's AB/C by its own verdict (abc)
        const noControl = withheld && (r.control_abc === null || r.control_abc === undefined);
        const noDrug = r.abc === null || r.abc === undefined;
        [r.condition, noDrug ? "withheld" : fmt(r.abc), noControl ? "control withheld" : withheld ? "-" : fmt(r.fold_change, 2),
         withheld ? "-" : (r.state_drug || "-"), withheld ? "-" : (r.responder === true ? "yes" : r.responder === false ? "no" : "-"),
         verdictText(r.verdict)].forEach((v) => tr.appendChild(el("td", {}, v)));
        body.appendChild(tr);
      }
      p = p || {};
      const parts = [];
      if (p.state) parts.push("state: " + p.state);
      if (p.immunosep_class) parts.push("ImmunoSep class: " + p.immunosep_class);
      if (p.control_abc !== undefined && p.control_abc !== null) parts.push("control AB/C: " + fmt(p.control_abc));
      document.getElementById("patient-state").textContent = parts.join(" \u00b7 ");
    }
    showTube(tube);
    showPatient(tube.restoration, tube.patient_row);

    // The editable gate: the polygon in display coordinates of its panel (where it is drawn) and,
    // for each vertex the reviewer has not moved, its scale values as the server gave them: those
    // go back exactly (a moved or new vertex goes as display coordinates, the server converts it).
    const original = [], originalScale = [];
    function setOriginal(edit) {
      original.length = 0; originalScale.length = 0;
      if (edit && edit.display && edit.scale && edit.display.length === edit.scale.length) {
        edit.display.forEach((p, i) => { original.push([p[0], p[1]]); originalScale.push(edit.scale[i].slice()); });
        return;
      }
      const outline = gatePanelData && gatePanelData.outlines && gatePanelData.outlines.length
        ? gatePanelData.outlines[0].map((p) => [p[0], p[1]]) : [];
      if (outline.length > 1) {
        const a = outline[0], b = outline[outline.length - 1];
        if (Math.abs(a[0] - b[0]) < 1e-6 && Math.abs(a[1] - b[1]) < 1e-6) outline.pop();  // closed: each vertex once
      }
      outline.forEach((p) => { original.push(p); originalScale.push(null); });
    }
    setOriginal(tube.gate_edit);
    let polygon = original.map((p) => p.slice());
    let scales = originalScale.map((v) => v && v.slice());  // null: moved or new (send display coordinates)
    function sent() { return polygon.map((p, i) => (scales[i] ? {scale: scales[i]} : p)); }
    let drawing = null;  // the vertices of a polygon being drawn
    let dragging = -1;
    let view = null;
    let edited = false;
    function redraw() {
      if (!gateCanvas) return;
      const extra = polygon.concat(original);
      view = drawPanel(gateCanvas, gatePanelData, {axes: true, extra, noOutline: true});
      const ctx = gateCanvas.getContext("2d");
      ctx.save();
      if (edited && original.length) {
        ctx.setLineDash([4, 4]); ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
        drawLine(ctx, view, original, true); ctx.setLineDash([]);
      }
      const shape = drawing || polygon;
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2;
      drawLine(ctx, view, shape, !drawing);
      ctx.fillStyle = "#fff";
      for (const p of shape) {
        const q = view.toPx(p[0], p[1]);
        ctx.beginPath(); ctx.arc(q[0], q[1], 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      }
      ctx.restore();
      gateCanvas.dataset.vertices = JSON.stringify(shape.map((p) => view.toPx(p[0], p[1]).map(Math.round)));
    }
    function pointer(event) {
      const rect = gateCanvas.getBoundingClientRect();
      return [event.clientX - rect.left, event.clientY - rect.top];
    }
    function nearest(px) {
      let best = -1, bestD = 10;
      polygon.forEach((p, i) => {
        const q = view.toPx(p[0], p[1]);
        const d = Math.hypot(q[0] - px[0], q[1] - px[1]);
        if (d < bestD) { best = i; bestD = d; }
      });
      return best;
    }
    let previewTimer = null, previewSeq = 0;
    function preview() {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(async () => {
        const seq = ++previewSeq;
        try {
          const doc = await post(BASE + "api/tube/" + tube.id + "/preview", {polygon: sent()});
          if (seq !== previewSeq) return;
          const r = doc.result.tube;
          document.getElementById("preview-abc").textContent = r.verdict === "withheld" ? "withheld" : fmt(r.hladr_abc);
          // "withheld" once: the AB/C says it, the verdict is not repeated
          document.getElementById("preview-verdict").textContent = r.verdict === "withheld" ? "" : verdictText(r.verdict);
          showGateProblem(r.gate_problem);
          showGateCaption(r);
          say("");
        } catch (error) { say(error.message, true); }
      }, 60);
    }
    if (gateCanvas) {
      gateCanvas.addEventListener("pointerdown", (event) => {
        const px = pointer(event);
        if (drawing) {
          const first = drawing.length ? view.toPx(drawing[0][0], drawing[0][1]) : null;
          if (first && drawing.length >= 3 && Math.hypot(first[0] - px[0], first[1] - px[1]) < 10) {
            polygon = drawing; scales = drawing.map(() => null); drawing = null; edited = true; redraw(); preview();
            return;
          }
          drawing.push(view.fromPx(px[0], px[1])); redraw(); return;
        }
        dragging = nearest(px);
        if (dragging >= 0) { gateCanvas.setPointerCapture(event.pointerId); event.preventDefault(); }
      });
      gateCanvas.addEventListener("pointermove", (event) => {
        if (dragging < 0) return;
        const px = pointer(event);
        polygon[dragging] = view.fromPx(px[0], px[1]);
        scales[dragging] = null;  // this vertex only: the others keep their exact scale values
        edited = true;
        redraw();
      });
      const release = () => { if (dragging >= 0) { dragging = -1; preview(); } };
      gateCanvas.addEventListener("pointerup", release);
      gateCanvas.addEventListener("pointercancel", release);
      gateCanvas.addEventListener("dblclick", () => {
        if (drawing && drawing.length >= 3) {
          polygon = drawing; scales = drawing.map(() => null); drawing = null; edited = true; redraw(); preview();
        }
      });
      redraw();
    }
    document.getElementById("draw").addEventListener("click", () => {
      drawing = []; say("click each vertex; double-click or click the first vertex to close; Esc cancels"); redraw();
    });
    document.getElementById("reset").addEventListener("click", () => {
      polygon = original.map((p) => p.slice()); scales = originalScale.map((v) => v && v.slice());
      drawing = null; edited = false; redraw();
      document.getElementById("preview-abc").textContent = "-";
      document.getElementById("preview-verdict").textContent = "";
      showGateProblem(tube.gate_problem);
      if (figures[tube.gate_population] && gatePanelData) figures[tube.gate_population].caption.textContent = caption(gatePanelData);
    });
    async function act(action, body, done) {
      if (needReviewer()) return;
      try {
        const doc = await post(BASE + "api/tube/" + tube.id + "/" + action, body);
        Object.assign(tube, doc.result.tube);
        showTube(tube);
        showPatient(doc.result.restoration, doc.result.patient);
        for (const panel of doc.result.panels || []) {  // the steps as they are now: counts in the captions
          const figure = figures[panel.population];
          if (!figure) continue;
          figure.caption.textContent = caption(panel);
          if (panel.population === tube.gate_population) gatePanelData = panel;
          else drawPanel(figure.canvas, panel, {axes: true});
        }
        {  // the gate as saved, its scale values as the server has them (edits not saved end with the action)
          if (doc.result.gate_edit) setOriginal(doc.result.gate_edit);
          else if (action === "change") { original.length = 0; originalScale.length = 0;
            polygon.forEach((p) => { original.push(p.slice()); originalScale.push(null); }); }
          else setOriginal(null);  // no gate (its automatic gating fails): the panel's outline, if any
          polygon = original.map((p) => p.slice()); scales = originalScale.map((v) => v && v.slice());
          edited = false; drawing = null;
          document.getElementById("preview-abc").textContent = "-";
          document.getElementById("preview-verdict").textContent = "";
        }
        if ("figure_problem" in doc.result) {
          tube.figure_problem = doc.result.figure_problem;
          const shown = document.getElementById("figure-problem");
          if (shown) { shown.textContent = tube.figure_problem || ""; shown.hidden = !tube.figure_problem; }
          showButtons(tube);
        }
        redraw();
        say(done);
      } catch (error) {
        if (error.code === "hand_written" && !body.confirm &&
            window.confirm(error.message + "\n\nReplace the hand-written entry? Both are kept in the audit trail.")) {
          return act(action, Object.assign({}, body, {confirm: true}), done);
        }
        say(error.message, true);
      }
    }
    function reason() {
      const text = document.getElementById("reason").value.trim();
      if (!text) { say("give a reason first", true); document.getElementById("reason").focus(); }
      return text;
    }
    document.getElementById("save").addEventListener("click", () => {
      if (!edited) { say("change the gate first (drag a vertex or draw a polygon)", true); return; }
      const text = reason();
      if (text) act("change", {polygon: sent(), reason: text}, "gate saved to run.yaml and recorded in the audit trail");
    });
    document.getElementById("exclude").addEventListener("click", () => {
      const text = reason();
      if (text) act("exclude", {reason: text}, "tube excluded; recorded in the audit trail");
    });
    function unsaved() { return edited || (drawing !== null && drawing.length > 0); }
    function leave(where) {  // unsaved edits are lost only when the reviewer says so
      if (unsaved() && !window.confirm("Your edits of this gate are not saved. Leave and lose them?")) return;
      edited = false; drawing = null;
      window.location.href = where;
    }
    for (const link of [prevLink, nextLink, document.getElementById("back")]) {
      link.addEventListener("click", (event) => { event.preventDefault(); leave(link.href); });
    }
    document.getElementById("accept").addEventListener("click", () => {
      if (document.getElementById("accept").disabled) return;
      if (unsaved() && !window.confirm("Your edits of this gate are not saved. Discard them and accept the " +
                                       "automatic gate?")) return;
      if (unsaved()) document.getElementById("reset").click();
      act("accept", {}, "automatic gate accepted; recorded in the audit trail");
    });
    document.getElementById("revert").addEventListener("click", () => {
      const text = reason();
      if (text) act("revert", {reason: text}, tube.status === "excluded"
        ? "tube included again with its automatic gate; run.yaml entry removed, recorded in the audit trail"
        : "automatic gate restored; run.yaml entry removed, recorded in the audit trail");
    });
    document.addEventListener("keydown", (event) => {
      if (event.target.closest("input, select, textarea, form")) return;
      if (event.key === "Escape" && drawing) { drawing = null; redraw(); say(""); return; }
      if (event.key === "Escape") leave(BASE);
      else if ((event.key === "j" || event.key === "ArrowRight") && next) leave(BASE + "tube/" + next.id);
      else if ((event.key === "k" || event.key === "ArrowLeft") && prev) leave(BASE + "tube/" + prev.id);
      else if (event.key === "a") { event.preventDefault(); document.getElementById("accept").click(); }
    });
  }

  setupReviewer();
  const view = document.body.dataset.view;
  if (view === "plate") plateView();
  else if (view === "tube") tubeView();
})();
