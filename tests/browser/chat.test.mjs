// Browser test of live chat, in Debian's chromium driven by playwright-core: the widget
// on a shop's page (another origin), and an agent's desk in a second browser context.
// The visitor writes, sees their place in the queue (1, and 2 for a second visitor), the
// agent sees the chat arrive live, takes it and answers, and the visitor sees the answer
// as the place disappears, each seeing the other typing; the network is cut while the visitor sends three messages,
// and all three arrive once, in order, when it is back. Screenshots of both sides at
// each step are kept under target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, api, browser, shop, shopUrl, inbox;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "mira@example.com", "--name", "Mira", "--role", "admin", "--password-stdin"], password);
  api = apiAs(base, seva.cli(["token", "create", "--user", "mira@example.com"]));
  seva.cli(["team", "add", "Chat desk"]);
  const team = (await api("GET", "/api/v1/teams")).json.find((t) => t.name === "Chat desk").id;
  const me = (await api("GET", "/api/v1/me")).json;
  assert.equal((await api("POST", `/api/v1/teams/${team}/members`, { agent_id: me.id })).status, 200);
  // The shop: a page of its own origin with the one-line embed.
  shop = createServer((req, res) => {
    const id = new URL(req.url, "http://shop").searchParams.get("inbox") || inbox;
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><title>Shop</title></head><body><h1>The shop</h1>
      <script src="${base}/widget.js" data-inbox="${id}"></script></body></html>`);
  });
  await new Promise((ok) => shop.listen(0, "127.0.0.1", ok));
  shopUrl = `http://127.0.0.1:${shop.address().port}/`;
  const created = await api("POST", "/api/v1/inboxes", {
    name: "shop-chat", channel: "chat", team_id: team,
    settings: { allowed_origins: [shopUrl.slice(0, -1)], greeting: { en: "Hello from the shop!" } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  inbox = created.json.id;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  shop?.close();
  seva?.stop();
});

async function visitor() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 }, locale: "en-GB" });
  const page = await context.newPage();
  await page.goto(shopUrl);
  const chat = page.locator("#seva-chat");
  await chat.getByRole("button", { name: "Chat with us" }).click();
  await chat.getByText("Hello from the shop!").waitFor();
  return { context, page, chat };
}

async function write(chat, text) {
  await chat.getByLabel("Write your message…").fill(text);
  await chat.getByLabel("Write your message…").press("Enter");
}

test("a visitor chats with an agent, waits honestly, and loses nothing on a cut connection", async () => {
  const agentPage = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await logIn(agentPage, base, "mira@example.com", password);
  await agentPage.goto(`${base}/inbox?view=all`);
  await agentPage.evaluate(() => (window.__sameLoad = true));
  await agentPage.waitForTimeout(300);

  const one = await visitor();
  await write(one.chat, "Hello, my parcel is late");
  await one.chat.getByText("You are number 1 in line.").waitFor();
  await one.page.screenshot({ path: join(shots, "chat-visitor-1-waiting.png") });
  const row = agentPage.locator("tr", { hasText: "Hello, my parcel is late" });
  await row.waitFor({ timeout: 10000 });
  assert.equal(await agentPage.evaluate(() => window.__sameLoad), true, "the chat appeared without a reload");
  // The agents see how long the visitor has waited for a first answer.
  await row.getByText(/waiting \d+ min/).waitFor();
  await agentPage.screenshot({ path: join(shots, "chat-agent-1-arrived.png") });

  const two = await visitor();
  await write(two.chat, "Do you ship to Cebu?");
  await two.chat.getByText("You are number 2 in line.").waitFor();
  await two.page.screenshot({ path: join(shots, "chat-visitor-2-second.png") });
  // The inbox shows the second chat too before the agent clicks: its row moves the first.
  await agentPage.locator("tr", { hasText: "Do you ship to Cebu?" }).waitFor({ timeout: 10000 });

  // The agent takes the first chat and answers it.
  await row.getByRole("link").click();
  await agentPage.waitForURL(/\/conversations\//);
  await agentPage.getByRole("button", { name: "Assign to me" }).click();
  // Typing both ways: the agent sees the customer typing, the visitor sees Mira writing.
  await one.chat.getByLabel("Write your message…").pressSequentially("It was");
  await agentPage.getByText("The customer is typing…").waitFor();
  await agentPage.getByLabel("Your answer").pressSequentially("Sorry");
  await one.chat.getByText("Mira is typing…").waitFor();
  await one.page.screenshot({ path: join(shots, "chat-visitor-1-agent-typing.png") });
  await one.chat.getByLabel("Write your message…").fill("");
  await agentPage.getByLabel("Your answer").fill("Sorry about that! Let me look it up.");
  await agentPage.evaluate(() => (window.__answerPage = true));
  await agentPage.getByRole("button", { name: "Send" }).click();
  await one.chat.getByText("Sorry about that! Let me look it up.").waitFor();
  // The answer went over the chat protocol, not a form post: the page never reloaded.
  await agentPage.locator(".msg-outbound", { hasText: "Sorry about that!" }).waitFor();
  assert.equal(await agentPage.evaluate(() => window.__answerPage), true, "answered without a reload");
  assert.equal(await agentPage.getByLabel("Your answer").inputValue(), "", "the box is cleared");
  await one.chat.getByText("Mira is typing…").waitFor({ state: "detached" });
  // Read receipts: Mira's answer shows as read on her page, live; the visitor's line as seen.
  await agentPage.locator(".msg-outbound", { hasText: "Sorry about that!" }).locator(".delivery-read").waitFor();
  await one.chat.getByText("Seen", { exact: true }).waitFor();
  await one.chat.getByText(/in line/).waitFor({ state: "detached" });
  await two.chat.getByText("You are number 1 in line.").waitFor();
  await one.page.screenshot({ path: join(shots, "chat-visitor-1-answered.png") });
  await agentPage.screenshot({ path: join(shots, "chat-agent-2-answered.png") });

  // The network goes away while the visitor writes three messages.
  await one.context.setOffline(true);
  for (const text of ["It was ordered on Monday", "Order number A-1042", "Thank you!"]) await write(one.chat, text);
  await one.page.screenshot({ path: join(shots, "chat-visitor-3-offline.png") });
  await one.context.setOffline(false);
  await one.chat.getByText("Thank you!").waitFor();
  const conversation = new URL(agentPage.url()).pathname.split("/").pop();
  let inbound;
  for (let i = 0; i < 100; i++) {
    inbound = (await api("GET", `/api/v1/conversations/${conversation}/messages`)).json.filter((m) => m.kind === "inbound").map((m) => m.text);
    if (inbound.length >= 4) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Give a duplicate time to show up, if one were coming.
  await new Promise((r) => setTimeout(r, 1000));
  inbound = (await api("GET", `/api/v1/conversations/${conversation}/messages`)).json.filter((m) => m.kind === "inbound").map((m) => m.text);
  assert.deepEqual(inbound, ["Hello, my parcel is late", "It was ordered on Monday", "Order number A-1042", "Thank you!"]);
  await agentPage.locator(".msg-inbound", { hasText: "Thank you!" }).waitFor({ timeout: 10000 });
  await agentPage.screenshot({ path: join(shots, "chat-agent-3-after-offline.png"), fullPage: true });
  // Nothing is left waiting in the visitor's browser.
  const left = await one.page.evaluate((key) => JSON.parse(localStorage.getItem(key)).outbox.length, `seva-chat-${inbox}`);
  assert.equal(left, 0);

  // Coming back later, the visitor sees the conversation again.
  await one.page.reload();
  await one.chat.getByRole("button", { name: "Chat with us" }).click();
  await one.chat.getByText("Sorry about that! Let me look it up.").waitFor();
  await one.chat.getByText("Order number A-1042").waitFor();

  // A file from the visitor: a link on both sides.
  await one.chat.locator(".attach input").setInputFiles({ name: "receipt.txt", mimeType: "text/plain", buffer: Buffer.from("Receipt A-1042") });
  await one.chat.getByRole("link", { name: "📎 receipt.txt" }).waitFor();
  await agentPage.getByRole("link", { name: "receipt.txt" }).waitFor({ timeout: 10000 });
  await one.page.screenshot({ path: join(shots, "chat-visitor-4-file.png") });
});

test("a page of an origin the inbox does not allow gets no session", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // A page of no origin at all (about:blank) is not on the list.
  await page.goto("about:blank");
  const refused = await page.evaluate(async (url) => new Promise((ok) => {
    const ws = new WebSocket(url);
    ws.onopen = () => ok("opened");
    ws.onerror = () => ok("refused");
  }), `${base.replace("http", "ws")}/chat/v1/ws?inbox=${inbox}`);
  assert.equal(refused, "refused");
});

test("an agent whose connection dropped sees a colleague's answer and status change as soon as it is back", async () => {
  seva.cli(["user", "add", "bill@example.com", "--name", "Bill", "--role", "admin", "--password-stdin"], password);
  const created = await api("POST", "/api/v1/conversations", { contact: { email: "ana@example.com" }, subject: "Refund", text: "Where is my refund?" });
  assert.equal(created.status, 201);
  const url = `${base}/conversations/${created.json.id}`;
  const miraContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const mira = await miraContext.newPage();
  await logIn(mira, base, "mira@example.com", password);
  await mira.goto(url);
  await mira.evaluate(() => (window.__sameLoad = true));
  await mira.waitForTimeout(300);
  const bill = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
  await logIn(bill, base, "bill@example.com", password);
  await bill.goto(url);

  // Mira's connection drops; meanwhile Bill answers and sets the conversation pending.
  await miraContext.setOffline(true);
  await bill.getByLabel("Your answer").fill("Your refund left us yesterday.");
  await bill.getByRole("button", { name: "Send" }).click();
  await bill.locator(".msg-outbound", { hasText: "Your refund left us yesterday." }).waitFor();
  await bill.locator("form[action$='/status'] select").selectOption("pending");
  await bill.locator(".conv-head .status-pending").waitFor();
  await mira.waitForTimeout(1000);
  assert.equal(await mira.locator(".msg-outbound", { hasText: "Your refund left us yesterday." }).count(), 0, "offline, Mira could not know yet");

  // Back online: the answer and the status arrive without a reload, before Mira writes.
  await miraContext.setOffline(false);
  await mira.locator(".msg-outbound", { hasText: "Your refund left us yesterday." }).waitFor({ timeout: 15000 });
  await mira.locator(".conv-head .status-pending").waitFor({ timeout: 15000 });
  assert.equal(await mira.evaluate(() => window.__sameLoad), true, "no reload");
  await mira.screenshot({ path: join(shots, "chat-agent-4-after-reconnect.png"), fullPage: true });
});

test("an admin sets up a chat inbox's widget in the settings, and its visitors are asked for an email", async () => {
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 1300 } })).newPage();
  await logIn(page, base, "mira@example.com", password);
  await page.goto(`${base}/settings/inboxes/new`);
  await page.getByLabel("Name", { exact: true }).fill("help-chat");
  await page.getByLabel("Channel").selectOption("chat");
  // An origin without its scheme is refused, naming it.
  await page.getByLabel(/Sites allowed to show the widget/).fill("shop.example");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("settings.allowed_origins[0]").or(page.getByText(/scheme:\/\/host/)).first().waitFor();
  await page.goBack();
  await page.getByLabel("Name", { exact: true }).fill("help-chat");
  await page.getByLabel("Channel").selectOption("chat");
  await page.getByLabel(/Sites allowed to show the widget/).fill(shopUrl.slice(0, -1));
  await page.getByLabel("Ask for an email address before the first message").check();
  await page.getByLabel("Greeting (English)").fill("Welcome to the help chat");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/settings\/inboxes\/.+\?saved=1/);
  const embed = await page.getByLabel("Put this line on your site's pages").inputValue();
  assert.match(embed, /<script src="http:\/\/127\.0\.0\.1:\d+\/widget\.js" data-inbox="[0-9a-f-]+"><\/script>/);
  await page.screenshot({ path: join(shots, "chat-inbox-settings.png"), fullPage: true });
  const id = embed.match(/data-inbox="([^"]+)"/)[1];
  const stored = (await api("GET", `/api/v1/inboxes/${id}`)).json;
  assert.deepEqual(stored.settings.allowed_origins, [shopUrl.slice(0, -1)]);
  assert.equal(stored.settings.require_email, true);

  // The widget on the shop greets as set, and asks for the email before sending.
  const visitor = await (await browser.newContext({ locale: "en-GB" })).newPage();
  await visitor.goto(`${shopUrl}?inbox=${id}`);
  const chat = visitor.locator("#seva-chat");
  await chat.getByRole("button", { name: "Chat with us" }).click();
  await chat.getByLabel("Write your message…").fill("Do you have size 44?");
  await chat.getByLabel("Write your message…").press("Enter");
  // Not sent yet: the email is asked for, and the message waits in its box.
  await chat.getByLabel("Your email address").waitFor();
  assert.equal(await chat.getByLabel("Write your message…").inputValue(), "Do you have size 44?");
  await chat.getByLabel("Your email address").fill("kostas@example.gr");
  await chat.getByLabel("Write your message…").press("Enter");
  await chat.getByText("Welcome to the help chat").waitFor();
  let found;
  for (let i = 0; i < 50 && !found; i++) {
    const list = (await api("GET", "/api/v1/conversations?limit=100")).json.data;
    found = list.find((c) => c.inbox_id === id);
    if (!found) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(found, "the chat arrived");
  const messages = (await api("GET", `/api/v1/conversations/${found.id}/messages`)).json.filter((m) => m.kind === "inbound");
  assert.deepEqual(messages.map((m) => m.text), ["Do you have size 44?"]);
  const contact = (await api("GET", `/api/v1/contacts/${found.contact_id}`)).json;
  assert.ok(JSON.stringify(contact).includes("kostas@example.gr"), JSON.stringify(contact));

  // Mira goes away in her settings: routing passes her by, and she comes back.
  await page.goto(`${base}/settings`);
  await page.getByRole("button", { name: "Go away" }).click();
  await page.getByText(/You are away/).waitFor();
  const me = (await api("GET", "/api/v1/me")).json;
  assert.equal((await api("GET", `/api/v1/agents/${me.id}/routing`)).json.available, false);
  await page.getByRole("button", { name: "Be available again" }).click();
  await page.getByText(/You are available/).waitFor();
  assert.equal((await api("GET", `/api/v1/agents/${me.id}/routing`)).json.available, true);
});

test("where WebSocket is blocked the widget falls back to HTTP and still chats both ways", async () => {
  const context = await browser.newContext({ locale: "en-GB" });
  // A network that lets no WebSocket through, as some proxies do.
  await context.addInitScript(() => {
    window.WebSocket = function () { throw new Error("blocked by the proxy"); };
  });
  const page = await context.newPage();
  await page.goto(shopUrl);
  const chat = page.locator("#seva-chat");
  await chat.getByRole("button", { name: "Chat with us" }).click();
  await write(chat, "Hello through the proxy");
  let conversation;
  for (let i = 0; i < 100 && !conversation; i++) {
    const list = (await api("GET", "/api/v1/conversations?limit=100")).json.data;
    conversation = list.find((c) => c.subject.includes("Hello through the proxy"));
    if (!conversation) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(conversation, "the message arrived");
  const answer = await api("POST", `/api/v1/conversations/${conversation.id}/messages`, { kind: "reply", text: "We hear you through it." });
  assert.equal(answer.status, 201);
  await chat.getByText("We hear you through it.").waitFor({ timeout: 15000 });
  await write(chat, "Great, thanks");
  await chat.getByText("Great, thanks").waitFor();
  let inbound = [];
  for (let i = 0; i < 100 && inbound.length < 2; i++) {
    inbound = (await api("GET", `/api/v1/conversations/${conversation.id}/messages`)).json.filter((m) => m.kind === "inbound");
    if (inbound.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(inbound.map((m) => m.text), ["Hello through the proxy", "Great, thanks"]);
  await page.screenshot({ path: join(shots, "chat-visitor-5-fallback.png") });
});

test("when nobody is online the widget offers an answer by email and keeps the address", async () => {
  // A desk with nobody in it, and the email inbox its unread answers go from.
  seva.cli(["team", "add", "Night desk"]);
  const mail = await api("POST", "/api/v1/inboxes", { name: "night-mail", channel: "email", address: "night@seva.test" });
  assert.equal(mail.status, 201, JSON.stringify(mail.json));
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 1400 } })).newPage();
  await logIn(page, base, "mira@example.com", password);
  await page.goto(`${base}/settings/inboxes/new`);
  await page.getByLabel("Name", { exact: true }).fill("night-chat");
  await page.getByLabel("Channel").selectOption("chat");
  await page.locator("select[name=team_id]").selectOption({ label: "Night desk" });
  await page.getByLabel(/Sites allowed to show the widget/).fill(shopUrl.slice(0, -1));
  await page.getByLabel(/go by email from/).selectOption("night-mail");
  await page.getByLabel("Unread for (seconds)").fill("300");
  await page.getByLabel("When nobody is online, say (English)").fill("We answer from 9 to 17. Leave your email and we will write to you.");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/settings\/inboxes\/.+\?saved=1/);
  const id = page.url().match(/inboxes\/([^?]+)/)[1];
  const stored = (await api("GET", `/api/v1/inboxes/${id}`)).json;
  assert.equal(stored.settings.email_inbox, "night-mail");
  assert.equal(stored.settings.email_after_seconds, 300);
  assert.equal(stored.settings.away_message.en, "We answer from 9 to 17. Leave your email and we will write to you.");

  const visitor = await (await browser.newContext({ locale: "en-GB" })).newPage();
  await visitor.goto(`${shopUrl}?inbox=${id}`);
  const chat = visitor.locator("#seva-chat");
  await chat.getByRole("button", { name: "Chat with us" }).click();
  // The inbox's own words for when nobody is online.
  await chat.getByText("We answer from 9 to 17. Leave your email and we will write to you.").waitFor();
  await chat.getByLabel("Your email address").fill("not an address");
  await write(chat, "Can I change my delivery address?");
  // A wrong address keeps the message in its box.
  assert.equal(await chat.getByLabel("Write your message…").inputValue(), "Can I change my delivery address?");
  await chat.getByLabel("Your email address").fill("maria@example.ph");
  await chat.getByLabel("Write your message…").press("Enter");
  await chat.getByText("Can I change my delivery address?").waitFor();
  // Given, the address is not asked for again.
  await chat.getByLabel("Your email address").waitFor({ state: "hidden" });
  await chat.getByText("We will answer you by email at maria@example.ph.").waitFor();
  await visitor.screenshot({ path: join(shots, "chat-visitor-6-email-offered.png") });
  let found;
  for (let i = 0; i < 50 && !found; i++) {
    const list = (await api("GET", "/api/v1/conversations?limit=100")).json.data;
    found = list.find((c) => c.inbox_id === id);
    if (!found) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(found, "the chat arrived");
  const contact = (await api("GET", `/api/v1/contacts/${found.contact_id}`)).json;
  assert.ok(JSON.stringify(contact).includes("maria@example.ph"), JSON.stringify(contact));
});
