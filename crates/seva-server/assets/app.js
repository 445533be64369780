// Seva's agent pages: live updates over server-sent events, keyboard shortcuts, and
// select boxes that save when changed. Every page works without this script; it only
// saves reloads and clicks.
"use strict";

(function () {
  const page = document.body.dataset.page;

  // A <select data-autosubmit> saves its form as soon as it changes (delegated, so it
  // keeps working in regions the live updates replace).
  document.addEventListener("change", (e) => {
    if (e.target.matches?.("select[data-autosubmit]")) e.target.form.submit();
  });

  // Times come from the server in UTC ("2026-12-03 22:10 UTC"); each <time datetime> is
  // shown again in the reader's own time zone, in the same shape, with its zone's name.
  // The UTC original stays as its tooltip.
  const clock = new Intl.DateTimeFormat(document.documentElement.lang || "en", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZoneName: "short",
  });
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const at = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(at.getTime()) || el.dataset.local) return;
      const p = Object.fromEntries(clock.formatToParts(at).map((x) => [x.type, x.value]));
      el.title = el.textContent;
      el.textContent = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
      el.dataset.local = "1";
    });
  }
  localTimes(document);

  // A form is sent once: a second click while its answer loads (a double click) would
  // send the reply, or open the conversation, twice. A form the page sent itself (the
  // chat's reply box) is not marked; one shown again from the history is sendable again.
  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (e.defaultPrevented || form.method.toLowerCase() !== "post") return;
    if (form.dataset.sending) {
      e.preventDefault();
      return;
    }
    form.dataset.sending = "1";
  });
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-sending]").forEach((f) => delete f.dataset.sending);
  });

  // A new inbox's form shows the fields of the channel chosen (all of them without this
  // script).
  const channelPick = document.querySelector("select[name=channel]");
  function showChannel() {
    document.querySelectorAll("fieldset[data-channel]").forEach((f) => { f.hidden = f.dataset.channel !== channelPick.value; });
  }
  if (channelPick) {
    channelPick.addEventListener("change", showChannel);
    showChannel();
  }

  // Regions marked data-live are fetched again when something they show changes. A
  // region the agent is working in (focus inside it) is left alone until the next change.
  const regions = [...document.querySelectorAll("[data-live]")];
  const live = regions[0];
  const conversationId = document.querySelector("[data-conversation]")?.dataset.conversation;
  let pending = null;

  // A button held down in a region: a click on its way, which a replaced row would lose.
  // An update put off for it is fetched again once the button is let go.
  let pressed = null;
  let putOff = false;
  document.addEventListener("pointerdown", (e) => { pressed = e.target; }, true);
  for (const end of ["pointerup", "pointercancel"]) {
    document.addEventListener(end, () => {
      pressed = null;
      if (putOff) {
        putOff = false;
        refresh();
      }
    }, true);
  }
  function inUse(region) {
    if (pressed !== null && region.contains(pressed)) return (putOff = true);
    return region.contains(document.activeElement) && document.activeElement !== document.body;
  }

  async function reload(region) {
    if (inUse(region)) return;
    const response = await fetch(region.dataset.live, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = await response.text();
    // Asked again: the agent may have begun a click or a reply while the page was fetched.
    if (inUse(region)) return;
    const before = new Set([...region.querySelectorAll("[data-href]")].map((r) => r.dataset.href));
    // Ticks for the bulk bar survive the update.
    const ticked = new Set([...region.querySelectorAll("input[name=ids]:checked")].map((i) => i.value));
    region.innerHTML = html;
    localTimes(region);
    region.querySelectorAll("input[name=ids]").forEach((i) => { i.checked = ticked.has(i.value); });
    region.querySelectorAll("[data-href]").forEach((row) => {
      if (!before.has(row.dataset.href)) row.classList.add("fresh");
    });
    region.dispatchEvent(new CustomEvent("seva:updated", { bubbles: true }));
  }

  function refresh() {
    if (!live || pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try {
        await Promise.all(regions.map(reload));
      } catch (_) {
        // Offline for a moment: the next event or the reconnect will bring us up to date.
      }
    }, 150);
  }

  // Collision notice: this page says who is on the conversation (viewing, or writing a
  // reply) and shows who else is. Announcements are renewed every 10 s and lapse on the
  // server after 30 s, so a closed tab disappears even if its goodbye is lost.
  const presence = document.getElementById("presence");
  const csrf = document.querySelector("input[name=csrf]")?.value || "";
  let announced = null;
  let typedAt = 0;
  async function announce(state) {
    if (!presence || !conversationId) return;
    announced = state;
    try {
      const response = await fetch(`/api/v1/conversations/${conversationId}/presence`, {
        method: "POST",
        credentials: "same-origin",
        keepalive: state === "left",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ state }),
      });
      if (response.ok && state !== "left") showPresence(await response.json());
    } catch (_) {
      // Offline: the next renewal tries again.
    }
  }
  async function lookAround() {
    try {
      const response = await fetch(`/api/v1/conversations/${conversationId}/presence`, { credentials: "same-origin" });
      if (response.ok) showPresence(await response.json());
    } catch (_) {}
  }
  let typingCheck = null;
  function showPresence(others) {
    const words = { replying: presence.dataset.replying, typing: presence.dataset.typing, viewing: presence.dataset.viewing };
    const lines = others.map((o) =>
      (words[o.state] || words.viewing).replace("{name}", o.name || presence.dataset.customer));
    // A customer's typing lapses by itself: look again once it would have.
    clearTimeout(typingCheck);
    if (others.some((o) => o.state === "typing")) typingCheck = setTimeout(lookAround, 6500);
    presence.textContent = lines.join(" · ");
    presence.hidden = lines.length === 0;
    presence.classList.toggle("replying", others.some((o) => o.state === "replying"));
  }
  if (presence && conversationId) {
    const writing = () => Date.now() - typedAt < 5000;
    announce("viewing");
    setInterval(() => announce(writing() ? "replying" : "viewing"), 10000);
    const replyBox = document.getElementById("reply-text");
    replyBox?.addEventListener("input", () => {
      typedAt = Date.now();
      if (announced !== "replying") announce("replying");
      setTimeout(() => { if (!writing() && announced === "replying") announce("viewing"); }, 5500);
    });
    window.addEventListener("pagehide", () => announce("left"));
  }

  // Drafts: what an agent types in a conversation's reply box is kept in this browser
  // until it is sent, so that a refused send, a closed tab or a look at another page does
  // not lose it. The server answers a sent reply with the page and `?sent=1`; logging out
  // forgets every draft.
  const drafts = {
    key: "seva-draft:" + conversationId,
    get() { try { return localStorage.getItem(this.key); } catch { return null; } },
    set(text) { try { text.trim() ? localStorage.setItem(this.key, text) : localStorage.removeItem(this.key); } catch { /* full or off */ } },
    clear() { this.set(""); },
  };
  const draftBox = document.getElementById("reply-text");
  if (draftBox && conversationId) {
    const url = new URL(location.href);
    if (url.searchParams.has("sent")) {
      drafts.clear();
      url.searchParams.delete("sent");
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    } else if (document.getElementById("reply-refused")) {
      // A refused reply comes back on the page its form posted to; a reload of that
      // would post it again.
      history.replaceState(null, "", "/conversations/" + conversationId);
    } else if (!draftBox.value && drafts.get()) {
      draftBox.value = drafts.get();
    }
    draftBox.addEventListener("input", () => drafts.set(draftBox.value));
  }
  document.querySelector("form[action='/logout']")?.addEventListener("submit", () => {
    try {
      for (const k of Object.keys(localStorage)) if (k.startsWith("seva-draft:")) localStorage.removeItem(k);
    } catch { /* nothing kept */ }
  });

  // A chat's answers go over the chat protocol (docs/chat.md), as the visitor's lines do:
  // acknowledged once committed, stored once per client id however often they are sent,
  // and the visitor's new lines and typing come the same way. A reply with files, a
  // status or a note, or one written while the session is down, goes by the form.
  const chatInbox = document.querySelector("[data-chat-inbox]")?.dataset.chatInbox;
  if (chatInbox && window.WebSocket) {
    let chat = null;
    let ready = false;
    const waiting = new Map(); // client id -> the reply box's text, until acked
    const openChat = () => {
      chat = new WebSocket(location.origin.replace(/^http/, "ws") + "/chat/v1/ws?inbox=" + encodeURIComponent(chatInbox));
      chat.onopen = () => chat.send(JSON.stringify({ type: "hello", v: 1, as: "agent", conversation: conversationId }));
      chat.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (f.type === "welcome") ready = true;
        else if (f.type === "message") refresh();
        else if (f.type === "typing" && presence) lookAround();
        else if (f.type === "ack" && waiting.has(f.client_id)) {
          waiting.delete(f.client_id);
          refresh();
        } else if (f.type === "error" && f.client_id && waiting.has(f.client_id)) {
          // Not stored: the text goes back in the box, for the form to send.
          const box = document.getElementById("reply-text");
          if (box && !box.value) box.value = waiting.get(f.client_id);
          waiting.delete(f.client_id);
        }
      };
      chat.onclose = () => {
        ready = false;
        setTimeout(openChat, 2000);
      };
    };
    openChat();
    const form = document.querySelector("form.reply");
    form?.addEventListener("submit", (e) => {
      const data = new FormData(form);
      const plain = data.get("kind") === "reply" && !data.get("status") && !form.querySelector("input[type=file]").files.length;
      const text = String(data.get("text") || "").trim();
      if (!ready || !plain || !text || chat.readyState !== WebSocket.OPEN) return;
      e.preventDefault();
      const id = crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2);
      waiting.set(id, text);
      chat.send(JSON.stringify({ type: "message", client_id: id, text }));
      form.reset();
      drafts.clear();
    });
    let typedAt = 0; // the visitor is told at most every 3 s
    document.getElementById("reply-text")?.addEventListener("input", () => {
      if (ready && Date.now() - typedAt > 3000) {
        typedAt = Date.now();
        chat.send(JSON.stringify({ type: "typing" }));
      }
    });
  }

  // The live stream. A stream can die silently (a network that went away without closing
  // it): the server sends a ping every 5 s, and a stream quiet for 15 s is replaced, as is
  // one the browser gave up on, and any when the network comes back. Each new stream
  // starts with a refresh, so what changed meanwhile shows without a reload.
  let source = null;
  let heard = Date.now();
  function listen() {
    source?.close();
    heard = Date.now();
    source = new EventSource("/live");
    source.addEventListener("change", (e) => {
      heard = Date.now();
      const change = JSON.parse(e.data);
      if (page === "inbox" || page === "contact" || page === "queues" || change.conversation_id === conversationId) refresh();
    });
    source.addEventListener("presence", (e) => {
      heard = Date.now();
      if (presence && JSON.parse(e.data).conversation_id === conversationId) lookAround();
    });
    source.addEventListener("ping", () => { heard = Date.now(); });
    source.addEventListener("resync", refresh);
    source.addEventListener("open", () => {
      heard = Date.now();
      refresh();
      if (presence && conversationId) lookAround();
    });
  }
  if (live && window.EventSource) {
    listen();
    setInterval(() => {
      if (source.readyState === EventSource.CLOSED || Date.now() - heard > 15000) listen();
    }, 5000);
    window.addEventListener("online", listen);
  }

  // Keyboard: j/k move through the list, x ticks the row, Enter opens; on a conversation
  // r goes to the reply box, n to it as an internal note, a takes the conversation, and
  // u goes back to the inbox.
  let selected = -1;
  function rows() {
    return [...document.querySelectorAll("tr[data-href]")];
  }
  function select(index) {
    const list = rows();
    if (!list.length) return;
    selected = Math.max(0, Math.min(list.length - 1, index));
    list.forEach((r, i) => r.classList.toggle("selected", i === selected));
    list[selected].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (e) => {
    const typing = /INPUT|TEXTAREA|SELECT/.test(document.activeElement?.tagName || "");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && document.activeElement?.form) {
      e.preventDefault();
      document.activeElement.form.requestSubmit();
      return;
    }
    if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "/") {
      const find = document.getElementById("top-search");
      if (find) {
        e.preventDefault();
        find.focus();
      }
    } else if (e.key === "j") select(selected + 1);
    else if (e.key === "k") select(selected - 1);
    else if (e.key === "Enter" && selected >= 0) location.href = rows()[selected].dataset.href;
    else if (e.key === "x" && selected >= 0) {
      const box = rows()[selected].querySelector("input[name=ids]");
      if (box) box.checked = !box.checked;
    } else if (e.key === "r" || e.key === "n") {
      const reply = document.getElementById("reply-text");
      if (!reply) return;
      e.preventDefault();
      const kind = reply.form.querySelector(`input[name=kind][value=${e.key === "n" ? "note" : "reply"}]`);
      if (kind) kind.checked = true;
      reply.focus();
    } else if (e.key === "a" && conversationId) {
      document.querySelector("form[action$='/assign'] input[name=owner][type=hidden]")?.form.requestSubmit();
    } else if (e.key === "u" && conversationId) {
      location.href = "/inbox";
    } else if (e.key === "c" && document.querySelector("a.new-conversation")) {
      location.href = "/conversations/new";
    }
  });
  document.addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-href]");
    if (row && !e.target.closest("a, input, label, td.pick")) location.href = row.dataset.href;
  });

  // Beside the reply box: an article's link or text goes into the reply where the cursor is.
  document.addEventListener("click", (e) => {
    const b = e.target.closest?.("button[data-insert]");
    const box = document.getElementById("reply-text");
    if (!b || !box) return;
    const at = box.selectionStart ?? box.value.length;
    const before = box.value.slice(0, at);
    const gap = before && !before.endsWith("\n") ? "\n" : "";
    box.value = before + gap + b.dataset.insert + box.value.slice(box.selectionEnd ?? at);
    box.focus();
  });

  // The help center's search box shows results as the visitor types (the form works
  // without this, on the results page).
  const instant = document.querySelector("input[data-instant]");
  const shown = document.getElementById("help-instant");
  if (instant && shown) {
    let timer = 0;
    let asked = 0;
    instant.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = instant.value.trim();
        const mine = ++asked;
        if (!q) { shown.hidden = true; return; }
        try {
          const res = await fetch(instant.dataset.instant + "?q=" + encodeURIComponent(q));
          const data = await res.json();
          if (mine !== asked) return;
          shown.replaceChildren();
          const list = document.createElement("ol");
          for (const r of data.results) {
            const li = document.createElement("li");
            const a = document.createElement("a");
            a.href = r.href;
            // The server escaped both and marked the matched words with <b>.
            a.innerHTML = r.title_html;
            if (r.lang) a.lang = r.lang;
            const p = document.createElement("p");
            p.innerHTML = r.snippet_html;
            li.append(a, p);
            list.append(li);
          }
          if (!data.results.length) {
            const p = document.createElement("p");
            p.textContent = data.empty;
            shown.append(p);
          } else shown.append(list);
          if (data.note) {
            const n = document.createElement("p");
            n.className = "note";
            n.textContent = data.note;
            shown.append(n);
          }
          shown.hidden = false;
        } catch (_) { /* the form still works */ }
      }, 150);
    });
  }
})();
