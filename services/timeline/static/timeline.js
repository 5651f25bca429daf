// pivotwatch timeline page: draws a company's chronology from the JSON API.
//
// Every piece of data reaches the DOM through textContent or a checked attribute, never parsed as
// markup: a title like "<script>…" is shown as the text it is. Dates are shown at the precision
// they are known ("2023-11" stays a month). Phases come from /v1/companies/{slug}/phases when this
// server has it, otherwise they are derived from the events that opened them.
(function () {
  "use strict";

  const body = document.body;
  const state = {
    company: body.dataset.company || "",
    hasPhasesApi: body.dataset.phasesApi === "1",
    hasStreamApi: body.dataset.streamApi === "1",
    events: [],
    phases: [],
    byId: new Map(),
    categories: new Map(), // slug -> label
    hidden: new Set(), // categories switched off in the legend
    filters: { q: "", from: "", to: "", importance: 0 },
    visible: [],
    selectedId: null,
    focusId: null, // the mark that holds the chart's tab stop
    fresh: new Set(),
    lastTrigger: null,
  };

  const CATEGORY_ORDER = [
    "governance", "funding", "licensing", "product",
    "competition", "regulation", "legal", "leadership",
  ];
  const BAND_COLOURS = 5;
  const MAX_PAGES = 20; // 20 x 500 events: far more than one page can usefully draw
  const DAY = 86400000;
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const MONTHS_LONG = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];

  const $ = (id) => document.getElementById(id);

  // ---------- DOM helpers (text only) ----------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function catClass(slug) {
    return CATEGORY_ORDER.includes(slug) ? "cat-" + slug : "cat-other";
  }

  function safeUrl(raw) {
    try {
      const url = new URL(String(raw));
      return url.protocol === "https:" || url.protocol === "http:" ? url : null;
    } catch (_) {
      return null;
    }
  }

  // ---------- dates ----------

  function dayMs(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso || ""));
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) : NaN;
  }

  function isoDay(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  const TODAY = dayMs(new Date().toISOString());

  // Open interval ends are stored as year 1 / year 9999; they are not points on the axis.
  function finiteStart(ev) {
    return ev.occurred_start.startsWith("0001-") ? dayMs(ev.occurred_end) : dayMs(ev.occurred_start);
  }

  function finiteEnd(ev) {
    return ev.occurred_end.startsWith("9999-") ? finiteStart(ev) : dayMs(ev.occurred_end);
  }

  // "2019-03-11" -> "11 March 2019", "2023-11" -> "November 2023", "2015" -> "2015".
  function humanPart(part, long) {
    const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?([~?%])?$/.exec(part);
    if (!m) return part;
    const months = long ? MONTHS_LONG : MONTHS;
    let out = m[1];
    if (m[2]) out = months[+m[2] - 1] + " " + out;
    if (m[3]) out = +m[3] + " " + out;
    if (m[4] === "~") out = "circa " + out;
    else if (m[4] === "?") out += " (uncertain)";
    else if (m[4] === "%") out = "circa " + out + " (uncertain)";
    return out;
  }

  function humanDate(occurred, long) {
    const text = String(occurred || "");
    if (text.includes("/")) {
      const [a, b] = text.split("/");
      const left = a && a !== ".." ? humanPart(a, long) : "…";
      const right = b && b !== ".." ? humanPart(b, long) : "…";
      return left + " – " + right;
    }
    return humanPart(text, long);
  }

  // ---------- data ----------

  async function getJson(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (!res.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : res.statusText;
      const err = new Error(detail || "HTTP " + res.status);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  async function loadEvents(slug) {
    const out = [];
    let cursor = null;
    for (let i = 0; i < MAX_PAGES; i++) {
      const params = new URLSearchParams({ limit: "500" });
      if (cursor) params.set("cursor", cursor);
      const page = await getJson("/v1/companies/" + encodeURIComponent(slug) + "/timeline?" + params);
      for (const ev of page.events || []) out.push(ev);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return out;
  }

  // Accepts `{phases: [...]}` or a bare list; each phase names itself (phase/slug/name) and has a
  // start. Anything else is not understood and the page derives the phases itself.
  function parsePhases(data) {
    const list = Array.isArray(data) ? data : data && Array.isArray(data.phases) ? data.phases : null;
    if (!list) return null;
    const out = [];
    for (const p of list) {
      if (!p || typeof p !== "object") return null;
      const slug = p.phase || p.slug || p.name;
      const start = p.start || p.started || p.from;
      if (typeof slug !== "string" || typeof start !== "string" || isNaN(dayMs(start))) return null;
      const end = typeof p.end === "string" && !isNaN(dayMs(p.end)) ? p.end.slice(0, 10) : null;
      const opener = p.event && typeof p.event === "object" ? p.event.id : p.event_id || p.opened_by;
      out.push({
        slug,
        name: typeof p.name === "string" && p.name !== slug ? p.name : null,
        start: start.slice(0, 10),
        end,
        eventId: typeof opener === "string" ? opener : null,
      });
    }
    return out;
  }

  function derivePhases(events) {
    const openers = events
      .filter((ev) => typeof ev.transition_to === "string" && ev.transition_to)
      .sort((a, b) => finiteStart(a) - finiteStart(b));
    return openers.map((ev, i) => ({
      slug: ev.transition_to,
      name: null,
      start: isoDay(finiteStart(ev)),
      end: i + 1 < openers.length ? isoDay(finiteStart(openers[i + 1])) : null,
      eventId: ev.id,
    }));
  }

  async function loadPhases(slug, events) {
    if (state.hasPhasesApi) {
      try {
        const parsed = parsePhases(await getJson("/v1/companies/" + encodeURIComponent(slug) + "/phases"));
        if (parsed) return parsed;
      } catch (_) {
        // Fall through: the derived phases are the same eras, computed here.
      }
    }
    return derivePhases(events);
  }

  function phaseLabel(phase) {
    // The API names phases in lower case ("capped profit"); a band label starts a sentence.
    const words = phase.name || String(phase.slug).replace(/[-_]+/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function phaseSlugLabel(slug) {
    const known = state.phases.find((p) => p.slug === slug);
    return known ? phaseLabel(known) : phaseLabel({ slug, name: null });
  }

  function phaseIndex(slug) {
    const i = state.phases.findIndex((p) => p.slug === slug);
    return i < 0 ? -1 : i % BAND_COLOURS;
  }

  function setData(events, phases) {
    events.sort((a, b) => finiteStart(a) - finiteStart(b) || finiteEnd(a) - finiteEnd(b)
      || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    state.events = events;
    state.phases = phases;
    state.byId = new Map(events.map((ev) => [ev.id, ev]));
    const cats = new Map();
    for (const ev of events) cats.set(ev.category, ev.category_label || ev.category);
    state.categories = new Map(
      [...cats.entries()].sort((a, b) => {
        const ia = CATEGORY_ORDER.indexOf(a[0]);
        const ib = CATEGORY_ORDER.indexOf(b[0]);
        return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a[0].localeCompare(b[0]);
      }),
    );
  }

  // ---------- filters ----------

  function haystack(ev) {
    if (!ev._text) {
      const ents = Array.isArray(ev.entities) ? ev.entities.map((e) => (e && e.value) || "").join(" ") : "";
      ev._text = [ev.title, ev.summary, ev.category_label, ents].join(" ").toLowerCase();
    }
    return ev._text;
  }

  function applyFilters() {
    const f = state.filters;
    const words = f.q.toLowerCase().split(/\s+/).filter(Boolean);
    const from = f.from ? dayMs(f.from) : -Infinity;
    const to = f.to ? dayMs(f.to) : Infinity;
    state.visible = state.events.filter((ev) => {
      if (state.hidden.has(ev.category)) return false;
      if ((ev.importance || 0) < f.importance) return false;
      if (dayMs(ev.occurred_end) < from || dayMs(ev.occurred_start) > to) return false;
      const text = haystack(ev);
      return words.every((w) => text.includes(w));
    });
  }

  function readFiltersFromUrl() {
    const p = new URLSearchParams(location.search);
    state.filters.q = (p.get("q") || "").slice(0, 200);
    state.filters.from = /^\d{4}-\d{2}-\d{2}$/.test(p.get("from") || "") ? p.get("from") : "";
    state.filters.to = /^\d{4}-\d{2}-\d{2}$/.test(p.get("to") || "") ? p.get("to") : "";
    const imp = parseInt(p.get("min_importance") || "0", 10);
    state.filters.importance = isNaN(imp) ? 0 : Math.max(0, Math.min(100, imp));
    for (const c of (p.get("hide") || "").split(",")) if (c) state.hidden.add(c);
    $("q").value = state.filters.q;
    $("from").value = state.filters.from;
    $("to").value = state.filters.to;
    $("importance").value = String(state.filters.importance);
    $("importance-value").textContent = String(state.filters.importance);
  }

  function writeFiltersToUrl() {
    const f = state.filters;
    const p = new URLSearchParams();
    if (f.q) p.set("q", f.q);
    if (f.from) p.set("from", f.from);
    if (f.to) p.set("to", f.to);
    if (f.importance) p.set("min_importance", String(f.importance));
    if (state.hidden.size) p.set("hide", [...state.hidden].join(","));
    const qs = p.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  function onFiltersChanged() {
    const f = state.filters;
    f.q = $("q").value.trim();
    f.from = $("from").value;
    f.to = $("to").value;
    f.importance = parseInt($("importance").value, 10) || 0;
    $("importance-value").textContent = String(f.importance);
    writeFiltersToUrl();
    render();
  }

  // ---------- rendering ----------

  function renderLegend() {
    const legend = $("legend");
    for (const node of [...legend.children]) if (node.tagName !== "LEGEND") node.remove();
    const counts = new Map();
    for (const ev of state.events) counts.set(ev.category, (counts.get(ev.category) || 0) + 1);
    for (const [slug, label] of state.categories) {
      const chip = el("label", "chip " + catClass(slug) + (state.hidden.has(slug) ? " off" : ""));
      chip.dataset.category = slug;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = !state.hidden.has(slug);
      box.addEventListener("change", () => {
        if (box.checked) state.hidden.delete(slug);
        else state.hidden.add(slug);
        chip.classList.toggle("off", !box.checked);
        writeFiltersToUrl();
        render();
      });
      chip.append(box, el("span", "swatch"), el("span", "chip-label", label), el("span", "count", counts.get(slug) || 0));
      legend.append(chip);
    }
  }

  function domain() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const ev of state.visible) {
      lo = Math.min(lo, finiteStart(ev));
      hi = Math.max(hi, finiteEnd(ev));
    }
    for (const p of state.phases) {
      lo = Math.min(lo, dayMs(p.start));
      hi = Math.max(hi, p.end ? dayMs(p.end) : TODAY);
    }
    if (state.filters.from) lo = dayMs(state.filters.from);
    if (state.filters.to) hi = dayMs(state.filters.to);
    if (!isFinite(lo) || !isFinite(hi)) return null;
    if (hi - lo < 60 * DAY) {
      lo -= 30 * DAY;
      hi += 30 * DAY;
    }
    const pad = (hi - lo) * 0.015;
    return [lo - pad, hi + pad];
  }

  function ticks(lo, hi, width) {
    const years = (hi - lo) / (365.25 * DAY);
    const out = [];
    const first = new Date(lo);
    if (years > 2.5) {
      const step = Math.max(1, Math.ceil(years / Math.max(1, width / 70)));
      for (let y = first.getUTCFullYear() + 1; Date.UTC(y, 0, 1) <= hi; y++) {
        if (y % step === 0) out.push([Date.UTC(y, 0, 1), String(y)]);
      }
    } else {
      const months = years * 12;
      const step = [1, 2, 3, 6].find((s) => months / s <= width / 70) || 12;
      let y = first.getUTCFullYear();
      let m = first.getUTCMonth() + 1;
      for (; Date.UTC(y, m, 1) <= hi; m++) {
        const t = Date.UTC(y, m, 1);
        const d = new Date(t);
        if (d.getUTCMonth() % step === 0) {
          // January shows its year, and so does the first tick, so the axis always says the year.
          const withYear = d.getUTCMonth() === 0 ? String(d.getUTCFullYear())
            : MONTHS[d.getUTCMonth()] + (out.length ? "" : " " + d.getUTCFullYear());
          out.push([t, withYear]);
        }
      }
    }
    return out;
  }

  const LANE = 25;
  const TOP = 30; // room for the band labels
  const AXIS = 30;
  const MAX_LANES = 14;

  function renderChart() {
    const chart = $("chart");
    clear(chart);
    hideTip();
    const width = chart.clientWidth || 900;
    const dom = domain();
    if (!dom || !state.visible.length && !state.phases.length) {
      chart.style.height = "160px";
      chart.append(el("p", "empty", state.events.length ? "No event matches these filters." : "No events recorded yet."));
      return;
    }
    const [lo, hi] = dom;
    const x = (ms) => ((ms - lo) / (hi - lo)) * width;

    // Marks first, to know how many lanes the chart needs.
    const placed = [];
    const laneEnds = [];
    for (const ev of state.visible) {
      const size = 12 + Math.round((Math.max(0, Math.min(100, ev.importance || 0)) / 100) * 10);
      const x0 = x(finiteStart(ev));
      const x1 = x(finiteEnd(ev) + DAY);
      const w = Math.max(size, x1 - x0);
      const left = ev.precision === "day" ? x0 - size / 2 : x0;
      let lane = laneEnds.findIndex((end) => end + 3 <= left);
      if (lane < 0) {
        if (laneEnds.length < MAX_LANES) lane = laneEnds.length;
        else lane = laneEnds.indexOf(Math.min(...laneEnds));
      }
      laneEnds[lane] = Math.max(laneEnds[lane] || -Infinity, left + w);
      placed.push({ ev, left, w, size, lane });
    }
    const lanes = Math.max(laneEnds.length, 3);
    const height = TOP + lanes * LANE + 12 + AXIS;
    chart.style.height = height + "px";

    state.phases.forEach((p, i) => {
      const start = Math.max(dayMs(p.start), lo);
      const end = Math.min(p.end ? dayMs(p.end) : TODAY, hi);
      if (end <= lo || start >= hi) return;
      const band = el("div", "band band-" + (i % BAND_COLOURS));
      band.dataset.phase = p.slug;
      band.style.left = x(start) + "px";
      band.style.width = Math.max(1, x(end) - x(start)) + "px";
      const label = el("span", "band-label", phaseLabel(p));
      label.append(el("small", null, humanDate(p.start) + (p.end ? " – " + humanDate(p.end) : " – now")));
      band.title = phaseLabel(p);
      band.append(label);
      chart.append(band);
    });

    const axis = el("div", "axis");
    for (const [t, text] of ticks(lo, hi, width)) {
      const px = x(t);
      if (px < 12 || px > width - 12) continue;
      const grid = el("div", "gridline");
      grid.style.left = px + "px";
      chart.append(grid);
      const tick = el("div", "tick");
      tick.style.left = px + "px";
      axis.append(tick);
      const label = el("span", "tick-label", text);
      label.style.left = px + "px";
      axis.append(label);
    }
    chart.append(axis);
    if (TODAY > lo && TODAY < hi) {
      const today = el("div", "today");
      today.style.left = x(TODAY) + "px";
      today.title = "Today";
      chart.append(today);
    }

    if (!state.visible.some((ev) => ev.id === state.focusId)) {
      state.focusId = state.visible.length ? state.visible[0].id : null;
    }
    for (const { ev, left, w, size, lane } of placed) {
      const mark = el("button", "mark " + catClass(ev.category) + " p-" + ev.precision);
      mark.type = "button";
      if (/[~?%]/.test(ev.occurred)) mark.classList.add("approx");
      if (ev.id === state.selectedId) mark.classList.add("selected");
      if (state.fresh.has(ev.id)) mark.classList.add("fresh");
      mark.dataset.id = ev.id;
      mark.dataset.category = ev.category;
      mark.tabIndex = ev.id === state.focusId ? 0 : -1;
      mark.setAttribute("aria-label", ev.occurred + ", " + (ev.category_label || ev.category) + ": " + ev.title);
      mark.style.left = left + "px";
      mark.style.width = w + "px";
      mark.style.height = size + "px";
      mark.style.top = TOP + lane * LANE + (LANE - size) / 2 + "px";
      chart.append(mark);
    }
  }

  function phaseOfEvent(ev) {
    if (ev.transition_to) return ev.transition_to;
    if (ev.phase) return ev.phase;
    const t = finiteStart(ev);
    let found = null;
    for (const p of state.phases) if (dayMs(p.start) <= t) found = p.slug;
    return found;
  }

  function renderList() {
    const list = $("list");
    clear(list);
    if (!state.visible.length) {
      list.append(el("p", "empty", state.events.length ? "No event matches these filters." : "No events recorded yet."));
      return;
    }
    let group = null;
    let groupPhase;
    for (const ev of state.visible) {
      const phase = phaseOfEvent(ev);
      if (!state.phases.length && !group) {
        group = el("ol", "rows");
        list.append(group);
      }
      if (!group || (state.phases.length && phase !== groupPhase)) {
        groupPhase = phase;
        const section = el("section", "phase-group");
        const head = el("h3", "phase-head");
        const idx = phase ? phaseIndex(phase) : -1;
        const sw = el("span", "swatch" + (idx >= 0 ? " phase-swatch-" + idx : ""));
        head.append(sw, el("span", null, phase ? phaseSlugLabel(phase) : "Before the first recorded phase"));
        const known = state.phases.find((p) => p.slug === phase);
        if (known) head.append(el("small", null, humanDate(known.start) + " – " + (known.end ? humanDate(known.end) : "now")));
        group = el("ol", "rows");
        section.append(head, group);
        list.append(section);
      }
      const li = el("li");
      const row = el("button", "row" + (ev.id === state.selectedId ? " selected" : "") + (state.fresh.has(ev.id) ? " fresh" : ""));
      row.type = "button";
      row.dataset.id = ev.id;
      const date = el("time", "row-date", ev.occurred);
      date.dateTime = ev.occurred.includes("/") ? ev.occurred_start : ev.occurred.replace(/[~?%]/g, "");
      row.append(
        date,
        el("span", "swatch " + catClass(ev.category)),
        el("span", "row-title", ev.title),
        el("span", "row-cat", ev.category_label || ev.category),
      );
      li.append(row);
      group.append(li);
    }
  }

  function renderSummary() {
    const summary = $("summary");
    summary.classList.remove("error");
    const n = state.events.length;
    if (!n) {
      summary.textContent = "No events recorded for this company yet.";
      return;
    }
    const first = state.events[0].occurred;
    const last = state.events[n - 1].occurred;
    const shown = state.visible.length;
    const phases = state.phases.length ? ", " + state.phases.length + " phases" : "";
    summary.textContent = n + " sourced events from " + humanDate(first, true) + " to " + humanDate(last, true) + phases
      + (shown !== n ? " · showing " + shown : "");
  }

  function render() {
    applyFilters();
    renderSummary();
    renderChart();
    renderList();
  }

  // ---------- tooltip ----------

  function showTip(mark) {
    const ev = state.byId.get(mark.dataset.id);
    if (!ev) return;
    const tip = $("tip");
    clear(tip);
    tip.append(el("span", "tip-date", ev.occurred + " · " + (ev.category_label || ev.category)), document.createTextNode(ev.title));
    tip.hidden = false;
    const card = tip.parentElement.getBoundingClientRect();
    const r = mark.getBoundingClientRect();
    const left = Math.min(Math.max(8, r.left - card.left - 20), card.width - tip.offsetWidth - 8);
    tip.style.left = left + "px";
    tip.style.top = r.bottom - card.top + 8 + "px";
  }

  function hideTip() {
    $("tip").hidden = true;
  }

  // ---------- detail ----------

  function fact(dl, label, value) {
    dl.append(el("dt", null, label));
    const dd = el("dd");
    if (value instanceof Node) dd.append(value);
    else dd.textContent = value;
    dl.append(dd);
  }

  function renderDetail(ev) {
    const box = $("detail-body");
    clear(box);
    const tag = el("span", "tag " + catClass(ev.category));
    tag.append(el("span", "swatch"), el("span", null, ev.category_label || ev.category));
    const title = el("h2", null, ev.title);
    title.id = "detail-title";

    const when = el("p", "when");
    const time = el("time", null, ev.occurred);
    time.dateTime = ev.occurred.includes("/") ? ev.occurred_start : ev.occurred.replace(/[~?%]/g, "");
    when.append(time, document.createTextNode(" · " + humanDate(ev.occurred, true) + " · " + ev.precision + " precision"));

    box.append(tag, title, when);
    if (ev.summary) box.append(el("p", "lead", ev.summary));

    const dl = el("dl", "facts");
    fact(dl, "Category", ev.category_label || ev.category);
    const phase = phaseOfEvent(ev);
    fact(dl, "Phase", phase ? phaseSlugLabel(phase) : "—");
    if (ev.transition_to) fact(dl, "Opens phase", phaseSlugLabel(ev.transition_to));
    const imp = el("span");
    const meter = el("span", "meter");
    const fill = el("span");
    fill.style.width = Math.max(0, Math.min(100, ev.importance || 0)) + "%";
    meter.append(fill);
    imp.append(meter, document.createTextNode((ev.importance || 0) + " / 100"));
    fact(dl, "Importance", imp);
    const ents = Array.isArray(ev.entities) ? ev.entities.filter((e) => e && e.value) : [];
    if (ents.length) {
      const ul = el("ul", "entities");
      for (const e of ents) {
        const li = el("li", null, e.value);
        if (e.kind) li.append(el("small", null, e.kind));
        ul.append(li);
      }
      fact(dl, "Entities", ul);
    } else {
      fact(dl, "Entities", "—");
    }
    box.append(dl);

    box.append(el("h3", null, "Sources"));
    const sources = el("ol", "sources");
    for (const s of Array.isArray(ev.sources) ? ev.sources : []) {
      const li = el("li");
      const url = safeUrl(s && s.url);
      const label = (s && s.publisher) || (url ? url.hostname : String(s && s.url));
      if (url) {
        const a = el("a", null, label);
        a.href = url.href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        li.append(a, el("span", "host", url.href));
      } else {
        li.append(el("span", null, label));
      }
      sources.append(li);
    }
    if (!sources.children.length) sources.append(el("li", null, "No source recorded."));
    box.append(sources);

    // Reports folded into this event by coreference, with why (read from the event's document).
    const merged = el("div", "merged");
    box.append(merged);
    loadMerged(ev.id, merged);

    const raw = el("p", "raw");
    const link = el("a", null, "This event as JSON");
    link.href = "/v1/events/" + encodeURIComponent(ev.id);
    raw.append(link);
    box.append(raw);
  }

  async function loadMerged(id, box) {
    let doc;
    try {
      const res = await fetch("/v1/events/" + encodeURIComponent(id), { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      doc = await res.json();
    } catch (err) {
      return;
    }
    const dups = Array.isArray(doc && doc.duplicates) ? doc.duplicates : [];
    if (!dups.length || state.selectedId !== id) return;
    box.append(el("h3", null, "Merged reports"));
    const list = el("ol", "merged-reports");
    for (const d of dups) {
      const li = el("li", null, d.title || "");
      const m = d.merge;
      if (m) {
        const shared = Object.entries(m.shared || {})
          .map(([kind, values]) => kind + ": " + [].concat(values).join(", "))
          .join("; ");
        li.append(el("small", null, "rule " + m.rule + ", score " + m.score + (shared ? "; shared " + shared : "")));
      }
      list.append(li);
    }
    box.append(list);
  }

  function openDetail(id, trigger) {
    const ev = state.byId.get(id);
    if (!ev) return;
    state.selectedId = id;
    state.focusId = id;
    state.lastTrigger = trigger ? { id, kind: trigger.classList.contains("mark") ? "mark" : "row" } : null;
    for (const node of document.querySelectorAll(".selected")) node.classList.remove("selected");
    for (const node of document.querySelectorAll('[data-id="' + CSS.escape(id) + '"]')) node.classList.add("selected");
    renderDetail(ev);
    const panel = $("detail");
    panel.hidden = false;
    $("detail-close").focus();
  }

  function closeDetail() {
    const panel = $("detail");
    if (panel.hidden) return;
    panel.hidden = true;
    state.selectedId = null;
    for (const node of document.querySelectorAll(".selected")) node.classList.remove("selected");
    const back = state.lastTrigger;
    if (back) {
      const selector = (back.kind === "mark" ? ".mark" : ".row") + '[data-id="' + CSS.escape(back.id) + '"]';
      const target = document.querySelector(selector);
      if (target) target.focus();
    }
  }

  // ---------- chart keyboard: one tab stop, arrows move between events ----------

  function moveFocus(current, delta) {
    const marks = [...$("chart").querySelectorAll(".mark")];
    if (!marks.length) return;
    const i = marks.indexOf(current);
    let next;
    if (delta === "home") next = 0;
    else if (delta === "end") next = marks.length - 1;
    else next = Math.max(0, Math.min(marks.length - 1, i + delta));
    const target = marks[next];
    current.tabIndex = -1;
    target.tabIndex = 0;
    state.focusId = target.dataset.id;
    target.focus();
    showTip(target);
  }

  function bindEvents() {
    const chart = $("chart");
    chart.addEventListener("click", (e) => {
      const mark = e.target.closest(".mark");
      if (mark) openDetail(mark.dataset.id, mark);
    });
    chart.addEventListener("keydown", (e) => {
      const mark = e.target.closest(".mark");
      if (!mark) return;
      const keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1, Home: "home", End: "end" };
      if (e.key in keys) {
        e.preventDefault();
        moveFocus(mark, keys[e.key]);
      }
    });
    chart.addEventListener("mouseover", (e) => {
      const mark = e.target.closest(".mark");
      if (mark) showTip(mark);
    });
    chart.addEventListener("mouseout", (e) => {
      if (e.target.closest(".mark")) hideTip();
    });
    chart.addEventListener("focusin", (e) => {
      const mark = e.target.closest(".mark");
      if (mark) showTip(mark);
    });
    chart.addEventListener("focusout", hideTip);

    $("list").addEventListener("click", (e) => {
      const row = e.target.closest(".row");
      if (row) openDetail(row.dataset.id, row);
    });
    $("detail-close").addEventListener("click", closeDetail);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        hideTip();
        closeDetail();
      }
    });

    const form = $("filters");
    form.addEventListener("submit", (e) => e.preventDefault());
    for (const id of ["q", "from", "to", "importance"]) $(id).addEventListener("input", onFiltersChanged);
    form.addEventListener("reset", () => {
      state.hidden.clear();
      // The form resets its inputs after this handler; read them once it has.
      setTimeout(() => {
        renderLegend();
        onFiltersChanged();
      }, 0);
    });

    $("company").addEventListener("change", (e) => {
      const slug = e.target.value;
      if (slug && slug !== state.company) location.assign("/companies/" + encodeURIComponent(slug));
    });

    let pending = 0;
    window.addEventListener("resize", () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => renderChart());
    });
  }

  // ---------- company switcher ----------

  async function loadCompanies() {
    const data = await getJson("/v1/companies");
    const companies = Array.isArray(data && data.companies) ? data.companies : [];
    const select = $("company");
    clear(select);
    const slugs = companies.map((c) => c.slug);
    if (state.company && !slugs.includes(state.company)) {
      select.append(new Option(state.company + " (no events)", state.company));
    }
    for (const c of companies) {
      select.append(new Option(c.slug + " (" + c.events + ")", c.slug));
    }
    return companies;
  }

  // ---------- live updates ----------

  function setLive(mode, text) {
    const live = $("live");
    live.classList.remove("on", "waiting");
    if (mode) live.classList.add(mode);
    live.querySelector(".live-text").textContent = text;
  }

  let refreshTimer = 0;

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  }

  async function refresh() {
    try {
      const before = new Set(state.byId.keys());
      const events = await loadEvents(state.company);
      const phases = await loadPhases(state.company, events);
      const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
      const focusedKind = document.activeElement && document.activeElement.classList.contains("mark") ? ".mark" : ".row";
      setData(events, phases);
      loadCompanies().then(() => { $("company").value = state.company; }, () => {});
      state.fresh = new Set(events.filter((ev) => !before.has(ev.id)).map((ev) => ev.id));
      renderLegend();
      render();
      if (state.selectedId) {
        const ev = state.byId.get(state.selectedId);
        if (ev) renderDetail(ev);
      }
      if (focused) {
        const again = document.querySelector(focusedKind + '[data-id="' + CSS.escape(focused) + '"]');
        if (again) again.focus();
      }
      if (state.fresh.size) {
        setLive("on", state.fresh.size === 1 ? "live · 1 new event" : "live · " + state.fresh.size + " new events");
      }
    } catch (err) {
      setLive("waiting", "live · refresh failed, retrying");
      scheduleRefresh();
    }
  }

  function connectStream() {
    if (!state.hasStreamApi || typeof EventSource === "undefined") {
      setLive(null, "live updates not available on this server");
      return;
    }
    const source = new EventSource("/v1/stream?company=" + encodeURIComponent(state.company));
    const onChange = (msg) => {
      let data = null;
      try {
        data = JSON.parse(msg.data);
      } catch (_) {
        data = null;
      }
      const about = data && (data.company || (data.data && data.data.company));
      if (typeof about === "string" && about !== state.company) return;
      scheduleRefresh();
    };
    for (const type of ["message", "event", "event.created", "event.updated", "phase.changed"]) {
      source.addEventListener(type, onChange);
    }
    source.addEventListener("open", () => setLive("on", "live"));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) setLive(null, "live updates unavailable");
      else setLive("waiting", "reconnecting");
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // ---------- start ----------

  function showError(text) {
    const summary = $("summary");
    summary.textContent = text;
    summary.classList.add("error");
    summary.setAttribute("role", "alert");
  }

  async function start() {
    bindEvents();
    readFiltersFromUrl();
    let companies = [];
    try {
      companies = await loadCompanies();
    } catch (err) {
      showError("Could not load the companies: " + err.message);
      setLive(null, "offline");
      return;
    }
    if (!state.company) {
      if (!companies.length) {
        $("heading").textContent = "No timelines yet";
        $("summary").textContent = "Nothing has been recorded. Post events to the ingest API, or run `pivotwatch seed`.";
        setLive(null, "idle");
        return;
      }
      const top = companies.reduce((a, b) => (b.events > a.events ? b : a));
      state.company = top.slug;
      history.replaceState(null, "", "/companies/" + encodeURIComponent(top.slug) + location.search);
    }
    $("company").value = state.company;
    $("heading").textContent = state.company;
    document.title = state.company + " · pivotwatch";
    try {
      const events = await loadEvents(state.company);
      setData(events, await loadPhases(state.company, events));
    } catch (err) {
      showError("Could not load the timeline: " + err.message);
      setLive(null, "offline");
      return;
    }
    renderLegend();
    render();
    body.dataset.ready = "1";
    connectStream();
  }

  start();
})();
