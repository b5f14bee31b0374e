// Slack mrkdwn to HTML, safely. Every character of the source is HTML-escaped before any markup
// is added, and the only markup added is a fixed set of tags built here, so a hostile post
// (`<img onerror=…>`, `javascript:` links, fake mentions) can only ever show as text.
"use strict";

const Mrkdwn = (() => {
  const EMOJI = {
    arrows_counterclockwise: "🔄", bar_chart: "📊", bell: "🔔", bust_in_silhouette: "👤",
    bird: "🐦", butterfly: "🦋", elephant: "🐘",
    chart_with_upwards_trend: "📈", clipboard: "📋", email: "📧", eyes: "👀",
    hourglass_flowing_sand: "⏳", inbox_tray: "📥", information_source: "ℹ️",
    leftwards_arrow_with_hook: "↩️", lock: "🔒", mailbox: "📫", memo: "📝", no_entry: "⛔",
    outbox_tray: "📤", raising_hand: "🙋", red_circle: "🔴", rotating_light: "🚨",
    speech_balloon: "💬", tada: "🎉", warning: "⚠️", white_check_mark: "✅", x: "❌",
    stopwatch: "⏱️", large_green_circle: "🟢", large_yellow_circle: "🟡", zzz: "💤",
    wave: "👋", heavy_check_mark: "✔️", pushpin: "📌", link: "🔗", hash: "#️⃣",
  };
  const MARK = "\u0000";

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // Slack escapes only &, < and > in message text; these stand for the characters themselves.
  function unescapeSlack(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function emoji(html) {
    return html.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  }

  function safeUrl(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  const pad = (n) => String(n).padStart(2, "0");

  function formatDate(seconds, format, fallback) {
    const when = new Date(seconds * 1000);
    if (Number.isNaN(when.getTime())) return fallback;
    const today = new Date();
    const sameDay = (a, b) => a.toDateString() === b.toDateString();
    const yesterday = new Date(today.getTime() - 86400000);
    const tomorrow = new Date(today.getTime() + 86400000);
    const pretty = (long) => {
      if (sameDay(when, today)) return "Today";
      if (sameDay(when, yesterday)) return "Yesterday";
      if (sameDay(when, tomorrow)) return "Tomorrow";
      return when.toLocaleDateString(undefined, long
        ? { weekday: "long", month: "long", day: "numeric", year: "numeric" }
        : { month: "short", day: "numeric" });
    };
    const parts = {
      date_num: `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`,
      date: when.toLocaleDateString(undefined, { month: "long", day: "numeric", year: "numeric" }),
      date_short: when.toLocaleDateString(undefined, { month: "short", day: "numeric", year: "numeric" }),
      date_long: when.toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric", year: "numeric" }),
      date_pretty: pretty(false), date_short_pretty: pretty(false), date_long_pretty: pretty(true),
      time: `${pad(when.getHours())}:${pad(when.getMinutes())}`,
      time_secs: `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`,
      ago: agoText(when),
    };
    let unknown = false;
    const text = format.replace(/\{(\w+)\}/g, (whole, key) => {
      if (key in parts) return parts[key];
      unknown = true;
      return whole;
    });
    return unknown ? fallback : text;
  }

  function agoText(when) {
    const seconds = Math.round((Date.now() - when.getTime()) / 1000);
    const future = seconds < 0;
    const size = Math.abs(seconds);
    const unit = size < 60 ? [size, "second"] : size < 3600 ? [Math.round(size / 60), "minute"]
      : size < 86400 ? [Math.round(size / 3600), "hour"] : [Math.round(size / 86400), "day"];
    const words = `${unit[0]} ${unit[1]}${unit[0] === 1 ? "" : "s"}`;
    return future ? `in ${words}` : `${words} ago`;
  }

  // One `<…>` token as HTML: a mention, a channel, a date, a special mention or a link.
  function tokenHtml(token, ctx) {
    const [target, ...rest] = token.split("|");
    const label = unescapeSlack(rest.join("|"));
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const name = (ctx.users && ctx.users[id]) || label || id;
      const self = ctx.self === id ? " self" : "";
      return `<span class="mention${self}" data-user="${escapeHtml(id)}">@${escapeHtml(name)}</span>`;
    }
    if (target.startsWith("#")) {
      return `<span class="mention">#${escapeHtml(label || target.slice(1))}</span>`;
    }
    if (target.startsWith("!date^")) {
      const [, stamp, format] = target.split("^");
      const text = formatDate(Number(stamp), unescapeSlack(format || "{date_num} {time}"), label);
      return `<time title="${escapeHtml(label)}">${escapeHtml(text)}</time>`;
    }
    if (target.startsWith("!subteam^")) {
      return `<span class="mention">${escapeHtml(label || "@" + target.slice(9))}</span>`;
    }
    if (target.startsWith("!")) {
      return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
    }
    const url = unescapeSlack(target);
    const href = safeUrl(url);
    const shown = escapeHtml(label || url);
    if (!href) return shown;
    return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${shown}</a>`;
  }

  function inline(html) {
    // `html` is already escaped; these add only fixed tags around runs of it.
    return html
      .replace(/(^|[^\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])/g, "$1<b>$2</b>")
      .replace(/(^|[^\w])_(?=\S)([^_\n]+?)_(?!\w)/g, "$1<i>$2</i>")
      .replace(/(^|[^\w~])~(?=\S)([^~\n]+?)~(?![\w~])/g, "$1<s>$2</s>");
  }

  // Render mrkdwn source as HTML; ctx = {users: {id: name}, self: id}.
  function toHtml(source, ctx = {}) {
    const saved = [];
    const keep = (html) => `${MARK}${saved.push(html) - 1}${MARK}`;
    let text = String(source ?? "").replace(/\u0000/g, "");
    // Code first, so nothing inside it is formatted; then the <…> tokens.
    text = text.replace(/```([\s\S]*?)```/g, (w, code) =>
      keep(`<pre>${escapeHtml(unescapeSlack(code.replace(/^\n/, "")))}</pre>`));
    text = text.replace(/`([^`\n]+)`/g, (w, code) => keep(`<code>${escapeHtml(unescapeSlack(code))}</code>`));
    text = text.replace(/<([^<>]+)>/g, (w, token) => keep(tokenHtml(token, ctx)));
    const lines = unescapeSlack(text).split("\n");
    const out = [];
    let quote = [];
    const flushQuote = () => {
      if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
      quote = [];
    };
    for (const line of lines) {
      const html = emoji(inline(escapeHtml(line.startsWith(">") ? line.slice(1).replace(/^ /, "") : line)));
      if (line.startsWith(">")) {
        quote.push(html);
      } else {
        flushQuote();
        out.push(html);
      }
    }
    flushQuote();
    let html = out.join("<br>").replace(/<\/blockquote><br>/g, "</blockquote>");
    html = html.replace(new RegExp(`${MARK}(\\d+)${MARK}`, "g"), (w, n) => saved[Number(n)]);
    return html;
  }

  // Render a plain_text object's text as HTML (emoji shortcodes drawn when `withEmoji`).
  function plainHtml(text, withEmoji = true) {
    const html = escapeHtml(String(text ?? "")).replace(/\n/g, "<br>");
    return withEmoji ? emoji(html) : html;
  }

  return { toHtml, plainHtml, escapeHtml, safeUrl, EMOJI };
})();
