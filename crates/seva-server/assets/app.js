// Seva's agent pages: live updates over server-sent events, keyboard shortcuts, and
// select boxes that save when changed. Every page works without this script; it only
// saves reloads and clicks.
"use strict";

(function () {
  const page = document.body.dataset.page;

  // A <select data-autosubmit> saves its form as soon as it changes.
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // Regions marked data-live are fetched again when something they show changes.
  const live = document.querySelector("[data-live]");
  const conversationId = document.querySelector("[data-conversation]")?.dataset.conversation;
  let pending = null;

  function refresh() {
    if (!live || pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try {
        const response = await fetch(live.dataset.live, { credentials: "same-origin" });
        if (!response.ok) return;
        const before = new Set([...live.querySelectorAll("[data-href]")].map((r) => r.dataset.href));
        live.innerHTML = await response.text();
        live.querySelectorAll("[data-href]").forEach((row) => {
          if (!before.has(row.dataset.href)) row.classList.add("fresh");
        });
        live.dispatchEvent(new CustomEvent("seva:updated", { bubbles: true }));
      } catch (_) {
        // Offline for a moment: the next event or the reconnect will bring us up to date.
      }
    }, 150);
  }

  if (live && window.EventSource) {
    const source = new EventSource("/live");
    source.addEventListener("change", (e) => {
      const change = JSON.parse(e.data);
      if (page === "inbox" || page === "contact" || change.conversation_id === conversationId) refresh();
    });
    source.addEventListener("resync", refresh);
    // After a dropped connection, what changed meanwhile is fetched once it is back.
    source.addEventListener("open", refresh);
  }

  // Keyboard: j/k move through the list, Enter opens, r goes to the reply box.
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
    if (e.key === "j") select(selected + 1);
    else if (e.key === "k") select(selected - 1);
    else if (e.key === "Enter" && selected >= 0) location.href = rows()[selected].dataset.href;
    else if (e.key === "r") {
      const reply = document.getElementById("reply-text");
      if (reply) { e.preventDefault(); reply.focus(); }
    }
  });
  document.addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-href]");
    if (row && !e.target.closest("a")) location.href = row.dataset.href;
  });
})();
