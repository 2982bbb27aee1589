// The label card. It shows one of the tab's reserved items and turns key presses into events.
//
// - The item on screen changes only through the person's own key press, click or undo: a new
//   payload from the server never replaces it (it may add, drop or reorder the items behind it).
// - Every event names the item it was shown for and has a unique id. The card keeps sending
//   every event the server has not acknowledged (in its "sync" state, with the item on screen
//   and the last payload it applied); the server applies each id once. Unacknowledged events
//   are kept in localStorage per project and annotator, and sent again after a reload.
// - A key that cannot act (nothing on screen yet) is ignored visibly, never silently.
// - The counters follow each press at once: the server's counts plus the unacknowledged events.
const HISTORY = 20;
const CACHE_LIMIT = 300;
const PICKER_SHOWN = 10;  // labels the search lists at once

function randomId() {
  const raw = crypto.randomUUID ? crypto.randomUUID() : `${Math.random()}${Date.now()}`;
  return raw.replace(/[^A-Za-z0-9]/g, "").slice(0, 16);
}

// The tab's queue id: kept in sessionStorage, so a reload keeps the tab's reserved items; a
// fresh navigation (a new or duplicated tab) starts a new one.
function tabId() {
  if (window.__protolabelTab) return window.__protolabelTab;
  let id = null;
  try {
    const nav = performance.getEntriesByType("navigation")[0];
    if (nav && nav.type === "reload") id = window.sessionStorage.getItem("protolabel:tab");
  } catch (err) { /* no storage: a new id */ }
  if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) id = randomId();
  try { window.sessionStorage.setItem("protolabel:tab", id); } catch (err) {}
  window.__protolabelTab = id;
  return id;
}

function readJson(storage, key, fallback) {
  try {
    const value = JSON.parse(storage.getItem(key) || "null");
    return value === null ? fallback : value;
  } catch (err) { return fallback; }
}

function writeJson(storage, key, value) {
  try { storage.setItem(key, JSON.stringify(value)); } catch (err) { /* full or blocked */ }
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement;
  const s = root.__protolabel || (root.__protolabel = {
    boot: randomId(), context: null, items: new Map(), order: [], current: null,
    pending: [], acked: new Set(), done: new Set(), decided: [], kinds: new Map(), n: 0,
    seen: 0, confirmed: 0, hello: false, lastHello: 0, ignored: 0, notice: null, data: null,
    resent: new Map(),
  });
  s.data = data || { items: [], labels: [], acked: [], progress: {} };

  const pendingKey = () => `protolabel:pending:${s.context}`;
  const decidedKey = () => `protolabel:decided:${s.context}`;

  function persist() {
    // Merge with what other tabs of this browser keep under the same key.
    const mine = new Set(s.pending.map((e) => e.id));
    const others = readJson(window.localStorage, pendingKey(), [])
      .filter((e) => e && !mine.has(e.id) && !s.acked.has(e.id));
    writeJson(window.localStorage, pendingKey(), others.concat(s.pending));
    writeJson(window.sessionStorage, decidedKey(), s.decided);
  }

  // A new project or annotator: start over, with what this browser kept for them.
  const context = `${s.data.project || ""}:${s.data.annotator || ""}`;
  if (s.context !== context) {
    s.context = context;
    s.boot = randomId();
    s.items = new Map(); s.order = []; s.current = null; s.acked = new Set(); s.done = new Set();
    s.pending = readJson(window.localStorage, pendingKey(), []).filter((e) => e && e.id && e.type);
    s.decided = readJson(window.sessionStorage, decidedKey(), []);
    s.kinds = new Map(s.decided.map((d) => [d.id, d]));
    s.seen = 0; s.confirmed = 0; s.hello = false; s.lastHello = 0; s.notice = null;
  }
  if (s.data.remember_name && s.data.annotator) {
    const cookie = `protolabel_name=${encodeURIComponent(s.data.annotator)}`;
    if (!document.cookie.split("; ").includes(cookie)) {
      document.cookie = `${cookie}; path=/; max-age=31536000; samesite=lax`;
    }
  }

  function sync() {
    const have = [];
    for (const [id, it] of s.items) if (it.image || it.text !== undefined || it.features) have.push(id);
    setStateValue("sync", {
      project: s.data.project, tab: tabId(), seen: s.seen, shown: s.current,
      events: s.pending.slice(0, 500), have: have.slice(-500),
    });
  }

  // Apply the payload: acknowledgements, refusals, items, counters.
  const fresh = !s.data.loading && (s.data.seq || 0) > s.seen;
  if (fresh) {
    const acked = new Set(s.data.acked || []);
    const refused = new Map((s.data.refused || []).map((r) => [r.id, r.reason]));
    const done = [];
    for (const e of s.pending) {
      if (!acked.has(e.id)) continue;
      done.push(e.id);
      s.acked.add(e.id);
      if (refused.has(e.id)) {
        const item = s.items.get(e.item);
        s.notice = `Not saved (${item ? item.ext : e.item}): ${refused.get(e.id)}`;
        s.done.delete(e.item);
        s.decided = s.decided.filter((d) => d.id !== e.id);
      } else if (e.type === "undo") {
        s.done.delete(e.item);
      } else {
        s.done.add(e.item);
      }
    }
    s.pending = s.pending.filter((e) => !acked.has(e.id));
    for (const item of s.data.items || []) {
      const known = s.items.get(item.id) || {};
      s.items.set(item.id, { ...known, ...item });
    }
    s.order = (s.data.items || []).map((it) => it.id);
    s.seen = s.data.seq;
    persist();
    trimCache();
    // for tests and benchmarks: which events the server has committed, and when
    if (done.length) window.dispatchEvent(new CustomEvent("protolabel:acked", { detail: done }));
  }

  function trimCache() {
    if (s.items.size <= CACHE_LIMIT) return;
    const keep = new Set([s.current, ...s.order, ...s.decided.map((d) => d.item)]);
    for (const id of s.items.keys()) if (!keep.has(id)) s.items.delete(id);
  }

  // Items decided by unacknowledged events (an undo brings its item back).
  function gone() {
    const out = new Set(s.done);
    for (const e of s.pending) {
      if (e.type === "undo") out.delete(e.item); else out.add(e.item);
    }
    return out;
  }

  function nextItem(exclude) {
    const skip = gone();
    for (const id of s.order) {
      const it = s.items.get(id);
      if (id !== exclude && !skip.has(id) && it && (it.image || it.text !== undefined || it.features)) {
        return id;
      }
    }
    return null;
  }

  function send(event) {
    s.pending.push(event);
    persist();
    window.dispatchEvent(new CustomEvent("protolabel:event", { detail: event }));
    sync();
  }

  function decide(type, label) {
    const item = s.current;
    if (item === null) return ignored();
    const id = `${s.boot}-${++s.n}`;
    const round = (s.items.get(item) || {}).round;
    const decision = { id, item, type, round };
    s.decided.push(decision);
    s.kinds.set(id, decision);
    if (s.decided.length > HISTORY) s.decided.shift();
    if (s.kinds.size > 5 * HISTORY) s.kinds.delete(s.kinds.keys().next().value);
    s.notice = null;
    s.current = nextItem(item);
    send({ id, type, item, label: label ?? null });
    render();
  }

  function undo() {
    const last = s.decided.pop();
    if (!last) return ignored("Nothing to undo.");
    s.notice = null;
    s.current = s.items.has(last.item) ? last.item : null;
    send({ id: `${s.boot}-${++s.n}`, type: "undo", item: last.item, target: last.id });
    render();
  }

  function ignored(message) {
    s.ignored += 1;
    s.notice = message || "No item on screen yet: key ignored.";
    render();
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // E-mail-like header lines ("From: ...", "Subject: ...") before the first blank line are
  // shown small and grey above the body, which is what people read to decide.
  const HEADER = /^[A-Za-z][A-Za-z-]{1,30}:[ \t]/;
  function splitHeaders(text) {
    const lines = text.split(/\r?\n/);
    let n = 0;
    while (n < lines.length && n < 30 && HEADER.test(lines[n])) n++;
    if (n < 2 || (n < lines.length && lines[n].trim() !== "")) return { headers: "", body: text };
    return { headers: lines.slice(0, n).join("\n"), body: lines.slice(n + 1).join("\n") };
  }

  function renderItem(item) {
    const box = el("div", "pl-item");
    box.setAttribute("data-testid", "pl-item");
    box.setAttribute("data-item-id", String(item.id));
    if (item.image) {
      const img = el("img");
      img.src = item.image;
      img.alt = `item ${item.ext}`;
      img.onload = () => { if (img.naturalWidth > 64) img.classList.add("pl-photo"); };
      box.appendChild(img);
    } else if (item.text !== undefined) {
      box.classList.add("pl-textbox");  // bounded height, scrolls: the buttons stay in view
      const { headers, body } = splitHeaders(item.text);
      if (headers) box.appendChild(el("div", "pl-headers", headers));
      box.appendChild(el("div", "pl-text", body));
    } else {
      const table = el("table", "pl-table");
      for (const [name, value] of item.features || []) {
        const tr = el("tr");
        tr.appendChild(el("td", null, name));
        tr.appendChild(el("td", null, value));
        table.appendChild(tr);
      }
      box.appendChild(table);
    }
    return box;
  }

  // The server's counts plus what the unacknowledged events change.
  function counters() {
    const p = s.data.progress || {};
    let labelled = p.labelled || 0;
    let skipped = p.skipped || 0;
    let roundDone = p.round_done || 0;
    for (const e of s.pending) {
      const d = e.type === "undo" ? s.kinds.get(e.target) : { type: e.type, round: (s.items.get(e.item) || {}).round };
      if (!d) continue;
      const sign = e.type === "undo" ? -1 : 1;
      if (d.type === "label") labelled += sign; else skipped += sign;
      if (d.round === p.round) roundDone += sign;
    }
    const remaining = Math.max(0, (p.items || 0) - labelled - skipped);
    return { labelled, skipped, remaining, roundDone, p };
  }

  function renderCounters() {
    const c = counters();
    const bar = el("div", "pl-counters");
    bar.setAttribute("data-testid", "pl-counters");
    const cell = (name, value, testid) => {
      const box = el("div", "pl-counter");
      box.appendChild(el("div", "pl-counter-name", name));
      const v = el("div", "pl-counter-value", value);
      v.setAttribute("data-testid", testid);
      box.appendChild(v);
      bar.appendChild(box);
    };
    cell("Labelled", c.labelled, "pl-labelled");
    cell("Remaining", c.remaining, "pl-remaining");
    cell("This round", c.p.round ? `${Math.min(c.roundDone, c.p.round_size)}/${c.p.round_size}` : "–", "pl-round");
    cell("Model", c.p.model_version ? `v${c.p.model_version}` : "none yet", "pl-model");
    return bar;
  }

  function renderMeta(item) {
    const meta = el("div", "pl-meta");
    meta.setAttribute("data-testid", "pl-meta");
    const why = item.score === null || item.score === undefined
      ? `chosen by ${item.strategy}` : `chosen by ${item.strategy} (score ${item.score})`;
    const model = item.model_version ? `model v${item.model_version}` : "no model yet";
    // the item's id, as the History panel and the export name it
    meta.appendChild(el("span", null, `Item ${item.ext} · Round ${item.round} · ${why} · ${model}`));
    if (item.stale) {
      const p = s.data.progress || {};
      const text = p.retrain_pending ? " · chosen while the model retrains"
        : ` · chosen by an older model (now v${p.model_version})`;
      const mark = el("span", "pl-stale", text);
      mark.setAttribute("data-testid", "pl-stale");
      meta.appendChild(mark);
    }
    const saving = s.pending.length;
    const status = el("span", "pl-saved", saving ? ` · saving ${saving}…` : " · all saved");
    status.setAttribute("data-testid", "pl-saved");
    meta.appendChild(status);
    if (item.suggestion !== null && item.suggestion !== undefined) {
      meta.appendChild(el("br"));
      meta.appendChild(el("span", null, "Model suggests: "));
      meta.appendChild(el("b", null, item.suggestion));
      meta.appendChild(el("span", null, ` (${Math.round(item.confidence * 100)}%)`));
    }
    return meta;
  }

  function button(text, key, onClick, cls) {
    const b = el("button", cls, text);
    b.type = "button";
    if (key) b.appendChild(el("kbd", null, key === "Backspace" ? "⌫" : key));
    b.addEventListener("click", (ev) => { ev.preventDefault(); onClick(); });
    return b;
  }

  function render() {
    const item = s.current === null ? null : s.items.get(s.current);
    const card = el("div", "pl-card");
    card.setAttribute("data-testid", "pl-card");
    card.setAttribute("data-pending", String(s.pending.length));
    card.setAttribute("data-ignored", String(s.ignored));
    card.appendChild(renderCounters());
    if (s.data.progress && s.data.progress.retrain_pending) {
      card.appendChild(el("div", "pl-retrain", "Retraining in the background; keep labelling."));
    }
    if (!item) {
      const text = s.data.loading ? "Loading the items… (keys wait for the first item)"
        : (nextItem(null) === null && s.data.empty_message) || "Choosing the next items…";
      const empty = el("p", "pl-empty", text);
      empty.setAttribute("data-testid", "pl-empty");
      card.appendChild(empty);
    } else {
      card.appendChild(renderMeta(item));
      // the same item keeps its node (no image re-decoded, no flicker on a refresh)
      if (!s.itemBox || s.itemBox.getAttribute("data-item-id") !== String(item.id)) {
        s.itemBox = renderItem(item);
      }
      card.appendChild(s.itemBox);
    }
    if (s.notice) {
      const note = el("div", "pl-notice", s.notice);
      note.setAttribute("data-testid", "pl-notice");
      card.appendChild(note);
    }
    // Skip and Undo first, then the search (labels beyond the keys), then the labels: with
    // many labels their buttons scroll in a strip of bounded height, all of it in view.
    const controls = el("div", "pl-buttons pl-controls");
    controls.appendChild(button("Skip", s.data.skip_key, () => decide("skip")));
    controls.appendChild(button("Undo", (s.data.undo_keys || ["Backspace"])[0], undo));
    card.appendChild(controls);
    const labels = s.data.labels || [];
    const buttons = el("div", labels.length > 12 ? "pl-buttons pl-labels pl-many" : "pl-buttons pl-labels");
    for (const { label, key } of labels) {
      if (!key) continue;  // beyond the keys: found by typing (the search)
      const cls = item && item.suggestion === label ? "pl-suggested" : "";
      buttons.appendChild(button(label, key, () => decide("label", label), cls));
    }
    if (!s.host || !s.host.isConnected) {
      // our own host element: the root also holds the component's <style>, keep it
      s.host = document.createElement("div");
      s.cardSlot = el("div");
      s.pickerSlot = el("div");
      s.labelSlot = el("div");
      s.host.append(s.cardSlot, s.pickerSlot, s.labelSlot);
      root.appendChild(s.host);
    }
    s.cardSlot.replaceChildren(card);
    // The search lives beside the card and is never re-created, so what is typed in it and
    // its focus survive the refreshes.
    if (labels.some((l) => !l.key)) {
      const picker = ensurePicker();
      if (picker.box.parentNode !== s.pickerSlot) s.pickerSlot.replaceChildren(picker.box);
      fillPicker();
    } else {
      s.pickerSlot.replaceChildren();
    }
    s.labelSlot.replaceChildren(buttons);
  }

  // Labels by name: those starting with what was typed first, then those containing it.
  function matches(query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const starts = [];
    const within = [];
    for (const l of s.data.labels || []) {
      const name = l.label.toLowerCase();
      if (name.startsWith(q)) starts.push(l);
      else if (within.length < PICKER_SHOWN && name.includes(q)) within.push(l);
      if (starts.length >= PICKER_SHOWN) break;
    }
    return starts.concat(within).slice(0, PICKER_SHOWN);
  }

  function ensurePicker() {
    if (s.picker) return s.picker;
    const box = el("div", "pl-picker");
    const input = el("input", "pl-search");
    input.type = "search";
    input.placeholder = `${(s.data.labels || []).length} labels: type a name, Enter picks the first (/ comes here)`;
    input.setAttribute("data-testid", "pl-search");
    input.setAttribute("aria-label", "Find a label");
    const list = el("div", "pl-buttons pl-matches");
    input.addEventListener("input", () => fillPicker());
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        const found = matches(input.value);
        if (found.length) pick(found[0].label);
        ev.preventDefault();
      } else if (ev.key === "Escape") {
        input.blur();
        ev.preventDefault();
      }
    });
    box.appendChild(input);
    box.appendChild(list);
    s.picker = { box, input, list, shown: null };
    return s.picker;
  }

  function fillPicker() {
    const { input, list } = s.picker;
    const found = matches(input.value);
    const shown = found.map((l) => l.label).join("\u0000");
    if (shown === s.picker.shown) return;  // unchanged: keep the nodes (no flicker)
    s.picker.shown = shown;
    list.replaceChildren(...found.map((l) => button(l.label, l.key, () => pick(l.label), "")));
  }

  function pick(label) {
    s.picker.input.value = "";
    fillPicker();
    decide("label", label);
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    // the element typed in, even inside the component's shadow root (ev.target is the host)
    const t = (ev.composedPath && ev.composedPath()[0]) || ev.target;
    const tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const hit = (s.data.labels || []).find((l) => l.key && l.key === key);
    if (hit) decide("label", hit.label);
    else if (s.data.skip_key && key === s.data.skip_key) decide("skip");
    else if ((s.data.undo_keys || ["Backspace"]).includes(key)) undo();
    else if (key === "/" && s.picker && s.picker.box.isConnected) s.picker.input.focus();
    else return;
    ev.preventDefault();
    ev.stopPropagation();
  }

  // One document listener for the whole page, handing keys to the card mounted last while
  // it is on the page.
  s.onKey = onKey;
  window.__protolabelCard = s;
  if (!window.__protolabelListening) {
    window.__protolabelListening = true;
    document.addEventListener("keydown", (ev) => {
      const card = window.__protolabelCard;
      if (card && card.onKey && card.host && card.host.isConnected) card.onKey(ev);
    }, true);
  }

  // Nothing on screen yet: show the first item the server sent, and tell it so.
  let report = false;
  if (s.current === null && !s.data.loading) {
    s.current = nextItem(null);
    report = s.current !== null;
  }
  render();
  if (s.data.loading || !s.hello) {
    // the server does not know this card yet (its tab, what it holds): say hello
    const now = Date.now();
    if (now - s.lastHello > 500) { s.lastHello = now; s.hello = true; sync(); }
  } else if (report || (fresh && s.data.confirm && s.seen > s.confirmed)) {
    s.confirmed = s.seen;
    sync();
  } else if (fresh && s.pending.length && (s.resent.get(s.pending[0].id) || 0) < 3) {
    // Presses made while the server was busy: Streamlit merged them into a rerun it has not
    // run yet, so ask again now rather than at the next press or refresh (at most 3 times
    // for the same oldest press, so a server that keeps failing is not hammered).
    s.resent.set(s.pending[0].id, (s.resent.get(s.pending[0].id) || 0) + 1);
    sync();
  }
}
