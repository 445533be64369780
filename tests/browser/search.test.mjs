// Browser test of the desk's search: the box in the top bar (reached with the / key)
// finds conversations by what customers wrote and by internal notes, in Greek without its
// accents and in Telugu; contacts by a Greek name typed in lower case without accents;
// knowledge articles; a #number opens that conversation. An agent outside a private team
// finds none of its conversations, by words or by number. A screenshot is kept under
// target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, token, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "meera@example.com", "--name", "Meera", "--role", "admin", "--password-stdin"], password);
  seva.cli(["user", "add", "gopal@example.com", "--name", "Gopal", "--role", "agent", "--password-stdin"], password);
  seva.cli(["team", "add", "Payroll", "--private"]);
  token = seva.cli(["token", "create", "--user", "meera@example.com"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
});

const api = (method, path, body) => apiAs(base, token)(method, path, body);

async function create(body) {
  const r = await api("POST", "/api/v1/conversations", body);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json;
}

// Searches from the page's top bar and waits for the answer. The index follows the
// store a moment behind, so a search that should find something is repeated until it
// does (within the test's time).
async function search(page, q, { expect } = {}) {
  for (let tries = 0; ; tries++) {
    const box = page.locator("#top-search");
    await box.fill(q);
    await Promise.all([page.waitForURL(/\/(search\?|conversations\/)/), box.press("Enter")]);
    if (!expect || (await expect().count()) > 0 || tries === 40) return;
    await page.waitForTimeout(250);
  }
}

test("one box finds conversations, notes, contacts and articles, and respects private teams", async () => {
  const refund = await create({
    contact: { email: "eleni@example.gr", name: "Ελένη Παπαδοπούλου" },
    subject: "Παραγγελία 5521",
    text: "Το πακέτο έφτασε σπασμένο και θέλω επιστροφή χρημάτων.",
  });
  const bill = await create({
    contact: { email: "ravi@example.in", name: "రవి" },
    subject: "బిల్లు సమస్య",
    text: "నా బిల్లులో రెండుసార్లు వసూలు చేశారు.",
  });
  const late = await create({
    contact: { email: "ana@example.ph", name: "Ana Cruz" },
    subject: "Order",
    text: "Hindi pa dumarating ang aking order.",
  });
  const note = await api("POST", `/api/v1/conversations/${late.id}/messages`, {
    kind: "note",
    text: "Courier says the parcel is held at the Pasig warehouse.",
  });
  assert.equal(note.status, 201, JSON.stringify(note.json));
  const payroll = (await api("GET", "/api/v1/teams")).json.find((t) => t.name === "Payroll");
  const secret = await create({
    contact: { email: "staff@example.com", name: "Staff" },
    subject: "Salary slip",
    text: "My salary slip shows the wrong bonus.",
    team_id: payroll.id,
  });
  const article = await api("POST", "/api/v1/articles", {
    lang: "en",
    title: "Returning a damaged parcel",
    body: "When a parcel arrives damaged, offer a courier pickup and a full refund.",
    visibility: "internal",
    status: "published",
  });
  assert.equal(article.status, 201, JSON.stringify(article.json));

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "meera@example.com", password);
  await page.goto(base + "/inbox?view=all");
  // The / key puts the cursor in the search box.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "top-search");

  // Greek typed without accents finds the message written with them.
  const found = () => page.locator("table[aria-labelledby=found-conversations] tr", { hasText: "Παραγγελία 5521" });
  await search(page, "σπασμενο", { expect: found });
  await found().waitFor();
  assert.match(await found().locator(".snippet b").first().textContent(), /σπασμένο/);
  assert.equal(new URL(page.url()).searchParams.get("q"), "σπασμενο");

  // Telugu, by a word of the message.
  const telugu = () => page.locator("table[aria-labelledby=found-conversations] tr", { hasText: "బిల్లు సమస్య" });
  await search(page, "రెండుసార్లు", { expect: telugu });
  await telugu().waitFor();

  // An internal note is found, and says so.
  const noted = () => page.locator("table[aria-labelledby=found-conversations] tr", { hasText: "Ana Cruz" });
  await search(page, "warehouse", { expect: noted });
  await noted().locator(".tag", { hasText: "internal note" }).waitFor();

  // A Greek name, lower case and without accents, finds the contact.
  await search(page, "ελενη παπαδοπουλου");
  const contact = page.locator("table[aria-labelledby=found-contacts]").getByRole("link", { name: "Ελένη Παπαδοπούλου" });
  await contact.waitFor();

  // An organization, by its name typed without accents or by its domain.
  const made = await api("POST", "/api/v1/organizations", { name: "Οδική Βοήθεια ΑΕ", domain: "odiki.gr" });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  for (const q of ["οδικη βοηθεια", "odiki.gr"]) {
    await search(page, q);
    await page.locator(".found-organizations").getByRole("link", { name: "Οδική Βοήθεια ΑΕ" }).waitFor();
  }

  // An internal article is found beside the conversations.
  const articleLink = () => page.locator(".found-articles a", { hasText: "damaged parcel" });
  await search(page, "damaged parcel refund", { expect: articleLink });
  await articleLink().waitFor();
  await page.screenshot({ path: join(shots, "search.png"), fullPage: true });

  // A number opens that conversation.
  await search(page, `#${bill.reference}`);
  await page.waitForURL(`${base}/conversations/${bill.id}`);
  await search(page, String(refund.reference));
  await page.waitForURL(`${base}/conversations/${refund.id}`);

  // Nothing found says so, in the agent's words.
  await search(page, "zyxwvut");
  await page.locator(".empty", { hasText: "Nothing found for “zyxwvut”." }).waitFor();

  // The admin finds the private team's conversation; an agent outside the team does not,
  // by its words or by its number.
  const salary = () => page.locator("table[aria-labelledby=found-conversations] tr", { hasText: "Salary slip" });
  await search(page, "bonus", { expect: salary });
  await salary().waitFor();

  const gopal = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(gopal, base, "gopal@example.com", password);
  await gopal.goto(base + "/inbox");
  await search(gopal, "bonus");
  await gopal.locator(".empty", { hasText: "Nothing found" }).waitFor();
  assert.equal(await gopal.locator("table[aria-labelledby=found-conversations]").count(), 0);
  await search(gopal, `#${secret.reference}`);
  assert.match(gopal.url(), /\/search\?q=/, "a conversation the agent may not see is not opened");
  await gopal.locator(".empty", { hasText: "Nothing found" }).waitFor();
  // But the agent does find what is open to everyone.
  const gopalFound = () => gopal.locator("table[aria-labelledby=found-conversations] tr", { hasText: "Παραγγελία 5521" });
  await search(gopal, "επιστροφη χρηματων", { expect: gopalFound });
  await gopalFound().waitFor();
});

test("the search page refuses an overlong query with a clear word", async () => {
  const page = await (await browser.newContext()).newPage();
  await logIn(page, base, "meera@example.com", password);
  await page.goto(`${base}/search?q=${"α".repeat(1001)}`);
  await page.locator(".error", { hasText: "at most 1000 characters" }).waitFor();
  const anon = await (await browser.newContext()).newPage();
  await anon.goto(`${base}/search?q=refund`);
  assert.match(anon.url(), /\/login/, "search is for agents only");
});
