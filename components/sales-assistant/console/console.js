// The sellers' console over the sales assistant's API (docs/console.md).
//
// No framework and no build step. Every piece of data reaches the page
// through textContent or an attribute, never as markup: customer names and
// words are whatever the customer typed. The token lives in this tab's
// sessionStorage and goes with every API call.
"use strict";

(() => {
  const TOKEN_KEY = "agent-store-seller-token";
  const QUEUE_EVERY_MS = 2000;
  const DETAIL_EVERY_MS = 2000;
  const INSIGHTS_EVERY_MS = 10000;
  const TITLE = "Sellers' console · Agent Store";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const REASONS = {
    low_sentiment: "angry",
    customer_request: "asked for a person",
    complex_query: "complex question",
    repeated_misunderstanding: "not understood",
    other: "other",
  };
  const RESOLUTIONS = {
    sold: "sold",
    resolved: "resolved",
    returned_to_ai: "returned to the AI",
    unresolved: "unresolved",
    other: "other",
  };

  const state = {
    token: null,
    seller: null,
    queued: [],
    mine: [],
    current: null, // the open escalation's id
    detail: null,
    pending: [], // replies sent from this tab the transcript does not show yet
    drawn: { transcript: "", drafts: "", context: "" },
    lastCustomerAt: null,
    timers: {},
    view: "queue",
  };

  // ---- small helpers -------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, String(value));
    }
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    return `${h} h ${m % 60} min`;
  }

  function clock(at) {
    const date = new Date(at);
    return isNaN(date) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function money(m) {
    if (!m) return "";
    return `${m.currency} ${(m.amount_minor / 100).toFixed(2)}`;
  }

  /** What a seller may see of a customer: the profile name and the hashed id, no number. */
  function customerName(customer) {
    return (customer && customer.name) || "Customer";
  }
  function customerId(customer) {
    const id = (customer && customer.id) || "";
    return id.length > 14 ? `${id.slice(0, 14)}…` : id;
  }

  function mood(sentiment) {
    if (sentiment < 0.2) return "angry";
    if (sentiment < 0.4) return "low";
    return "ok";
  }

  function meter(sentiment) {
    const value = Math.max(0, Math.min(1, Number(sentiment) || 0));
    return el(
      "span",
      { class: "sentiment", title: `sentiment ${value.toFixed(2)} (0 angry, 1 happy)` },
      el("span", { class: `meter ${value < 0.3 ? "low" : ""}`, "aria-hidden": "true" },
        el("span", { style: null, "data-width": value })),
      ` ${value.toFixed(2)}`,
    );
  }

  /** Sets meter widths without inline style attributes (the CSP forbids them). */
  function sizeMeters(root) {
    for (const bar of root.querySelectorAll("[data-width]")) {
      bar.style.width = `${Math.round(Number(bar.dataset.width) * 100)}%`;
    }
  }

  // ---- the API ---------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body, token) {
    const headers = { authorization: `Bearer ${token || state.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(`/sales/${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      throw new ApiError(0, "The store cannot be reached; retrying.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.error) || `${response.status} ${response.statusText}`;
      if (response.status === 401 && !token) signOut("Your token was refused: sign in again.");
      throw new ApiError(response.status, message);
    }
    return data;
  }

  // ---- signing in and out ------------------------------------------------

  async function signIn(token, quiet) {
    const error = $("signin-error");
    error.textContent = "";
    $("signin-button").disabled = true;
    try {
      const listing = await api("GET", "escalations", undefined, token);
      state.token = token;
      state.seller = listing.seller_id;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token").value = "";
      $("signin").hidden = true;
      $("desk").hidden = false;
      $("nav").hidden = false;
      $("who").hidden = false;
      $("seller-id").textContent = `Signed in as ${state.seller}`;
      showQueue(listing);
      schedule("queue", refreshQueue, QUEUE_EVERY_MS);
      $("main").focus();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      if (!quiet) {
        error.textContent = e.status === 401 ? "That token is not a seller's token." : e.message;
      }
    } finally {
      $("signin-button").disabled = false;
    }
  }

  function signOut(message) {
    for (const name of Object.keys(state.timers)) stop(name);
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(state, {
      token: null, seller: null, queued: [], mine: [], current: null, detail: null, pending: [],
      lastCustomerAt: null, drawn: { transcript: "", drafts: "", context: "" },
    });
    for (const id of ["queue", "mine", "transcript", "drafts", "objections", "cart", "orders", "seller-id"]) {
      $(id).replaceChildren();
    }
    $("conversation").hidden = true;
    $("insights").hidden = true;
    $("desk").hidden = true;
    $("nav").hidden = true;
    $("who").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    document.title = TITLE;
    setView("queue");
    $("token").focus();
  }

  function schedule(name, task, every) {
    stop(name);
    state.timers[name] = setInterval(() => task().catch(() => {}), every);
  }
  function stop(name) {
    clearInterval(state.timers[name]);
    delete state.timers[name];
  }

  // ---- the queue -------------------------------------------------------

  async function refreshQueue() {
    if (!state.token) return;
    try {
      showQueue(await api("GET", "escalations"));
      $("queue-error").textContent = "";
    } catch (e) {
      if (e.status !== 401) $("queue-error").textContent = e.message;
    }
  }

  function queueItem(e) {
    const c = e.customer || {};
    const item = el(
      "button",
      {
        type: "button",
        class: `queue-item mood-${mood(e.sentiment)}${e.escalation_id === state.current ? " current" : ""}`,
        "data-id": e.escalation_id,
        "aria-label": `${customerName(c)}, ${e.brand}, ${REASONS[e.reason] || e.reason}, waiting ${duration(e.waited_s)}`,
      },
      el("span", { class: "row" },
        el("span", { class: "name", text: customerName(c) }),
        el("span", { class: "muted", text: customerId(c) })),
      el("span", { class: "row" },
        el("span", { class: "tag brand", text: e.brand }),
        el("span", { class: `tag reason-${e.reason}`, text: REASONS[e.reason] || e.reason }),
        el("span", { class: "wait", text: e.status === "accepted" ? "yours" : `waiting ${duration(e.waited_s)}` }),
        meter(e.sentiment)),
      el("span", { class: "summary", text: e.summary }),
    );
    item.addEventListener("click", () => openConversation(e.escalation_id));
    return el("li", {}, item);
  }

  function showQueue(listing) {
    state.queued = listing.queued || [];
    state.mine = listing.mine || [];
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.id : null;
    $("queue").replaceChildren(...state.queued.map(queueItem));
    $("mine").replaceChildren(...state.mine.map(queueItem));
    sizeMeters($("queue-pane"));
    $("queue-empty").hidden = state.queued.length > 0;
    $("mine-empty").hidden = state.mine.length > 0;
    // Keep the keyboard where it was across a refresh.
    if (focused) {
      const again = $("queue-pane").querySelector(`[data-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    const n = state.queued.length;
    const badge = $("queue-count");
    badge.textContent = String(n);
    badge.classList.toggle("hot", n > 0);
    document.title = n > 0 ? `(${n}) ${TITLE}` : TITLE;
    $("queue-updated").textContent = `updated ${clock(new Date())}`;
  }

  // ---- a conversation ------------------------------------------------------

  function notice(text, kind) {
    const box = $("notice");
    box.textContent = text || "";
    box.className = `notice ${kind || ""}`;
    box.hidden = !text;
  }

  async function openConversation(id) {
    if (state.current !== id) {
      state.current = id;
      state.detail = null;
      state.pending = [];
      state.lastCustomerAt = null;
      state.drawn = { transcript: "", drafts: "", context: "" };
      $("transcript").replaceChildren();
      $("drafts").replaceChildren();
      $("objections").replaceChildren();
      $("reply").value = "";
      notice("");
    }
    setView("queue");
    $("conversation").hidden = false;
    $("placeholder").hidden = true;
    $("desk").classList.add("reading");
    for (const item of document.querySelectorAll(".queue-item")) {
      item.classList.toggle("current", item.dataset.id === id);
    }
    await loadDetail(true);
    schedule("detail", () => loadDetail(false), DETAIL_EVERY_MS);
    $("conv-title").focus?.();
  }

  function closeConversation() {
    stop("detail");
    state.current = null;
    state.detail = null;
    $("conversation").hidden = true;
    $("placeholder").hidden = false;
    $("desk").classList.remove("reading");
    const first = document.querySelector(".queue-item");
    if (first) first.focus();
  }

  async function loadDetail(withSuggestions) {
    const id = state.current;
    if (!id) return;
    let detail;
    try {
      detail = await api("GET", `escalations/${encodeURIComponent(id)}${withSuggestions ? "" : "?suggestions=false"}`);
    } catch (e) {
      if (id !== state.current) return;
      if (e.status === 403) {
        stop("detail");
        notice("Another seller has taken this conversation.", "conflict");
        $("accept").hidden = true;
        $("reply-form").hidden = true;
        $("release-form").hidden = true;
        $("suggestions").hidden = true;
      } else if (e.status === 404) {
        stop("detail");
        notice("This conversation is gone.", "conflict");
      } else if (e.status !== 401) {
        notice(e.message);
      }
      return;
    }
    if (id !== state.current) return;
    state.detail = detail;
    showDetail(detail);
    // A new customer line: the suggestions are worth asking for again.
    const lastCustomer = [...(detail.transcript || [])].reverse().find((l) => l.from === "customer");
    const lastAt = lastCustomer ? lastCustomer.at : null;
    if (detail.suggestions) {
      state.lastCustomerAt = lastAt;
      showSuggestions(detail.suggestions);
    } else if (lastAt !== state.lastCustomerAt && isOpen(detail.escalation)) {
      state.lastCustomerAt = lastAt;
      try {
        showSuggestions(await api("GET", `escalations/${encodeURIComponent(id)}/suggestions`));
      } catch (e) {
        // The drafts are a help; the conversation goes on without them.
      }
    }
  }

  function isOpen(e) {
    return e.status === "queued" || (e.status === "accepted" && e.seller_id === state.seller);
  }

  function showDetail(detail) {
    const e = detail.escalation;
    const c = e.customer || {};
    const mine = e.status === "accepted" && e.seller_id === state.seller;
    $("conv-title").textContent = customerName(c);
    const status = {
      queued: `waiting ${duration(e.waited_s)}`,
      accepted: mine ? "yours" : `with ${e.seller_id}`,
      released: `released (${RESOLUTIONS[e.resolution] || e.resolution})`,
      expired: "expired: the AI seller has it back",
    }[e.status] || e.status;
    $("conv-meta").textContent =
      `${customerId(c)} · ${e.brand} · ${REASONS[e.reason] || e.reason} · sentiment ${Number(e.sentiment).toFixed(2)} · ${status}`;
    $("conversation").dataset.status = e.status;
    $("conv-summary").textContent = e.summary;
    $("accept").hidden = e.status !== "queued";
    $("reply-form").hidden = !mine;
    $("release-form").hidden = !mine;
    $("suggestions").hidden = !isOpen(e) || !$("drafts").childElementCount;
    showTranscript(detail.transcript || []);
    showContext(detail.cart, detail.orders || []);
  }

  const SPEAKERS = { customer: "Customer", ai: "AI seller", human: "Human seller" };
  const MARKS = { sending: "sending…", sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read", failed: "not sent" };

  function showTranscript(lines) {
    // Replies from this tab stay until the transcript has them.
    const counts = {};
    for (const line of lines) {
      if (line.from === "human") counts[line.text] = (counts[line.text] || 0) + 1;
    }
    state.pending = state.pending.filter((p) => p.status === "failed" || (counts[p.text] || 0) <= p.before);
    const all = lines.map((l) => ({ ...l, pending: false })).concat(
      state.pending.map((p) => ({ from: "human", text: p.text, at: p.at, status: p.status, pending: true })));
    const drawn = JSON.stringify(all);
    if (drawn === state.drawn.transcript) return;
    state.drawn.transcript = drawn;
    const list = $("transcript");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...all.map(transcriptLine));
    if (atBottom || all.some((l) => l.pending)) list.scrollTop = list.scrollHeight;
  }

  function transcriptLine(line) {
    const item = el("li", { class: `line ${line.from}${line.pending ? " pending" : ""}`, "data-from": line.from },
      el("span", { class: "who", text: SPEAKERS[line.from] || line.from }),
      el("p", { class: "text", text: line.text }));
    if (line.products && line.products.length) {
      item.append(el("div", { class: "products" }, ...line.products.map(productCard)));
    }
    const meta = el("span", { class: "meta" }, el("time", { datetime: line.at, text: clock(line.at) }));
    if (line.from !== "customer" && line.status) {
      meta.append(el("span", { class: "mark", "data-status": line.status, text: MARKS[line.status] || line.status }));
    }
    item.append(meta);
    return item;
  }

  function productCard(p) {
    const card = el("div", { class: "product-card", "data-product": p.id });
    if (p.image_url && /^https:/.test(p.image_url)) {
      const img = el("img", { src: p.image_url, alt: p.name, loading: "lazy", referrerpolicy: "no-referrer" });
      img.addEventListener("error", () => img.remove());
      card.append(img);
    }
    const price = p.sale_price
      ? el("span", {}, el("s", { text: money(p.price) }), " ", el("b", { text: money(p.sale_price) }))
      : el("b", { text: money(p.price) });
    card.append(el("div", { class: "body" },
      el("div", { class: "pname", text: p.name }),
      el("div", { class: "muted", text: p.id }),
      price));
    return card;
  }

  function showSuggestions(suggestions) {
    const drawn = JSON.stringify(suggestions);
    if (drawn === state.drawn.drafts) return;
    state.drawn.drafts = drawn;
    $("objections").replaceChildren(...(suggestions.objections || []).map((o) =>
      el("li", {}, el("b", { text: `${o.kind}` }), ` (“${o.cue}”): `, o.strategy)));
    $("drafts").replaceChildren(...(suggestions.drafts || []).map((d) => {
      const button = el("button", { type: "button", class: "draft", "data-source": d.source },
        el("span", { class: "source", text: d.source === "model" ? "from the model" : "template" }),
        el("span", { class: "draft-text", text: d.text }));
      button.addEventListener("click", () => useDraft(d.text));
      return button;
    }));
    const e = state.detail && state.detail.escalation;
    $("suggestions").hidden = !e || !isOpen(e) || !$("drafts").childElementCount;
  }

  function useDraft(text) {
    const reply = $("reply");
    if ($("reply-form").hidden) {
      notice("Accept the conversation to answer the customer.");
      return;
    }
    reply.value = text;
    reply.focus();
    reply.setSelectionRange(text.length, text.length);
  }

  function showContext(cart, orders) {
    const drawn = JSON.stringify([cart, orders]);
    if (drawn === state.drawn.context) return;
    state.drawn.context = drawn;
    const items = (cart && cart.items) || [];
    if (!items.length) {
      $("cart").replaceChildren(el("p", { class: "muted", text: "Empty." }));
    } else {
      $("cart").replaceChildren(el("table", {},
        el("tbody", {},
          ...items.map((i) => el("tr", {},
            el("td", { text: `${i.quantity} × ${i.name}` }),
            el("td", { class: "num", text: money({ ...i.unit_price, amount_minor: i.unit_price.amount_minor * i.quantity }) }))),
          el("tr", { class: "total" }, el("td", { text: "Subtotal" }), el("td", { class: "num", text: money(cart.subtotal) })))));
    }
    if (!orders.length) {
      $("orders").replaceChildren(el("p", { class: "muted", text: "None in this conversation." }));
    } else {
      $("orders").replaceChildren(el("table", {},
        el("tbody", {}, ...orders.slice().reverse().map((o) => el("tr", { "data-order": o.id },
          el("td", {}, el("b", { text: o.id }), el("br"), el("span", { class: "muted", text: `${o.status} · ${o.items} item(s)` })),
          el("td", { class: "num", text: money(o.total) }))))));
    }
  }

  async function accept() {
    const id = state.current;
    if (!id) return;
    $("accept").disabled = true;
    try {
      await api("POST", `escalations/${encodeURIComponent(id)}/accept`);
      notice("You have this conversation: the AI seller stays quiet until you release it.");
      await loadDetail(true);
      refreshQueue();
      $("reply").focus();
    } catch (e) {
      if (e.status === 409 || e.status === 403) {
        const taken = /another seller/i.test(e.message);
        notice(taken ? "Another seller accepted this conversation first." : e.message, "conflict");
        stop("detail");
        $("accept").hidden = true;
        $("suggestions").hidden = true;
        refreshQueue();
      } else if (e.status !== 401) {
        notice(e.message, "conflict");
      }
    } finally {
      $("accept").disabled = false;
    }
  }

  async function send() {
    const id = state.current;
    const box = $("reply");
    const text = box.value.trim();
    if (!id || !text) return;
    const lines = (state.detail && state.detail.transcript) || [];
    const before = lines.filter((l) => l.from === "human" && l.text === text).length;
    const pending = { text, at: new Date().toISOString(), status: "sending", before };
    state.pending.push(pending);
    box.value = "";
    showTranscript(lines);
    try {
      await api("POST", `escalations/${encodeURIComponent(id)}/reply`, { text });
      pending.status = "sent";
    } catch (e) {
      pending.status = "failed";
      if (e.status !== 401) notice(`Not sent: ${e.message}`, "conflict");
      if (!box.value) box.value = text;
    }
    if (state.current === id) showTranscript((state.detail && state.detail.transcript) || []);
  }

  async function release() {
    const id = state.current;
    if (!id) return;
    const resolution = $("release-resolution").value;
    const note = $("release-note").value.trim();
    $("release").disabled = true;
    try {
      await api("POST", `escalations/${encodeURIComponent(id)}/release`, note ? { resolution, note } : { resolution });
      $("release-note").value = "";
      notice(`Released (${RESOLUTIONS[resolution]}): the AI seller has the conversation back.`);
      await loadDetail(false);
      stop("detail");
      refreshQueue();
    } catch (e) {
      if (e.status !== 401) notice(e.message, "conflict");
    } finally {
      $("release").disabled = false;
    }
  }

  // ---- insights ------------------------------------------------------------

  function setView(view) {
    state.view = view;
    $("nav-queue").setAttribute("aria-pressed", String(view === "queue"));
    $("nav-insights").setAttribute("aria-pressed", String(view === "insights"));
    $("insights").hidden = view !== "insights";
    $("queue-pane").hidden = view !== "queue";
    if (view === "insights") {
      $("conversation").hidden = true;
      $("placeholder").hidden = true;
      refreshInsights();
      schedule("insights", refreshInsights, INSIGHTS_EVERY_MS);
    } else {
      stop("insights");
      $("conversation").hidden = !state.current;
      $("placeholder").hidden = !!state.current;
    }
  }

  async function refreshInsights() {
    if (!state.token) return;
    try {
      showInsights(await api("GET", "analytics"));
      $("insights-error").textContent = "";
    } catch (e) {
      if (e.status !== 401) $("insights-error").textContent = e.message;
    }
  }

  function sum(object) {
    return Object.values(object || {}).reduce((a, b) => a + (Number(b) || 0), 0);
  }

  function showInsights(report) {
    const q = report.queue || {};
    const me = (report.sellers || {})[state.seller] || {};
    $("insights-queue").replaceChildren(
      figure("waiting now", q.waiting ?? 0),
      figure("longest wait", duration(q.oldest_wait_s)),
      figure("in progress", q.in_progress ?? 0),
      figure("your replies", me.replies ?? 0),
      figure("your releases", me.released ?? 0),
    );
    const brands = Object.entries(report.brands || {}).sort(([a], [b]) => a.localeCompare(b));
    barChart($("chart-volume"),
      brands.map(([name, b]) => ({ label: name, values: [b.escalations, b.accepted, sum(b.resolutions), b.conversions] })),
      ["escalations", "accepted", "resolved", "sold after"], (v) => String(v));
    barChart($("chart-conversion"),
      brands.map(([name, b]) => ({ label: name, values: [b.conversion_rate] })),
      ["conversion rate"], (v) => `${Math.round(v * 100)}%`, 1);
    barChart($("chart-accept"),
      brands.map(([name, b]) => ({ label: name, values: [b.avg_time_to_accept_s] })),
      ["average time to accept"], (v) => duration(v));
    const reasons = {};
    for (const [, b] of brands) {
      for (const [reason, n] of Object.entries(b.by_reason || {})) reasons[reason] = (reasons[reason] || 0) + n;
    }
    barChart($("chart-reasons"),
      Object.entries(reasons).map(([reason, n]) => ({ label: REASONS[reason] || reason, values: [n] })),
      ["escalations"], (v) => String(v));
  }

  function figure(label, value) {
    return el("div", { class: "figure" }, el("b", { text: value }), el("span", { class: "muted", text: label }));
  }

  /** Horizontal bars, one group per row, one bar per series; plain SVG.
   *  The longest bar is the largest value, or `scale` when given (1 for rates). */
  function barChart(box, rows, series, format, scale) {
    if (!rows.length) {
      box.replaceChildren(el("p", { class: "muted", text: "Nothing yet." }));
      return;
    }
    const labelWidth = 120, width = 460, bar = 14, gap = 3, groupGap = 12, room = width - labelWidth - 60;
    const max = scale || Math.max(1e-9, ...rows.flatMap((r) => r.values.map((v) => Number(v) || 0)));
    const group = series.length * (bar + gap) + groupGap;
    const height = rows.length * group;
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": rows.map((r) => `${r.label}: ${r.values.map((v, i) =>
        `${series[i]} ${v === null || v === undefined ? "none" : format(v)}`).join(", ")}`).join("; "),
    });
    rows.forEach((row, i) => {
      const top = i * group;
      chart.append(svg("text", {
        x: 0, y: top + (series.length * (bar + gap)) / 2 + 4, class: "chart-label", text: row.label,
      }));
      row.values.forEach((value, j) => {
        const y = top + j * (bar + gap);
        const v = Number(value) || 0;
        const w = value === null || value === undefined ? 0 : Math.max(v > 0 ? 2 : 0, (room * v) / max);
        chart.append(svg("rect", { x: labelWidth, y, width: w, height: bar, rx: 2, class: `s${j}` }));
        chart.append(svg("text", {
          x: labelWidth + w + 4, y: y + bar - 3, class: "chart-label",
          text: value === null || value === undefined ? "–" : format(value),
        }));
      });
    });
    chart.append(svg("line", { x1: labelWidth, x2: labelWidth, y1: 0, y2: height, class: "chart-axis" }));
    const parts = [chart];
    if (series.length > 1) {
      parts.push(el("div", { class: "legend" }, ...series.map((name, j) =>
        el("span", {}, el("i", { class: `s${j}`, "aria-hidden": "true" }), name))));
    }
    box.replaceChildren(...parts);
  }

  // ---- wiring ----------------------------------------------------------------

  function start() {
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token").value.trim();
      if (token) signIn(token, false);
    });
    $("signout").addEventListener("click", () => signOut("Signed out."));
    $("nav-queue").addEventListener("click", () => setView("queue"));
    $("nav-insights").addEventListener("click", () => setView("insights"));
    $("back").addEventListener("click", closeConversation);
    $("accept").addEventListener("click", accept);
    $("reply-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    $("reply").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    $("release-form").addEventListener("submit", (event) => {
      event.preventDefault();
      release();
    });
    document.addEventListener("keydown", (event) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test((event.target && event.target.tagName) || "");
      if (event.key === "Escape" && !typing && state.current) closeConversation();
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved, true);
    else $("token").focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
