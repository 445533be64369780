// Browser tests of the help center and the knowledge base, in Debian's chromium driven by
// playwright-core: the Telugu help center with results as you type and a screenshot of
// its Telugu text; "was this helpful?"; search and the way to a person without
// JavaScript; an agent writing and publishing an article from the desk and inserting a
// suggested article's link into a reply; and the chat widget's bot with its
// always-visible "talk to a person" button. Screenshots land in target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, api, browser, en, te;

// The index follows the event log: wait until a search finds what was just written.
async function indexed(query, lang = "en") {
  for (let i = 0; i < 150; i++) {
    const res = await fetch(`${base}/help/${lang}/search.json?q=${encodeURIComponent(query)}`);
    if ((await res.json()).results.length) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`"${query}" was never found`);
}

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "mira@example.com", "--name", "Mira", "--role", "admin", "--password-stdin"], password);
  api = apiAs(base, seva.cli(["token", "create", "--user", "mira@example.com"]));
  const cat = await api("POST", "/api/v1/knowledge/categories", { slug: "billing", names: { en: "Billing", te: "బిల్లింగ్" } });
  assert.equal(cat.status, 201, JSON.stringify(cat.json));
  const made = await api("POST", "/api/v1/articles", {
    lang: "en", title: "How refunds work", status: "published", category_id: cat.json.id,
    body: "# Refunds\n\nA refund reaches your card within **five days** of the return arriving.",
  });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  en = made.json;
  te = (await api("POST", "/api/v1/articles", {
    lang: "te", title: "వాపసు ఎలా పనిచేస్తుంది", status: "published", translation_of: en.id, category_id: cat.json.id,
    body: "వినియోగదారులకు వాపసు ఐదు రోజులలో కార్డుకు చేరుతుంది. కస్టమర్ సేవ మీకు ఎల్లప్పుడూ సహాయం చేస్తుంది.",
  })).json;
  await indexed("refund");
  await indexed("వాపసు", "te");
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
});

test("the Telugu help center: results as you type, the article whole, feedback", async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, locale: "te-IN" });
  const page = await context.newPage();
  await page.goto(base + "/help");
  await page.waitForURL(base + "/help/te");
  await page.getByRole("heading", { name: "సహాయ కేంద్రం", level: 1 }).waitFor();
  await page.getByRole("link", { name: "బిల్లింగ్" }).waitFor();

  const box = page.getByRole("searchbox");
  await box.pressSequentially("వినియోగదారులకు", { delay: 20 });
  const instant = page.locator("#help-instant");
  await instant.getByRole("link", { name: "వాపసు ఎలా పనిచేస్తుంది" }).waitFor();
  assert.equal(await instant.locator("b").first().textContent(), "వినియోగదారులకు", "the whole word is highlighted");
  await page.screenshot({ path: join(shots, "help-te-instant.png") });

  await instant.getByRole("link", { name: "వాపసు ఎలా పనిచేస్తుంది" }).click();
  await page.waitForURL(/\/help\/te\//);
  const body = page.locator(".article-body");
  assert.match(await body.textContent(), /వినియోగదారులకు వాపసు ఐదు రోజులలో/);
  // The words are laid out as whole clusters: each word is one unbroken run that the
  // browser measures narrower than its letters set apart (a broken cluster would not be).
  const joined = await page.evaluate(() => {
    const probe = (text) => {
      const s = document.createElement("span");
      s.textContent = text;
      document.body.appendChild(s);
      const w = s.getBoundingClientRect().width;
      s.remove();
      return w;
    };
    return { whole: probe("కస్టమర్"), apart: probe("క స ్ ట మ ర ్") };
  });
  assert.ok(joined.whole < joined.apart * 0.8, JSON.stringify(joined));
  assert.equal(await page.locator("link[rel=alternate][hreflang=en]").count(), 1);
  await page.screenshot({ path: join(shots, "help-te-article.png"), fullPage: true });

  await page.getByRole("radio", { name: "లేదు" }).check();
  await page.getByRole("textbox").last().fill("ఏ కార్డు?");
  await page.getByRole("button", { name: "పంపు" }).click();
  await page.getByText("మాకు తెలియజేసినందుకు ధన్యవాదాలు.").waitFor();
  const h = await api("GET", `/api/v1/articles/${te.id}/helpfulness`);
  assert.deepEqual([h.json.helpful, h.json.not_helpful, h.json.comments], [0, 1, ["ఏ కార్డు?"]]);
  await context.close();
});

test("without JavaScript: search, results, and the way to a person keeps the words", async () => {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: "en-GB" });
  const page = await context.newPage();
  await page.goto(base + "/help/en");
  await page.getByRole("searchbox").fill("refnud card");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.waitForURL(/\/help\/en\/search\?q=/);
  await page.getByRole("link", { name: "How refunds work" }).waitFor();
  await page.getByRole("link", { name: "Still need help? Contact a person" }).click();
  await page.waitForURL(/\/contact/);
  assert.equal(await page.getByLabel("Subject").inputValue(), "refnud card");
  await context.close();
});

test("an agent writes and publishes an article, and inserts a suggestion into a reply", async () => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  await logIn(page, base, "mira@example.com", password);
  await page.getByRole("link", { name: "Knowledge" }).click();
  await page.getByRole("link", { name: "New article" }).click();
  await page.getByLabel("Title").fill("Changing a delivery address");
  await page.getByLabel("Text (Markdown)").fill("Write to us before the parcel ships and we change the delivery address.");
  await page.getByLabel("Status").selectOption("published");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  await page.screenshot({ path: join(shots, "kb-article.png"), fullPage: true });
  await indexed("delivery address");

  // A customer asks; the conversation page offers the article; one click puts its link
  // in the reply.
  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "ravi@example.in", name: "Ravi" },
    subject: "Wrong address", text: "Can you change the delivery address of my parcel?",
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  await page.goto(`${base}/conversations/${created.json.id}`);
  const suggested = page.locator("section.suggested");
  await suggested.getByRole("link", { name: "Changing a delivery address" }).waitFor();
  await suggested.locator("li", { hasText: "Changing a delivery address" }).getByRole("button", { name: "Insert link" }).click();
  assert.match(await page.locator("#reply-text").inputValue(), /\/help\/en\/changing-a-delivery-address$/);
  await page.screenshot({ path: join(shots, "kb-suggested.png") });
  await context.close();
});

test("the chat bot offers an article and the button brings a person at once", async () => {
  const teamMade = await api("POST", "/api/v1/teams", { name: "Chat desk" });
  assert.equal(teamMade.status, 201, JSON.stringify(teamMade.json));
  const team = teamMade.json.id;
  const shop = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><title>Shop</title></head><body><h1>Shop</h1>
      <script src="${base}/widget.js" data-inbox="${new URL(req.url, "http://x").searchParams.get("inbox")}"></script></body></html>`);
  });
  await new Promise((ok) => shop.listen(0, "127.0.0.1", ok));
  const origin = `http://127.0.0.1:${shop.address().port}`;
  const inbox = await api("POST", "/api/v1/inboxes", {
    name: "bot-chat", channel: "chat", team_id: team,
    settings: { allowed_origins: [origin], bot: { enabled: true, threshold: 0.5 } },
  });
  assert.equal(inbox.status, 201, JSON.stringify(inbox.json));
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 }, locale: "en-GB" });
  const page = await context.newPage();
  await page.goto(`${origin}/?inbox=${inbox.json.id}`);
  const chat = page.locator("#seva-chat");
  await chat.getByRole("button", { name: "Chat with us" }).click();
  await chat.getByRole("textbox").fill("When does my refund reach my card?");
  await chat.getByRole("button", { name: "Send" }).click();
  const offer = chat.locator("li.bot", { hasText: "How refunds work" });
  await offer.waitFor();
  assert.match(await offer.getByRole("link").getAttribute("href"), /\/help\/en\/how-refunds-work$/);
  await page.screenshot({ path: join(shots, "chat-bot-offer.png") });
  await chat.getByRole("button", { name: "Talk to a person" }).click();
  await chat.locator("li.bot", { hasText: "bringing in a person" }).waitFor();
  await page.screenshot({ path: join(shots, "chat-bot-handoff.png") });
  const list = (await api("GET", "/api/v1/conversations?limit=20")).json.data;
  const conv = list.find((c) => c.channel === "chat");
  const notes = (await api("GET", `/api/v1/conversations/${conv.id}/messages`)).json.filter((m) => m.kind === "system");
  assert.match(notes[0].text, /pressed “talk to a person”/);
  await context.close();
  shop.close();
});
