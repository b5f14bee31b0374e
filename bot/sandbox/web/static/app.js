// The sandbox page: draws the fake Slack's state as a Slack client would and sends what a
// person does to the page's API, which turns it into Slack's signed requests to the bot.
"use strict";

const $ = (id) => document.getElementById(id);
const esc = Mrkdwn.escapeHtml;

const page = {
  user: null,
  state: null,
  view: "channel", // or "home"
  thread: null, // ts of the open thread
  modal: null, // {id, hash}
  dismissed: new Set(),
  refreshing: null,
  again: false,
};

// -- talking to the page's API ------------------------------------------------------------

async function api(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: page.user, ...body }),
    });
  } catch (e) {
    toast("The sandbox does not answer: is `carebot demo --keep` still running?");
    return null;
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = { error: `HTTP ${response.status}` };
  }
  if (!response.ok) {
    toast(data.error || `HTTP ${response.status}`);
    return null;
  }
  if (data && typeof data.status === "number" && data.status !== 200) {
    toast(`The bot answered HTTP ${data.status}: ${typeof data.body === "string" ? data.body : JSON.stringify(data.body)}`);
  }
  refresh();
  return data;
}

function toast(text) {
  const item = document.createElement("div");
  item.className = "toast";
  item.textContent = text;
  $("toasts").appendChild(item);
  setTimeout(() => item.remove(), 8000);
}

// Fetch the state for the chosen user and redraw; calls during a fetch coalesce into one more.
function refresh() {
  if (page.refreshing) {
    page.again = true;
    return page.refreshing;
  }
  page.refreshing = (async () => {
    try {
      do {
        page.again = false;
        let response;
        try {
          response = await fetch(`/api/state?user=${encodeURIComponent(page.user)}`);
        } catch (e) {
          // The sandbox stopped or is unreachable; the event stream retries and calls again.
          $("live").textContent = "offline";
          $("live").className = "live";
          break;
        }
        if (response.ok) {
          page.state = await response.json();
          draw();
        }
      } while (page.again);
    } finally {
      page.refreshing = null;
    }
  })();
  return page.refreshing;
}

function listen() {
  const source = new EventSource("/api/events");
  source.addEventListener("change", () => refresh());
  source.onopen = () => { $("live").textContent = "● live"; $("live").className = "live on"; };
  source.onerror = () => { $("live").textContent = "reconnecting…"; $("live").className = "live"; };
}

// -- drawing ------------------------------------------------------------------------------

function ctx() {
  return { users: page.state.users, self: page.user };
}

function userName(id) {
  return page.state.users[id] || id;
}

function avatar(id, bot) {
  const name = bot ? "Carebot" : userName(id);
  let hue = 0;
  for (const ch of id) hue = (hue * 31 + ch.charCodeAt(0)) % 360;
  const style = bot ? "" : ` style="background:hsl(${hue} 45% 45%)"`;
  return `<div class="avatar${bot ? " bot" : ""}"${style} aria-hidden="true">${esc(bot ? "CB" : name.slice(0, 1).toUpperCase())}</div>`;
}

function tsTime(at) {
  const when = new Date(at * 1000);
  return when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function textObject(obj) {
  if (!obj || typeof obj !== "object") return "";
  if (obj.type === "mrkdwn") return Mrkdwn.toHtml(obj.text, ctx());
  return Mrkdwn.plainHtml(obj.text, obj.emoji !== false);
}

function buttonHtml(el, where) {
  const style = el.style === "primary" ? " primary" : el.style === "danger" ? " danger" : "";
  return `<button type="button" class="btn block-btn${style}" data-action="${esc(el.action_id || "")}"` +
    ` data-where="${esc(where)}">${textObject(el.text)}</button>`;
}

function elementHtml(el, where) {
  switch (el.type) {
    case "button": return buttonHtml(el, where);
    case "image": {
      const url = Mrkdwn.safeUrl(String(el.image_url || ""));
      return url ? `<img class="ctx-img" src="${esc(url)}" alt="${esc(el.alt_text || "")}">` : "";
    }
    case "mrkdwn": case "plain_text": return `<span>${textObject(el)}</span>`;
    case "static_select": case "overflow": case "users_select":
      return `<span class="fake-select">${textObject(el.placeholder) || "Choose"} ▾</span>`;
    default: return `<span class="unsupported">[${esc(el.type)}]</span>`;
  }
}

// Block Kit blocks as HTML; `where` tells the buttons which message they sit on.
function blocksHtml(blocks, where) {
  return blocks.map((block) => {
    switch (block.type) {
      case "header":
        return `<div class="b-header">${textObject(block.text)}</div>`;
      case "section": {
        let html = `<div class="b-section" data-block="${esc(block.block_id || "")}"><div class="b-section-main">`;
        if (block.text) html += `<div class="b-text">${textObject(block.text)}</div>`;
        if (block.fields) {
          html += `<div class="b-fields">${block.fields.map((f) => `<div class="b-field">${textObject(f)}</div>`).join("")}</div>`;
        }
        html += "</div>";
        if (block.accessory) html += `<div class="b-accessory">${elementHtml(block.accessory, where)}</div>`;
        return html + "</div>";
      }
      case "context":
        return `<div class="b-context">${(block.elements || []).map((e) => elementHtml(e, where)).join("")}</div>`;
      case "actions":
        return `<div class="b-actions">${(block.elements || []).map((e) => elementHtml(e, where)).join("")}</div>`;
      case "divider":
        return "<hr class=\"b-divider\">";
      case "image": {
        const url = Mrkdwn.safeUrl(String(block.image_url || ""));
        const title = block.title ? `<div class="b-image-title">${textObject(block.title)}</div>` : "";
        return url ? `<figure class="b-image">${title}<img src="${esc(url)}" alt="${esc(block.alt_text || "")}"></figure>` : "";
      }
      case "rich_text":
        return `<div class="b-text">${Mrkdwn.plainHtml(richText(block))}</div>`;
      case "input":
        return inputHtml(block);
      default:
        return `<div class="unsupported">[${esc(block.type)} block]</div>`;
    }
  }).join("");
}

function richText(block) {
  const out = [];
  const walk = (node) => {
    if (!node || typeof node !== "object") return;
    if (typeof node.text === "string") out.push(node.text);
    if (node.type === "user") out.push(`@${userName(node.user_id)}`);
    (node.elements || []).forEach(walk);
  };
  walk(block);
  return out.join("");
}

function messageHtml(message, { inThread = false, ephemeral = false } = {}) {
  const bot = ephemeral || message.bot;
  const author = bot ? "Carebot" : userName(message.user);
  const where = ephemeral ? `eph:${message.ts}` : `msg:${message.ts}`;
  const body = message.blocks && message.blocks.length
    ? blocksHtml(message.blocks, where)
    : `<div class="b-text">${Mrkdwn.toHtml(message.text, ctx())}</div>`;
  let html = `<article class="msg${ephemeral ? " ephemeral" : ""}" data-ts="${esc(message.ts)}">`;
  html += avatar(message.user || "", bot);
  html += '<div class="msg-main"><div class="msg-head">';
  html += `<span class="author">${esc(author)}</span>${bot ? '<span class="app">APP</span>' : ""}`;
  html += `<span class="time">${esc(tsTime(message.at))}</span>`;
  if (message.edited) html += '<span class="edited">(edited)</span>';
  html += "</div>";
  if (ephemeral) html += '<div class="only-you">👁 Only visible to you</div>';
  if (message.broadcast && !inThread) {
    html += `<div class="broadcast">replied to a thread: <button type="button" class="link open-thread" data-thread="${esc(message.thread_ts)}">view thread</button></div>`;
  } else if (message.broadcast) {
    html += '<div class="broadcast">Also sent to the channel</div>';
  }
  html += `<div class="msg-body">${body}${filesHtml(message.files || [])}</div>`;
  if (message.reactions && Object.keys(message.reactions).length) {
    html += '<div class="reactions">' + Object.entries(message.reactions)
      .map(([name, count]) => `<span class="reaction">${Mrkdwn.toHtml(`:${name}:`)} ${count}</span>`).join("") + "</div>";
  }
  if (!inThread && message.reply_count) {
    const people = message.reply_users.map((u) => avatar(u, u === page.state.bot_user)).join("");
    const word = message.reply_count === 1 ? "reply" : "replies";
    html += `<div class="replies"><span class="reply-avatars">${people}</span><button type="button" class="link open-thread" data-thread="${esc(message.ts)}">${message.reply_count} ${word}</button></div>`;
  }
  if (ephemeral) html += `<button type="button" class="link dismiss" data-dismiss="${esc(message.ts)}">Dismiss</button>`;
  return html + "</div></article>";
}

// Files shared with a message (the digest's charts): images are shown, others linked.
function filesHtml(files) {
  return files.map((file) => {
    const url = Mrkdwn.safeUrl(String(file.url_private || ""));
    if (!url) return "";
    const title = esc(file.title || file.name || "file");
    if (String(file.mimetype || "").startsWith("image/")) {
      return `<figure class="b-image"><div class="b-image-title">${title}</div>` +
        `<img src="${esc(url)}" alt="${esc(file.alt_txt || file.title || "")}"></figure>`;
    }
    return `<div class="b-file"><a href="${esc(url)}" target="_blank" rel="noopener noreferrer">📎 ${title}</a></div>`;
  }).join("");
}

function keepScroll(container, draw) {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const top = container.scrollTop;
  draw();
  container.scrollTop = atBottom ? container.scrollHeight : top;
}

function draw() {
  const state = page.state;
  $("channel-name").textContent = state.channel.name;
  $("channel-title").textContent = state.channel.name;
  drawPeople();
  drawNetworks();
  const shown = state.ephemerals.filter((e) => !page.dismissed.has(e.ts));
  const items = [
    ...state.messages.map((m) => ({ ts: m.ts, html: messageHtml(m) })),
    ...shown.filter((e) => !e.thread_ts).map((e) => ({ ts: e.ts, html: messageHtml(e, { ephemeral: true }) })),
  ].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  keepScroll($("messages"), () => {
    $("messages").innerHTML = items.length ? items.map((i) => i.html).join("")
      : '<p class="empty">No messages yet. Post a mention on the left and the bot draws its card here.</p>';
  });
  drawThread(shown);
  drawHome();
  drawModal();
}

function drawPeople() {
  const select = $("acting");
  const wanted = page.state.people.map((p) => `${p.id}:${p.name}:${p.role}`).join("|");
  if (select.dataset.people !== wanted) {
    select.innerHTML = page.state.people
      .map((p) => `<option value="${esc(p.id)}">${esc(p.name)} (${esc(p.role)})</option>`).join("");
    select.dataset.people = wanted;
  }
  select.value = page.user;
}

function drawNetworks() {
  const select = $("mention-network");
  const wanted = page.state.networks.map((n) => n.id).join("|");
  if (select.dataset.networks !== wanted) {
    select.innerHTML = page.state.networks
      .map((n) => `<option value="${esc(n.id)}">${esc(n.label)}</option>`).join("");
    select.dataset.networks = wanted;
  }
}

function drawThread(ephemerals) {
  const pane = $("thread-pane");
  const parent = page.thread && page.state.messages.find((m) => m.ts === page.thread);
  if (!parent) {
    pane.classList.add("hidden");
    return;
  }
  pane.classList.remove("hidden");
  const items = [
    ...parent.replies.map((r) => ({ ts: r.ts, html: messageHtml(r, { inThread: true }) })),
    ...ephemerals.filter((e) => e.thread_ts === parent.ts)
      .map((e) => ({ ts: e.ts, html: messageHtml(e, { inThread: true, ephemeral: true }) })),
  ].sort((a, b) => (a.ts < b.ts ? -1 : 1));
  const count = parent.replies.length;
  keepScroll($("thread"), () => {
    $("thread").innerHTML = messageHtml(parent, { inThread: true }) +
      `<div class="thread-count">${count} ${count === 1 ? "reply" : "replies"}</div>` +
      items.map((i) => i.html).join("");
  });
}

function drawHome() {
  const home = page.state.home;
  $("home").innerHTML = home ? blocksHtml(home.blocks || [], "home")
    : '<p class="empty">Opening the App Home…</p>';
  $("home-pane").classList.toggle("hidden", page.view !== "home");
  $("channel-pane").classList.toggle("hidden", page.view !== "channel");
  $("nav-home").classList.toggle("active", page.view === "home");
  $("nav-channel").classList.toggle("active", page.view === "channel");
}

// -- the modal ----------------------------------------------------------------------------

function inputHtml(block) {
  const el = block.element || {};
  const id = `in-${block.block_id}-${el.action_id}`;
  const optional = block.optional ? ' <span class="optional">(optional)</span>' : "";
  let control = "";
  const data = `data-block="${esc(block.block_id || "")}" data-action="${esc(el.action_id || "")}" data-kind="${esc(el.type)}"`;
  if (el.type === "plain_text_input") {
    const max = el.max_length ? ` maxlength="${Number(el.max_length)}"` : "";
    const placeholder = el.placeholder ? ` placeholder="${esc(el.placeholder.text)}"` : "";
    control = el.multiline
      ? `<textarea id="${esc(id)}" rows="5" ${data}${placeholder}>${esc(el.initial_value || "")}</textarea>`
      : `<input id="${esc(id)}" ${data}${placeholder} value="${esc(el.initial_value || "")}">`;
    // Slack counts against max_length in the client; the page lets the bot judge, as the
    // limit a network counts (weighted characters) can differ from Slack's.
    control = control.replace(max, "");
  } else if (el.type === "checkboxes" || el.type === "radio_buttons") {
    const ticked = new Set((el.initial_options || (el.initial_option ? [el.initial_option] : [])).map((o) => o.value));
    const kind = el.type === "checkboxes" ? "checkbox" : "radio";
    control = `<div class="choices" ${data}>` + (el.options || []).map((o) =>
      `<label class="choice"><input type="${kind}" name="${esc(id)}" value="${esc(o.value)}"${ticked.has(o.value) ? " checked" : ""}> ${textObject(o.text)}` +
      (o.description ? `<span class="choice-desc">${textObject(o.description)}</span>` : "") + "</label>").join("") + "</div>";
  } else if (el.type === "static_select") {
    const chosen = el.initial_option ? el.initial_option.value : "";
    const options = [...(el.options || []), ...(el.option_groups || []).flatMap((g) => g.options || [])];
    control = `<select id="${esc(id)}" ${data}><option value="">${el.placeholder ? esc(el.placeholder.text) : "Choose"}</option>` +
      options.map((o) => `<option value="${esc(o.value)}"${o.value === chosen ? " selected" : ""}>${esc(o.text.text)}</option>`).join("") + "</select>";
  } else {
    control = `<div class="unsupported">[${esc(el.type)} input]</div>`;
  }
  const hint = block.hint ? `<div class="hint">${textObject(block.hint)}</div>` : "";
  return `<div class="b-input" data-block="${esc(block.block_id || "")}"><label for="${esc(id)}">${textObject(block.label)}${optional}</label>${control}` +
    `<div class="input-error" data-error-for="${esc(block.block_id || "")}" role="alert"></div>${hint}</div>`;
}

function readInputs() {
  const values = {};
  for (const node of $("modal-body").querySelectorAll("[data-kind]")) {
    const { block, action, kind } = node.dataset;
    let value;
    if (kind === "checkboxes") {
      value = [...node.querySelectorAll("input:checked")].map((i) => i.value);
    } else if (kind === "radio_buttons") {
      const chosen = node.querySelector("input:checked");
      value = chosen ? chosen.value : null;
    } else if (kind === "static_select") {
      value = node.value || null;
    } else if (kind === "plain_text_input") {
      value = node.value;
    } else {
      continue;
    }
    (values[block] ||= {})[action] = value;
  }
  return values;
}

function drawModal() {
  const modal = page.state.modal;
  const overlay = $("modal-overlay");
  if (!modal) {
    overlay.classList.add("hidden");
    page.modal = null;
    return;
  }
  if (page.modal && page.modal.id === modal.id && page.modal.hash === modal.hash) return;
  // Redrawn by the bot (views.update): what the person typed stays where the input stays.
  const typed = page.modal && page.modal.id === modal.id ? readInputs() : {};
  const initial = page.modal && page.modal.id === modal.id ? page.modal.initial : {};
  page.modal = { id: modal.id, hash: modal.hash };
  overlay.classList.remove("hidden");
  $("modal-title").innerHTML = textObject(modal.title);
  $("modal-body").innerHTML = blocksHtml(modal.blocks || [], `view:${modal.id}`);
  $("modal-submit").classList.toggle("hidden", !modal.submit);
  $("modal-submit").disabled = false;
  if (modal.submit) $("modal-submit").innerHTML = textObject(modal.submit);
  $("modal-close").innerHTML = modal.close ? textObject(modal.close) : "Close";
  page.modal.initial = readInputs();
  for (const node of $("modal-body").querySelectorAll('[data-kind="plain_text_input"]')) {
    const { block, action } = node.dataset;
    const before = typed[block] && typed[block][action];
    const unchanged = (initial[block] || {})[action] === (page.modal.initial[block] || {})[action];
    if (typeof before === "string" && unchanged) node.value = before;
  }
  const first = $("modal-body").querySelector("textarea, input:not([type=checkbox]):not([type=radio])");
  if (first) first.focus();
}

async function submitModal(event) {
  event.preventDefault();
  if (!page.modal) return;
  const id = page.modal.id;
  const button = $("modal-submit");
  const label = button.innerHTML;
  button.disabled = true;
  button.textContent = "Sending…";
  for (const node of document.querySelectorAll(".input-error")) node.textContent = "";
  const answer = await api(`/api/views/${encodeURIComponent(id)}/submit`, { values: readInputs() });
  button.disabled = false;
  button.innerHTML = label;
  const body = answer && answer.body;
  if (body && body.response_action === "errors") {
    for (const [block, message] of Object.entries(body.errors || {})) {
      const slot = document.querySelector(`.input-error[data-error-for="${CSS.escape(block)}"]`);
      if (slot) slot.textContent = message;
      else toast(message);
    }
  }
}

// -- acting -------------------------------------------------------------------------------

function onClick(event) {
  const target = event.target.closest("button");
  if (!target) return;
  if (target.classList.contains("open-thread")) {
    page.thread = target.dataset.thread;
    draw();
    return;
  }
  if (target.dataset.dismiss) {
    page.dismissed.add(target.dataset.dismiss);
    draw();
    return;
  }
  if (!target.classList.contains("block-btn")) return;
  const [kind, ts] = target.dataset.where.split(/:(.*)/s);
  if (kind === "msg" || kind === "eph") {
    target.disabled = true;
    api("/api/click", { ts, action_id: target.dataset.action, ephemeral: kind === "eph" })
      .finally(() => { target.disabled = false; });
  } else {
    toast("Buttons here are drawn but not wired up in the sandbox page.");
  }
}

async function sendCommand(event) {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  if (!text.startsWith("/")) {
    toast("Only slash commands go to the bot here: try /care digest.");
    return;
  }
  const answer = await api("/api/command", { text });
  if (answer) input.value = "";
}

async function postMention(event) {
  event.preventDefault();
  const form = new FormData($("new-mention"));
  const note = $("mention-note");
  note.textContent = "";
  const answer = await api("/api/mentions", Object.fromEntries(form.entries()));
  if (answer && answer.ok) {
    note.textContent = `Posted (id ${answer.id}). The bot picks it up at its next poll.`;
  }
}

function setUser(id) {
  page.user = id;
  page.modal = null;
  localStorage.setItem("carebot-sandbox-user", id);
  const url = new URL(window.location.href);
  url.searchParams.set("as", id);
  history.replaceState(null, "", url);
  if (page.view === "home") api("/api/home", {});
  refresh();
}

async function start() {
  // The sandbox answers for its first person when asked for someone it does not know.
  page.user = new URL(window.location.href).searchParams.get("as")
    || localStorage.getItem("carebot-sandbox-user") || "";
  await refresh();
  if (!page.state) return;
  page.user = page.state.user;
  setUser(page.user);
  $("acting").addEventListener("change", (e) => setUser(e.target.value));
  document.body.addEventListener("click", onClick);
  $("modal-form").addEventListener("submit", submitModal);
  const close = () => page.modal && api(`/api/views/${encodeURIComponent(page.modal.id)}/close`, {});
  $("modal-close").addEventListener("click", close);
  $("modal-x").addEventListener("click", close);
  $("thread-close").addEventListener("click", () => { page.thread = null; draw(); });
  $("composer").addEventListener("submit", sendCommand);
  $("new-mention").addEventListener("submit", postMention);
  $("nav-home").addEventListener("click", () => { page.view = "home"; api("/api/home", {}); draw(); });
  $("nav-channel").addEventListener("click", () => { page.view = "channel"; draw(); });
  listen();
}

document.addEventListener("DOMContentLoaded", start);
