// Browser test of the agent desk and the public form, in Debian's chromium driven by
// playwright-core: an agent logs in, a conversation arrives in the inbox without a
// reload, the agent opens it and replies; the web form renders Telugu whole.
// Screenshots are kept under target/screenshots/ as CI artifacts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const email = "priya@example.com";
const password = "a long browser test password";
let seva, base, token, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", email, "--name", "Priya", "--role", "agent", "--password-stdin"], password);
  token = seva.cli(["token", "create", "--user", email]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
});

const api = (method, path, body) => apiAs(base, token)(method, path, body);

test("an agent logs in, sees a conversation arrive live, opens it and replies", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await logIn(page, base, email, password);
  await page.goto(base + "/inbox?view=open");
  await page.getByText("Nothing here").waitFor();
  // Mark this page load: if the page reloads, the mark is gone.
  await page.evaluate(() => (window.__sameLoad = true));
  await page.waitForTimeout(300); // let the live stream connect

  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "venkat@example.com", name: "Venkat" },
    subject: "కారు హైవేపై ఆగిపోయింది",
    text: "దయచేసి వెంటనే సహాయం చేయండి",
    priority: "urgent",
  });
  assert.equal(created.status, 201);
  const row = page.locator("tr", { hasText: "కారు హైవేపై ఆగిపోయింది" });
  await row.waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__sameLoad), true, "the row appeared without a reload");
  await page.screenshot({ path: join(shots, "inbox.png"), fullPage: true });

  await row.getByRole("link").click();
  await page.waitForURL(`${base}/conversations/${created.json.id}`);
  await page.getByText("దయచేసి వెంటనే సహాయం చేయండి").waitFor();
  // The side column says how to reach the customer, first.
  const side = page.locator(".side");
  await side.locator(".identities", { hasText: "Email: venkat@example.com" }).waitFor();
  assert.equal(await side.locator("h2").first().textContent(), "Customer");
  await page.getByLabel("Your answer").fill("We are sending a tow truck now. / టో ట్రక్ వస్తోంది.");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator(".msg-outbound", { hasText: "టో ట్రక్ వస్తోంది" }).waitFor();
  await page.screenshot({ path: join(shots, "conversation.png"), fullPage: true });

  const messages = await api("GET", `/api/v1/conversations/${created.json.id}/messages`);
  assert.equal(messages.json.length, 2);
  assert.equal(messages.json[1].kind, "outbound");
  const conversation = await api("GET", `/api/v1/conversations/${created.json.id}`);
  assert.equal(conversation.json.owner_id !== null, true, "answering made Priya the owner");

  // A change by someone else shows up on the open conversation page without a reload.
  await page.evaluate(() => (window.__sameLoad = true));
  await api("POST", `/api/v1/conversations/${created.json.id}/status`, { status: "solved" });
  await page.locator(".conv-head .status-solved").waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__sameLoad), true);
  await page.close();
});

test("a click begun while the inbox fetches an update opens the row it began on", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await logIn(page, base, email, password);
  const first = await api("POST", "/api/v1/conversations", {
    contact: { email: "eleni@example.com", name: "Eleni" },
    subject: "Πού είναι η παραγγελία μου;",
    text: "Δεν έχει φτάσει ακόμα.",
  });
  assert.equal(first.status, 201);
  await page.goto(base + "/inbox?view=open");
  await page.waitForTimeout(300); // let the live stream connect
  const link = page.locator("tr", { hasText: "Πού είναι η παραγγελία μου;" }).getByRole("link");
  // Mark the link itself: a list replaced by an update has a new one, without the mark.
  await link.evaluate((a) => (a.__held = true));
  // The update's fetch takes a second; the agent presses the button meanwhile.
  let fetched;
  const fetching = new Promise((resolve) => (fetched = resolve));
  await page.route(/partial=1/, async (route) => {
    fetched();
    await new Promise((r) => setTimeout(r, 1000));
    await route.continue();
  });
  const second = await api("POST", "/api/v1/conversations", {
    contact: { email: "jose@example.com", name: "Jose" },
    subject: "Salamat po sa tulong",
    text: "Maraming salamat po.",
  });
  assert.equal(second.status, 201);
  await fetching;
  const box = await link.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(1500); // the fetch has answered by now
  assert.equal(await link.evaluate((a) => a.__held === true), true, "the row under the pointer was not replaced");
  await page.mouse.up();
  await page.waitForURL(`${base}/conversations/${first.json.id}`);

  // A press that opens nothing (on the list's heading) puts the update off only until the
  // button is let go.
  await page.goto(base + "/inbox?view=open");
  await page.waitForTimeout(300);
  const third = await api("POST", "/api/v1/conversations", {
    contact: { email: "ravi@example.com", name: "Ravi" },
    subject: "రీఫండ్ ఇంకా రాలేదు",
    text: "దయచేసి చూడండి.",
  });
  assert.equal(third.status, 201);
  const heading = page.locator("#inbox-list thead th").last();
  const at = await heading.boundingBox();
  await page.mouse.move(at.x + at.width / 2, at.y + at.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(1500);
  const newRow = page.locator("tr", { hasText: "రీఫండ్ ఇంకా రాలేదు" });
  assert.equal(await newRow.count(), 0, "the list waited while the button was down");
  await page.mouse.up();
  await newRow.waitFor({ timeout: 5000 });
  await page.close();
});

test("the web form in Telugu renders and opens a conversation", async () => {
  const page = await browser.newPage({ viewport: { width: 420, height: 900 } });
  await page.goto(base + "/contact?lang=te");
  await page.getByRole("heading", { name: "మమ్మల్ని సంప్రదించండి" }).waitFor();
  await page.getByLabel("పేరు").fill("లక్ష్మి");
  await page.getByLabel("ఇమెయిల్").fill("lakshmi@example.com");
  await page.getByLabel("విషయం").fill("వాపసు");
  await page.getByLabel("సందేశం").fill("నా డబ్బు వాపసు కావాలి");
  await page.screenshot({ path: join(shots, "contact-form-te.png"), fullPage: true });
  await page.getByRole("button", { name: "పంపండి" }).click();
  await page.getByText("మీ సూచన సంఖ్య").waitFor();
  await page.screenshot({ path: join(shots, "thanks-te.png"), fullPage: true });
  const list = await api("GET", "/api/v1/conversations?tag=&limit=50");
  assert.ok(list.json.data.some((c) => c.subject === "వాపసు" && c.channel === "web_form"));
  await page.close();
});

test("an agent with nothing assigned is shown the conversations waiting unassigned", async () => {
  // An agent of their own: nothing is or will be assigned to them here.
  const arjun = "arjun@example.com";
  seva.cli(["user", "add", arjun, "--name", "Arjun", "--role", "agent", "--password-stdin"], password);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await logIn(page, base, arjun, password);
  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "tala@example.ph", name: "Tala" },
    subject: "Hindi pa dumarating ang order ko",
    text: "Kailan po darating?",
  });
  assert.equal(created.status, 201);
  // "Mine" is the first screen; it points to the waiting work instead of a blank page.
  await page.goto(base + "/inbox");
  const hint = page.locator("#inbox-list .empty", { hasText: "waiting for an owner" });
  await hint.waitFor();
  await hint.getByRole("link", { name: "See them in Unassigned" }).click();
  await page.waitForURL(base + "/inbox?view=unassigned");
  await page.locator("tr", { hasText: "Hindi pa dumarating ang order ko" }).waitFor();
  // Once every conversation has an owner (Priya), "Mine" is plainly empty again.
  const priya = (await api("GET", "/api/v1/me")).json.id;
  const waiting = await api("GET", "/api/v1/conversations?owner=none&status=open,pending,on_hold&limit=200");
  assert.ok(waiting.json.data.some((c) => c.id === created.json.id));
  for (const c of waiting.json.data) {
    assert.equal((await api("POST", `/api/v1/conversations/${c.id}/assign`, { owner_id: priya })).status, 200);
  }
  await page.goto(base + "/inbox");
  await page.getByText("Nothing here").waitFor();
  assert.equal(await page.getByText("waiting for an owner").count(), 0);
  await page.close();
});

test("on a phone's width the inbox, a conversation and the other desk pages fit the screen", async () => {
  const page = await browser.newPage({ viewport: { width: 400, height: 800 } });
  await logIn(page, base, email, password);
  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "ramesh@example.in", name: "రమేష్ కుమార్" },
    subject: "బిల్లులో తప్పు ఉంది, దయచేసి సరిచేయండి",
    text: "నా బిల్లులో రెండుసార్లు ఛార్జ్ చేశారు.",
  });
  assert.equal(created.status, 201);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.goto(base + "/inbox?view=all");
  await page.locator("tr", { hasText: "బిల్లులో తప్పు ఉంది" }).waitFor();
  assert.equal(await overflow(), 0, "the inbox is no wider than the screen");
  await page.getByRole("link", { name: "Settings" }).waitFor();
  assert.ok(await page.getByRole("link", { name: "Settings" }).isVisible());
  await page.screenshot({ path: join(shots, "inbox-phone.png"), fullPage: true });
  await page.goto(`${base}/conversations/${created.json.id}`);
  await page.getByText("నా బిల్లులో రెండుసార్లు").waitFor();
  assert.equal(await overflow(), 0, "the conversation is no wider than the screen");
  await page.locator(".side").getByRole("link", { name: "రమేష్ కుమార్" }).click();
  await page.locator("tr", { hasText: "బిల్లులో తప్పు ఉంది" }).waitFor();
  assert.equal(await overflow(), 0, "the contact page is no wider than the screen");
  for (const path of ["/contacts", "/kb", "/conversations/new", "/organizations", "/search?q=%E0%B0%AC%E0%B0%BF%E0%B0%B2%E0%B1%8D%E0%B0%B2%E0%B1%81"]) {
    await page.goto(base + path);
    assert.equal(await overflow(), 0, `${path} is no wider than the screen`);
  }
  await page.close();
});

test("times are shown in the agent's own time zone, in rows that arrive live too", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Asia/Kolkata", locale: "en-US" });
  const page = await context.newPage();
  await logIn(page, base, email, password);
  await page.goto(base + "/inbox?view=all");
  await page.waitForTimeout(300); // let the live stream connect
  // India keeps UTC+5:30 all year: the time the server sends in UTC, moved by 330 minutes.
  const inIndia = (iso) => new Date(Date.parse(iso) + 330 * 60000).toISOString().replace("T", " ").slice(0, 16);
  async function shownInIndia(time) {
    const iso = await time.getAttribute("datetime");
    await page.waitForFunction((el) => el.dataset.local === "1", await time.elementHandle());
    const text = await time.textContent();
    assert.ok(text.startsWith(inIndia(iso)), `${text} should read ${inIndia(iso)} (from ${iso})`);
    assert.match(text, /GMT\+5:30$/);
    assert.match(await time.getAttribute("title"), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, "the UTC time stays as the tooltip");
  }

  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "meena@example.com", name: "Meena" },
    subject: "సమయ మండలం",
    text: "నా ఆర్డర్ ఎప్పుడు వస్తుంది?",
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const row = page.locator("tr", { hasText: "సమయ మండలం" });
  await row.waitFor();
  await shownInIndia(row.locator("time"));

  await page.goto(`${base}/conversations/${created.json.id}`);
  await shownInIndia(page.locator(".meta time").first());
  await shownInIndia(page.locator(".activity time").first());
  await context.close();
});
