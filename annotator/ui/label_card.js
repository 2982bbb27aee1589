// The label card: shows the first of a few reserved items and turns key presses into events.
// Every event names the item it was shown for and has a unique id; the card keeps sending all
// events the server has not acknowledged (data.acked), and the server applies each id once.
// The next item is drawn from the local buffer, so a key press never waits for the server.
export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement;
  const s = root.__protolabel || (root.__protolabel = {
    nonce: (crypto.randomUUID ? crypto.randomUUID() : String(Math.random())).slice(0, 12),
    seq: 0, pending: [], decided: [], data: null, items: new Map(), shownId: null,
  });
  s.data = data || { items: [], labels: [], acked: [] };
  // Unacknowledged events survive a refresh or a closed tab: kept in localStorage and sent
  // again on the next load (the server applies each event id once).
  const storeKey = `protolabel:pending:${s.data.project || ""}`;
  if (!s.restored) {
    s.restored = true;
    try {
      const saved = JSON.parse(window.localStorage.getItem(storeKey) || "[]");
      if (Array.isArray(saved) && saved.length) {
        s.pending = saved.concat(s.pending);
        setStateValue("events", s.pending.slice());
      }
    } catch (err) { /* storage unavailable: events still go to the server at once */ }
  }
  const persist = () => {
    try { window.localStorage.setItem(storeKey, JSON.stringify(s.pending)); } catch (err) {}
  };
  for (const item of s.data.items) s.items.set(item.id, item);
  const acked = new Set(s.data.acked || []);
  const done = s.pending.filter((e) => acked.has(e.id)).map((e) => e.id);
  s.pending = s.pending.filter((e) => !acked.has(e.id));
  persist();
  // for tests and benchmarks: which events the server has committed, and when
  if (done.length) window.dispatchEvent(new CustomEvent("protolabel:acked", { detail: done }));

  function queue() {
    const q = s.data.items.slice();
    for (const e of s.pending) {
      if (e.type === "undo") {
        if (!q.some((it) => it.id === e.item) && s.items.has(e.item)) q.unshift(s.items.get(e.item));
      } else {
        const i = q.findIndex((it) => it.id === e.item);
        if (i >= 0) q.splice(i, 1);
      }
    }
    return q;
  }

  function send(event) {
    s.pending.push(event);
    persist();
    window.dispatchEvent(new CustomEvent("protolabel:event", { detail: event }));
    setStateValue("events", s.pending.slice());
    render();
  }

  function decide(type, label) {
    const item = queue()[0];
    if (!item) return;
    const id = `${s.nonce}-${++s.seq}`;
    s.decided.push({ id, item: item.id });
    if (s.decided.length > 20) s.decided.shift();
    send({ id, type, item: item.id, label: label ?? null });
  }

  function undo() {
    const last = s.decided.pop();
    if (!last) return;
    send({ id: `${s.nonce}-${++s.seq}`, type: "undo", item: last.item, target: last.id });
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
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
      box.appendChild(el("div", "pl-text", item.text));
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

  function renderMeta(item) {
    const meta = el("div", "pl-meta");
    meta.setAttribute("data-testid", "pl-meta");
    const why = item.score === null || item.score === undefined
      ? `chosen by ${item.strategy}` : `chosen by ${item.strategy} (score ${item.score})`;
    const model = item.model_version ? `model v${item.model_version}` : "no model yet";
    meta.appendChild(el("span", null, `Round ${item.round} · ${why} · ${model}`));
    if (item.stale) meta.appendChild(el("span", "pl-stale", " · chosen while the model retrains"));
    const saving = s.pending.filter((e) => e.type !== "undo").length;
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
    b.appendChild(el("kbd", null, key));
    b.addEventListener("click", (ev) => { ev.preventDefault(); onClick(); });
    return b;
  }

  function render() {
    const item = queue()[0];
    const card = el("div", "pl-card");
    card.setAttribute("data-testid", "pl-card");
    card.setAttribute("data-pending", String(s.pending.length));
    if (!item) {
      card.appendChild(el("p", "pl-empty", s.data.empty_message || "Choosing the next items…"));
      s.shownId = null;
    } else {
      card.appendChild(renderMeta(item));
      card.appendChild(renderItem(item));
      s.shownId = item.id;
    }
    const buttons = el("div", "pl-buttons");
    for (const { label, key } of s.data.labels || []) {
      const cls = item && item.suggestion === label ? "pl-suggested" : "";
      buttons.appendChild(button(label, key, () => decide("label", label), cls));
    }
    buttons.appendChild(button("Skip", s.data.skip_key || "s", () => decide("skip")));
    buttons.appendChild(button("Undo", "z", undo));
    card.appendChild(buttons);
    if (!s.host || !s.host.isConnected) {
      // our own host element: the root also holds the component's <style>, keep it
      s.host = document.createElement("div");
      root.appendChild(s.host);
    }
    s.host.replaceChildren(card);
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const t = ev.target;
    const tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const hit = (s.data.labels || []).find((l) => l.key === key);
    if (hit) decide("label", hit.label);
    else if (key === (s.data.skip_key || "s")) decide("skip");
    else if ((s.data.undo_keys || ["z", "Backspace"]).includes(key)) undo();
    else return;
    ev.preventDefault();
    ev.stopPropagation();
  }

  s.onKey = onKey;
  if (!s.listening) {
    s.listener = (ev) => s.onKey(ev);
    document.addEventListener("keydown", s.listener, true);
    s.listening = true;
  }
  render();
  return () => {
    document.removeEventListener("keydown", s.listener, true);
    s.listening = false;
  };
}
