// Seva's chat widget: one <script src="https://seva.example/widget.js" data-inbox="…">
// on any page gives a launcher and a chat window. It speaks the chat protocol (version 1,
// docs/chat.md) over a WebSocket. Messages are kept in this browser until the server
// acknowledges them, so a cut connection loses nothing: they are sent again (once, by
// their client id) as soon as it is back. The visitor's token, kept here too, brings the
// conversation back on the next visit. No third-party code.
"use strict";

(function () {
  const script = document.currentScript;
  const inbox = script && script.dataset.inbox;
  if (!inbox) return;
  const origin = new URL(script.src).origin;
  // Filled in by the server from its translation files.
  const WORDS = /*STRINGS*/{};
  const store = "seva-chat-" + inbox;
  const saved = JSON.parse(localStorage.getItem(store) || "{}");
  const state = { token: saved.token || null, outbox: saved.outbox || [], name: saved.name || "", email: saved.email || "" };
  let lang = saved.lang || (navigator.language || "en").slice(0, 2).toLowerCase();
  if (!WORDS[lang]) lang = "en";

  const lines = new Map(); // seq -> line, what the server has confirmed
  let lastSeq = 0;
  let socket = null;
  let welcomed = false;
  let retry = 500;
  let place = null;
  let agentsOnline = true;
  let requireEmail = false;
  let emailAnswers = false; // answers the visitor does not read here go by email
  let emailKnown = false;
  let greeting = null;
  let away = null; // the inbox's words for when nobody is online
  let agentTyping = null;
  let ended = false;
  let seenSeq = 0; // the visitor's lines up to here were seen by an agent
  let readTold = 0; // the agents' lines up to here were told read
  let typedAt = 0;

  const w = (key, args) => {
    let s = (WORDS[lang] && WORDS[lang][key]) || (WORDS.en && WORDS.en[key]) || key;
    for (const [k, v] of Object.entries(args || {})) s = s.replace(new RegExp("\\{\\s*\\$?" + k + "\\s*\\}", "g"), v);
    return s;
  };
  const save = () => localStorage.setItem(store, JSON.stringify({ token: state.token, outbox: state.outbox, name: state.name, email: state.email, lang }));
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));

  // The widget lives in a shadow root, so the page's styles and ours never meet.
  const host = document.createElement("div");
  host.id = "seva-chat";
  document.body.appendChild(host);
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<style>
    :host { all: initial; font: 15px/1.4 system-ui, sans-serif; color: #1d2733; }
    button { font: inherit; cursor: pointer; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 28px;
      padding: 14px 20px; background: var(--c, #0b5cad); color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483000; width: 360px; max-height: 70vh; display: flex;
      flex-direction: column; background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); overflow: hidden; }
    .panel[hidden], form[hidden] { display: none; }
    header { display: flex; gap: 8px; align-items: center; padding: 10px 12px; background: var(--c, #0b5cad); color: #fff; }
    header h2 { flex: 1; margin: 0; font-size: 16px; }
    header select, header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.6); border-radius: 6px; }
    header option { color: #000; }
    .status { margin: 0; padding: 6px 12px; background: #fff7d6; font-size: 13px; }
    .status:empty { display: none; }
    ol { list-style: none; margin: 0; padding: 12px; overflow-y: auto; flex: 1; display: flex; flex-direction: column; gap: 6px; min-height: 160px; }
    li { max-width: 80%; padding: 8px 10px; border-radius: 10px; background: #eef1f5; white-space: pre-wrap; overflow-wrap: anywhere; }
    li.visitor { align-self: flex-end; background: var(--c, #0b5cad); color: #fff; }
    li.pending { opacity: .6; }
    li.typing { font-style: italic; opacity: .7; }
    li .who { display: block; font-size: 12px; opacity: .8; }
    li .seen { text-align: right; margin-top: 2px; }
    form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e3e6ea; flex-wrap: wrap; }
    form input, form textarea { font: inherit; flex: 1; min-width: 0; padding: 8px; border: 1px solid #c8ced6; border-radius: 8px; }
    form textarea { resize: none; height: 40px; }
    form button { border: 0; border-radius: 8px; padding: 8px 14px; background: var(--c, #0b5cad); color: #fff; }
    .who-form input { flex-basis: 100%; }
    .attach { display: flex; align-items: center; padding: 0 4px; cursor: pointer; font-size: 20px; }
    .attach input { position: absolute; width: 1px; height: 1px; opacity: 0; }
    .attach:focus-within { outline: 2px solid var(--c, #0b5cad); border-radius: 6px; }
    li a { color: inherit; }
    li.bot { background: #e9f2ea; }
    .person { margin: 0; padding: 4px 12px; text-align: right; }
    .person button { font: inherit; font-size: 13px; background: none; border: 1px solid #c8ced6; border-radius: 14px; padding: 3px 10px; cursor: pointer; }
    @media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100%; max-height: 100%; height: 100%; border-radius: 0; } }
  </style>
  <button class="launcher" type="button" aria-haspopup="dialog" aria-expanded="false"></button>
  <section class="panel" role="dialog" aria-modal="false" hidden>
    <header><h2></h2><select aria-label=""></select><button type="button" class="close"></button></header>
    <p class="status" role="status" aria-live="polite"></p>
    <ol aria-live="polite"></ol>
    <p class="person"><button type="button"></button></p>
    <form class="who-form" hidden><input name="name" autocomplete="name"><input name="email" type="email" autocomplete="email"></form>
    <form class="send-form"><label class="attach"><input type="file" multiple><span aria-hidden="true">📎</span></label><textarea name="text" rows="1"></textarea><button type="submit"></button></form>
  </section>`;
  const $ = (s) => root.querySelector(s);
  const launcher = $(".launcher"), panel = $(".panel"), list = $("ol"), status = $(".status");
  const picker = $("header select"), whoForm = $(".who-form"), sendForm = $(".send-form"), text = $("textarea");
  const fileInput = $(".attach input");
  const uploading = []; // file names on their way, or that failed
  for (const code of Object.keys(WORDS)) picker.add(new Option(WORDS[code]["language-name"] || code, code));

  function words() {
    launcher.textContent = w("open");
    launcher.setAttribute("aria-label", w("open"));
    $("h2").textContent = w("title");
    picker.value = lang;
    picker.setAttribute("aria-label", w("language"));
    $(".close").textContent = "×";
    $(".close").setAttribute("aria-label", w("close"));
    whoForm.name.placeholder = whoForm.name.ariaLabel = w("name");
    whoForm.email.placeholder = whoForm.email.ariaLabel = w("email");
    text.placeholder = w("placeholder");
    text.setAttribute("aria-label", w("placeholder"));
    sendForm.querySelector("button").textContent = w("send");
    $(".person button").textContent = w("person");
    fileInput.setAttribute("aria-label", w("attach"));
    render();
  }

  function render() {
    list.textContent = "";
    const add = (cls, who, body, files) => {
      const li = document.createElement("li");
      li.className = cls;
      if (who) {
        const span = document.createElement("span");
        span.className = "who";
        span.textContent = who;
        li.appendChild(span);
      }
      if (files && files.length) {
        for (const f of files) {
          const a = document.createElement("a");
          a.href = origin + f.url; // signed by the server: the token stays out of addresses
          a.target = "_blank";
          a.rel = "noopener";
          a.textContent = "📎 " + f.filename;
          li.appendChild(a);
          li.appendChild(document.createElement("br"));
        }
      } else linked(li, body);
      list.appendChild(li);
    };
    if (greeting || lines.size === 0) add("agent greeting", null, greeting || w("greeting"));
    const seqs = [...lines.keys()].sort((a, b) => a - b);
    const lastSeen = seqs.filter((q) => q <= seenSeq && lines.get(q).from === "visitor").pop();
    for (const seq of seqs) {
      const l = lines.get(seq);
      const who = l.from === "agent" ? l.name || w("agent") : l.from === "bot" ? w("bot") : null;
      add(l.from === "bot" ? "agent bot" : l.from, who, l.text, l.files);
      if (seq === lastSeen) {
        const seen = document.createElement("span");
        seen.className = "who seen";
        seen.textContent = w("seen");
        list.lastChild.appendChild(seen);
      }
    }
    for (const m of state.outbox) add("visitor pending", null, m.text);
    for (const u of uploading) add("visitor pending", null, u.failed ? w("file-failed", { name: u.name }) : "📎 " + u.name);
    if (agentTyping) add("agent typing", null, w("typing", { name: agentTyping }));
    list.scrollTop = list.scrollHeight;
    const answered = [...lines.values()].some((l) => l.from === "agent");
    // Nobody here: the answer can come by email, if the visitor says where.
    const offerEmail = emailAnswers && !emailKnown && !agentsOnline && !answered && !ended;
    if (!welcomed && state.outbox.length) status.textContent = w("offline");
    else if (ended) status.textContent = w("ended");
    else if (offerEmail) status.textContent = away || w("no-agents-email");
    else if (emailAnswers && emailKnown && state.email && !agentsOnline && !answered) status.textContent = w("no-agents-emailed", { email: state.email });
    else if (!agentsOnline && !answered) status.textContent = away || w("no-agents");
    else if (place && place.position) {
      status.textContent = w("position", { position: place.position }) +
        (place.estimated_wait != null ? " " + w("wait", { minutes: Math.max(1, Math.round(place.estimated_wait / 60)) }) : "");
    } else status.textContent = "";
    whoForm.hidden = !(offerEmail || (!state.token && requireEmail));
  }

  // Frames go over a WebSocket, or where one cannot be opened (a proxy that blocks it)
  // over HTTP: posted frames out, server-sent events in. Both carry the same frames.
  let fallback = typeof WebSocket !== "function";
  let stream = null;
  let failures = 0;
  const base = origin + "/chat/v1/";
  const q = "?inbox=" + encodeURIComponent(inbox);

  function isOpen() {
    return welcomed && (fallback || (socket && socket.readyState === WebSocket.OPEN));
  }

  // Posted frames go one after another, so that messages keep their order.
  let posting = Promise.resolve();
  function transmit(frame) {
    if (!fallback) return socket.send(JSON.stringify(frame));
    posting = posting
      .then(() => fetch(base + "frames" + q, { method: "POST", body: JSON.stringify({ ...frame, token: state.token, after: lastSeq }) }))
      .then((res) => res.json())
      .then((answers) => { if (Array.isArray(answers)) answers.forEach(handle); })
      .catch(() => {});
  }

  function hello() {
    transmit({ type: "hello", v: 1, token: state.token, name: state.name || null, email: state.email || null, after: lastSeq });
  }

  function handle(f) {
    if (f.type === "welcome") {
      welcomed = true;
      if (f.token) state.token = f.token;
      agentsOnline = f.agents_online;
      requireEmail = f.require_email;
      greeting = f.greeting;
      away = f.away_message || null;
      emailAnswers = !!f.email_answers;
      emailKnown = !!f.email_known;
      // An address given while the connection was down goes now.
      if (state.token && state.email && !emailKnown && emailAnswers) transmit({ type: "contact", name: state.name || null, email: state.email });
      if (f.colour) host.style.setProperty("--c", f.colour);
      save();
      // What waited while the connection was down goes now, in the order written.
      for (const m of state.outbox) transmit({ type: "message", client_id: m.client_id, text: m.text });
    } else if (f.type === "message") {
      if (f.seq > lastSeq) lastSeq = f.seq;
      // Our own line, seen before its ack: it arrived.
      if (f.client_id && state.outbox.some((m) => m.client_id === f.client_id)) {
        state.outbox = state.outbox.filter((m) => m.client_id !== f.client_id);
        save();
      }
      if (f.from === "visitor") ended = false;
      lines.set(f.seq, f);
    } else if (f.type === "ack") {
      state.outbox = state.outbox.filter((m) => m.client_id !== f.client_id);
      save();
    } else if (f.type === "contact") {
      emailKnown = true;
      state.email = f.email;
      save();
    } else if (f.type === "ended") {
      ended = true;
    } else if (f.type === "read") {
      seenSeq = Math.max(seenSeq, f.seq);
    } else if (f.type === "typing") {
      agentTyping = f.typing ? f.name || w("agent") : null;
    } else if (f.type === "queue") {
      place = f;
      agentsOnline = f.agents_online;
    } else if (f.type === "error" && f.code === "bad_token") {
      // The server revoked this visitor: start afresh.
      state.token = null;
      save();
    } else if (f.type === "error" && f.code === "email_required") {
      // Lines written before the inbox said it wants an address were not sent (there is
      // no session yet): they go back into the box, to go with the address.
      if (!state.token && state.outbox.length) {
        text.value = [...state.outbox.map((m) => m.text), text.value].filter(Boolean).join("\n");
        state.outbox = [];
        save();
      }
      requireEmail = true;
      whoForm.hidden = false;
      whoForm.email.required = true;
      whoForm.email.focus();
    }
    render();
    if (f.type === "message") reportRead();
  }

  function again() {
    render();
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  }

  function connect() {
    if (fallback) return listen();
    if (socket) return;
    welcomed = false;
    let opened = false;
    try {
      socket = new WebSocket(origin.replace(/^http/, "ws") + "/chat/v1/ws" + q);
    } catch (_) {
      fallback = true;
      return listen();
    }
    socket.onopen = () => {
      opened = true;
      retry = 500;
      hello();
    };
    socket.onmessage = (e) => {
      try { handle(JSON.parse(e.data)); } catch (_) {}
    };
    socket.onclose = () => {
      socket = null;
      welcomed = false;
      // Never opened twice running, while the network is up: take the fallback.
      if (!opened && navigator.onLine !== false && ++failures >= 2) fallback = true;
      again();
    };
  }

  function listen() {
    if (stream) return;
    if (!state.token) {
      // A new visitor says hello first, over HTTP; its welcome brings the token.
      if (!welcomed) {
        hello();
        setTimeout(() => { if (state.token) listen(); else again(); }, 800);
      }
      return;
    }
    stream = new EventSource(base + "events" + q + "&token=" + encodeURIComponent(state.token) + "&after=" + lastSeq);
    stream.onopen = () => {
      retry = 500;
      welcomed = true;
      // What waited goes now, in order; a message sent twice is stored once.
      for (const m of state.outbox) transmit({ type: "message", client_id: m.client_id, text: m.text });
      render();
    };
    stream.onmessage = (e) => {
      try { handle(JSON.parse(e.data)); } catch (_) {}
    };
    stream.onerror = () => {
      stream.close();
      stream = null;
      welcomed = false;
      again();
    };
  }

  // Tells the server the visitor has read the agents' lines, while the window is open and
  // the page is in view.
  function reportRead() {
    if (panel.hidden || document.visibilityState !== "visible" || !isOpen()) return;
    const last = Math.max(0, ...[...lines.values()].filter((l) => l.from === "agent").map((l) => l.seq));
    if (last > readTold) {
      readTold = last;
      transmit({ type: "read", seq: last });
    }
  }
  document.addEventListener("visibilitychange", reportRead);

  // Text with its web addresses made into links (the text itself stays text).
  function linked(li, body) {
    for (const part of String(body).split(/(https?:\/\/[^\s<>"]+)/)) {
      if (/^https?:\/\//.test(part)) {
        const a = document.createElement("a");
        a.href = part;
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = part;
        li.appendChild(a);
      } else if (part) li.appendChild(document.createTextNode(part));
    }
  }

  function send(body) {
    typedAt = 0; // the next keystroke starts a new message, and is told
    const m = { client_id: newId(), text: body };
    state.outbox.push(m);
    save();
    render();
    if (isOpen()) transmit({ type: "message", client_id: m.client_id, text: m.text });
  }

  function open(show) {
    panel.hidden = !show;
    launcher.setAttribute("aria-expanded", String(show));
    if (show) {
      connect();
      reportRead();
      text.focus();
    } else launcher.focus();
  }

  launcher.addEventListener("click", () => open(panel.hidden));
  // Always there: a person, now, whatever the answering bot is doing.
  $(".person button").addEventListener("click", () => { if (isOpen()) transmit({ type: "handoff", lang }); });
  $(".close").addEventListener("click", () => open(false));
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") open(false); });
  picker.addEventListener("change", () => { lang = picker.value; save(); words(); });
  // Files go over HTTP (a multipart form with the visitor's token); the line then comes
  // back through the session like any other.
  fileInput.addEventListener("change", async () => {
    const files = [...fileInput.files];
    fileInput.value = "";
    if (!state.token || !files.length) return;
    const u = { name: files.map((f) => f.name).join(", "), failed: false };
    uploading.push(u);
    render();
    const body = new FormData();
    body.append("token", state.token);
    body.append("client_id", newId());
    for (const f of files) body.append("files", f, f.name);
    try {
      const res = await fetch(`${origin}/chat/v1/files?inbox=${encodeURIComponent(inbox)}`, { method: "POST", body });
      if (!res.ok) throw new Error(String(res.status));
      uploading.splice(uploading.indexOf(u), 1);
    } catch (_) {
      u.failed = true;
    }
    render();
  });

  // The agent sees the visitor typing; told at most every 3 s.
  text.addEventListener("input", () => {
    if (Date.now() - typedAt > 3000 && isOpen()) {
      typedAt = Date.now();
      transmit({ type: "typing" });
    }
  });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendForm.requestSubmit(); }
  });
  sendForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    if (!whoForm.hidden) {
      const given = whoForm.email.value.trim();
      // Asked for by the inbox before the first message; offered when nobody is online.
      if ((!state.token && !given) || !whoForm.email.checkValidity()) { whoForm.email.focus(); return; }
      if (given) {
        state.name = whoForm.name.value.trim();
        state.email = given;
        save();
        // Hello again, now with the name and email the inbox asks for; or, for a visitor
        // already known, the address their answers may go to.
        if (!welcomed && (fallback || (socket && socket.readyState === WebSocket.OPEN))) hello();
        else if (state.token && isOpen()) transmit({ type: "contact", name: state.name || null, email: state.email });
      }
    }
    text.value = "";
    send(body);
  });
  window.addEventListener("online", () => { if (!socket && !stream) connect(); });
  words();
  // A returning visitor with a conversation, or with unsent messages, is connected at once.
  if (state.token || state.outbox.length) connect();
})();
