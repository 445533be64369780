// Browser test of the contact page: an agent corrects a contact's name and language, a
// supervisor merges a duplicate into the contact that stays (found by its email address,
// whatever its case), and bad input is refused with the field named. An agent cannot
// merge. An admin downloads a contact's data and erases them; a supervisor cannot. A
// supervisor redacts a message sent with a card number; an agent cannot. A screenshot is
// kept under target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, token, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "sofia@example.com", "--name", "Sofia", "--role", "supervisor", "--password-stdin"], password);
  seva.cli(["user", "add", "gopal@example.com", "--name", "Gopal", "--role", "agent", "--password-stdin"], password);
  seva.cli(["user", "add", "asha@example.com", "--name", "Asha", "--role", "admin", "--password-stdin"], password);
  token = seva.cli(["token", "create", "--user", "sofia@example.com"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
});

const api = (method, path, body) => apiAs(base, token)(method, path, body);

async function contactOf(email, name, subject) {
  const r = await api("POST", "/api/v1/conversations", { contact: { email, name }, subject, text: "Καλησπέρα" });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return (await api("GET", `/api/v1/conversations/${r.json.id}`)).json.contact_id;
}

test("a contact is corrected and a duplicate merged from the contact page", async () => {
  const old = await contactOf("e.papa@example.gr", "E. Papadopoulou", "Παλιά παραγγελία");
  const stays = await contactOf("eleni@example.gr", "Ελένη Παπαδοπούλου", "Νέα παραγγελία");

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.goto(`${base}/contacts/${old}`);
  await page.getByText("Edit the contact").click();
  const edit = page.getByRole("form", { name: "Edit the contact" });
  // A name of spaces only is refused, naming the field, and nothing changes.
  await edit.getByLabel("Name").fill("   ");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.locator("[role=alert]", { hasText: "name: a name cannot be empty" }).waitFor();
  assert.equal((await api("GET", `/api/v1/contacts/${old}`)).json.name, "E. Papadopoulou");

  await page.getByText("Edit the contact").click();
  await edit.getByLabel("Name").fill("Ελένη Π.");
  await edit.getByLabel("Answered in").selectOption("el");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${base}/contacts/${old}?saved=1`);
  await page.getByRole("heading", { name: "Ελένη Π." }).waitFor();
  const renamed = (await api("GET", `/api/v1/contacts/${old}`)).json;
  assert.equal(renamed.name, "Ελένη Π.");
  assert.equal(renamed.language, "el");
  // The new name is found, in lower case and without its accent.
  await page.goto(`${base}/search?q=${encodeURIComponent("ελενη π.")}`);
  await page.locator("table[aria-labelledby=found-contacts]").getByRole("link", { name: "Ελένη Π." }).waitFor();

  // Merging: an unreadable address and an unknown one are refused by name.
  await page.goto(`${base}/contacts/${old}`);
  await page.getByText("Edit the contact").click();
  const merge = page.getByRole("form", { name: "Merge" });
  await merge.getByLabel("Merge into the contact with this email or phone").fill("not an address");
  await merge.getByRole("button", { name: "Merge" }).click();
  await page.locator("[role=alert]", { hasText: "into: write an email address or a phone number" }).waitFor();
  await page.getByText("Edit the contact").click();
  await merge.getByLabel("Merge into the contact with this email or phone").fill("nobody@example.com");
  await merge.getByRole("button", { name: "Merge" }).click();
  await page.locator("[role=alert]", { hasText: "into: no contact has this address or number" }).waitFor();

  // Into the contact that stays, by its address in another case: its page opens with
  // both addresses and both conversations.
  await page.getByText("Edit the contact").click();
  await merge.getByLabel("Merge into the contact with this email or phone").fill("ELENI@example.gr");
  await merge.getByRole("button", { name: "Merge" }).click();
  await page.waitForURL(`${base}/contacts/${stays}?saved=1`);
  await page.getByText("e.papa@example.gr").waitFor();
  await page.getByRole("link", { name: "Παλιά παραγγελία" }).waitFor();
  await page.getByRole("link", { name: "Νέα παραγγελία" }).waitFor();
  await page.getByRole("heading", { name: "Conversations (2)" }).waitFor();
  await page.screenshot({ path: join(shots, "contact-merged.png"), fullPage: true });
  // The merged contact's old address leads to the one that stays.
  await page.goto(`${base}/contacts/${old}`);
  assert.equal(page.url(), `${base}/contacts/${stays}`);

  // An agent corrects names but does not merge: no form, and the form's address refuses.
  const other = await contactOf("dup@example.com", "Dup", "Duplicate");
  const agent = await (await browser.newContext()).newPage();
  await logIn(agent, base, "gopal@example.com", password);
  await agent.goto(`${base}/contacts/${other}`);
  await agent.getByText("Edit the contact").click();
  assert.equal(await agent.getByRole("form", { name: "Merge" }).count(), 0);
  const status = await agent.evaluate(async (id) => {
    const csrf = document.querySelector("meta[name=csrf-token]").content;
    const body = new URLSearchParams({ csrf, into: "eleni@example.gr" });
    return (await fetch(`/contacts/${id}/merge`, { method: "POST", body })).status;
  }, other);
  assert.equal(status, 403);
  assert.equal((await api("GET", `/api/v1/contacts/${stays}`)).json.conversation_count, 2);
});

test("a supervisor keeps organizations; their people and conversations are seen together", async () => {
  const ioanna = await contactOf("ioanna@acme.gr", "Ιωάννα", "Τιμολόγιο Acme");
  const petros = await contactOf("petros@example.com", "Petros", "Petros asks");

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.goto(`${base}/contacts`);
  await page.getByRole("link", { name: "Organizations" }).click();
  await page.waitForURL(`${base}/organizations`);
  const add = page.getByRole("form", { name: "Add the organization" });
  // A domain that is not one is refused by name, with what was typed kept.
  await add.getByLabel("Name").fill("Acme Ελλάς");
  await add.getByLabel("Email domain").fill("not a domain");
  await add.getByRole("button", { name: "Add the organization" }).click();
  await page.locator("[role=alert]", { hasText: "domain: a domain name such as example.com" }).waitFor();
  assert.equal(await add.getByLabel("Name").inputValue(), "Acme Ελλάς");
  await add.getByLabel("Email domain").fill("Acme.gr");
  await add.getByRole("button", { name: "Add the organization" }).click();
  await page.waitForURL(/\/organizations\/[0-9a-f-]+$/);
  const orgUrl = page.url();
  // Ioanna, who writes from the domain, is already one of its people, with her conversation.
  await page.locator("table[aria-labelledby=org-people]").getByRole("link", { name: "Ιωάννα" }).waitFor();
  await page.getByRole("link", { name: "Τιμολόγιο Acme" }).waitFor();
  await page.screenshot({ path: join(shots, "organization.png"), fullPage: true });
  // Her conversation names her organization beside her.
  await page.getByRole("link", { name: "Τιμολόγιο Acme" }).click();
  assert.equal(await page.locator(".side a.organization, a.organization").first().textContent(), "Acme Ελλάς");

  // The same domain twice is refused.
  await page.goto(`${base}/organizations`);
  await add.getByLabel("Name").fill("Acme again");
  await add.getByLabel("Email domain").fill("acme.gr");
  await add.getByRole("button", { name: "Add the organization" }).click();
  await page.locator("[role=alert]", { hasText: "domain: an organization with that domain exists" }).waitFor();

  // Petros is put into it from his page, which then names it.
  await page.goto(`${base}/contacts/${petros}`);
  await page.getByText("Edit the contact").click();
  await page.getByRole("form", { name: "Edit the contact" }).getByLabel("Organization").selectOption({ label: "Acme Ελλάς" });
  await page.getByRole("form", { name: "Edit the contact" }).getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${base}/contacts/${petros}?saved=1`);
  await page.getByRole("link", { name: "Acme Ελλάς" }).click();
  assert.equal(page.url(), orgUrl);
  await page.getByRole("link", { name: "Petros asks" }).waitFor();
  assert.equal((await api("GET", `/api/v1/contacts/${ioanna}`)).json.organization_id, orgUrl.split("/").pop());

  // Renamed by its page.
  await page.getByText("Edit the organization").click();
  const edit = page.getByRole("form", { name: "Edit the organization" });
  await edit.getByLabel("Name").fill("Acme");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${orgUrl}?saved=1`);
  await page.getByRole("heading", { name: "Acme", exact: true }).waitFor();

  // An agent sees it, but neither adds, edits nor deletes.
  const agent = await (await browser.newContext()).newPage();
  await logIn(agent, base, "gopal@example.com", password);
  await agent.goto(orgUrl);
  await agent.getByRole("link", { name: "Petros asks" }).waitFor();
  assert.equal(await agent.getByText("Edit the organization").count(), 0);
  await agent.goto(`${base}/organizations`);
  assert.equal(await agent.getByRole("form", { name: "Add the organization" }).count(), 0);
  const statuses = await agent.evaluate(async (url) => {
    const csrf = document.querySelector("meta[name=csrf-token]").content;
    const post = async (to, fields) => (await fetch(to, { method: "POST", body: new URLSearchParams({ csrf, ...fields }) })).status;
    return [await post("/organizations", { name: "Mine" }), await post(url, { name: "Mine" }), await post(`${url}/delete`, {})];
  }, orgUrl);
  assert.deepEqual(statuses, [403, 403, 403]);

  // Deleted: the list is empty again, and its people are still here.
  await page.getByText("Edit the organization").click();
  await page.getByRole("button", { name: "Delete the organization (its people stay)" }).click();
  await page.waitForURL(`${base}/organizations`);
  await page.getByText("No organizations yet.").waitFor();
  assert.equal((await api("GET", `/api/v1/contacts/${petros}`)).json.organization_id, null);
});

test("an agent gives a contact a new number and takes it away again", async () => {
  const thanos = await contactOf("thanos@example.gr", "Θάνος", "Νέος αριθμός");
  await contactOf("other@example.gr", "Other", "Someone else");
  const page = await (await browser.newContext()).newPage();
  await logIn(page, base, "gopal@example.com", password);
  await page.goto(`${base}/contacts/${thanos}`);
  const add = page.getByRole("form", { name: "Another email address or phone number" });
  // Another contact's address is refused: merging is the way.
  await add.getByLabel("Another email address or phone number").fill("Other@example.gr");
  await add.getByRole("button", { name: "Add" }).click();
  await page.locator("[role=alert]", { hasText: "merge the two instead" }).waitFor();
  await add.getByLabel("Another email address or phone number").fill("+30 697 111 2233");
  await add.getByRole("button", { name: "Add" }).click();
  await page.waitForURL(`${base}/contacts/${thanos}?saved=1`);
  await page.getByText("+306971112233").waitFor();
  assert.deepEqual((await api("GET", `/api/v1/contacts/${thanos}`)).json.identities.map((i) => i.value), ["thanos@example.gr", "+306971112233"]);

  await page.getByRole("button", { name: "Take away +306971112233" }).click();
  await page.waitForURL(`${base}/contacts/${thanos}?saved=1`);
  assert.equal(await page.getByText("+306971112233").count(), 0);
  // The one way left to reach him cannot be taken away.
  assert.equal(await page.getByRole("button", { name: /^Take away/ }).count(), 0);

  // A contact added by hand, before she writes; the same address twice is refused.
  await page.goto(`${base}/contacts`);
  const added = page.getByRole("form", { name: "Add a contact" });
  await added.getByLabel("Name").fill("Μαρία Γεωργίου");
  await added.getByLabel("Email address or phone number").fill("Maria.G@example.gr");
  await added.getByRole("button", { name: "Add a contact" }).click();
  await page.waitForURL(/\/contacts\/[0-9a-f-]+$/);
  await page.getByRole("heading", { name: "Μαρία Γεωργίου" }).waitFor();
  await page.getByText("maria.g@example.gr").waitFor();
  await page.goto(`${base}/contacts`);
  await added.getByLabel("Name").fill("Maria again");
  await added.getByLabel("Email address or phone number").fill("maria.g@example.gr");
  await added.getByRole("button", { name: "Add a contact" }).click();
  await page.locator("[role=alert]", { hasText: "reach: a contact with this address or number exists" }).waitFor();
  assert.equal(await added.getByLabel("Name").inputValue(), "Maria again");
});

test("an agent marks a conversation as spam from its page, and lets the sender back from the contact page", async () => {
  const r = await api("POST", "/api/v1/conversations", { contact: { email: "prize@lottery.example", name: "Win Big" }, subject: "Κερδίσατε!", text: "Πατήστε εδώ" });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const id = r.json.id;
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "gopal@example.com", password);
  await page.goto(`${base}/conversations/${id}`);
  await page.getByRole("button", { name: "Spam: block this contact" }).click();
  await page.waitForURL(`${base}/conversations/${id}`);
  await page.locator("#blocked", { hasText: "The sender is blocked" }).waitFor();
  const c = (await api("GET", `/api/v1/conversations/${id}`)).json;
  assert.equal(c.status, "solved");
  assert.deepEqual(c.tags, ["spam"]);
  // Another message from them, through the web form, is kept but filed as spam: out of
  // the open inbox, solved and tagged.
  const form = await (await browser.newContext()).newPage();
  await form.goto(`${base}/contact`);
  await form.locator("input[name=name]").fill("Win Big");
  await form.locator("input[name=email]").fill("prize@lottery.example");
  await form.locator("input[name=subject]").fill("Τελευταία ευκαιρία");
  await form.locator("textarea[name=message]").fill("Πατήστε!");
  await form.locator("form button[type=submit]").click();
  await form.waitForURL(/\/contact/);
  await form.close();
  await page.goto(`${base}/inbox?view=open`);
  assert.equal(await page.getByRole("link", { name: "Τελευταία ευκαιρία" }).count(), 0);
  const list = (await api("GET", "/api/v1/conversations?tag=spam")).json.data;
  assert.deepEqual(list.map((x) => [x.subject, x.status]).sort(), [["Κερδίσατε!", "solved"], ["Τελευταία ευκαιρία", "solved"]]);
  // The inbox's Spam view lists them, to look through for a customer blocked by mistake.
  await page.getByRole("link", { name: "Spam", exact: true }).click();
  await page.waitForURL(`${base}/inbox?view=spam`);
  await page.getByRole("link", { name: "Τελευταία ευκαιρία" }).waitFor();
  await page.getByRole("link", { name: "Κερδίσατε!" }).waitFor();
  // From the contact page, they may write again.
  await page.goto(`${base}/contacts/${c.contact_id}`);
  await page.getByText("Blocked: what this contact sends is kept, but filed as spam").waitFor();
  await page.getByRole("button", { name: "Let them write again" }).click();
  await page.waitForURL(`${base}/contacts/${c.contact_id}?saved=1`);
  await page.getByRole("button", { name: "Block: file what they send as spam" }).waitFor();
  assert.equal((await api("GET", `/api/v1/contacts/${c.contact_id}`)).json.blocked_at, null);
  await page.close();
});

test("an admin downloads a contact's data and erases them; a supervisor sees neither", async () => {
  const contact = await contactOf("nikos.erase@example.gr", "Νίκος Διαγραφής", "Διαγράψτε τα στοιχεία μου");

  const supervisor = await (await browser.newContext()).newPage();
  await logIn(supervisor, base, "sofia@example.com", password);
  await supervisor.goto(`${base}/contacts/${contact}`);
  await supervisor.getByRole("heading", { name: "Νίκος Διαγραφής" }).waitFor();
  assert.equal(await supervisor.getByText("Their data (privacy requests)").count(), 0);

  const page = await (await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "asha@example.com", password);
  await page.goto(`${base}/contacts/${contact}`);
  await page.getByText("Their data (privacy requests)").click();
  // The copy they may ask for, as a file.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download everything about them (JSON)" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), `contact-${contact}.json`);
  const copy = JSON.parse(readFileSync(await download.path(), "utf8"));
  assert.equal(copy.contact.name, "Νίκος Διαγραφής");
  assert.equal(copy.conversations[0].subject, "Διαγράψτε τα στοιχεία μου");
  assert.equal(copy.conversations[0].messages[0].text, "Καλησπέρα");

  // The erasure asks for the box to be ticked first.
  const erase = page.getByRole("form", { name: "Erase this contact" });
  await erase.getByText("their conversation with every message").waitFor();
  await page.screenshot({ path: join(shots, "contact-privacy.png"), fullPage: true });
  await erase.getByRole("button", { name: "Erase this contact" }).click();
  assert.equal(await erase.getByRole("checkbox").evaluate((b) => b.validity.valueMissing), true);
  assert.equal((await api("GET", `/api/v1/contacts/${contact}`)).status, 200);
  // The server asks for it too, should the browser not.
  await erase.getByRole("checkbox").evaluate((b) => (b.required = false));
  await erase.getByRole("button", { name: "Erase this contact" }).click();
  await page.locator("[role=alert]", { hasText: "Tick the box to confirm that the erasure cannot be undone." }).waitFor();
  assert.equal((await api("GET", `/api/v1/contacts/${contact}`)).status, 200);
  await page.getByText("Their data (privacy requests)").click();
  await erase.getByLabel("I understand this cannot be undone").check();
  await erase.getByRole("button", { name: "Erase this contact" }).click();
  await page.waitForURL(`${base}/contacts?erased=1`);
  await page.locator("[role=status]", { hasText: "The contact was erased, with their conversation." }).waitFor();
  assert.equal((await api("GET", `/api/v1/contacts/${contact}`)).status, 404);
  assert.equal(await page.getByText("Νίκος Διαγραφής").count(), 0);
  // The audit log says an admin erased a contact, and not whom.
  await page.goto(`${base}/settings/audit?area=contact`);
  const row = page.locator("tr", { hasText: "contact.erased" });
  await row.waitFor();
  assert.match(await row.textContent(), /Asha/);
  assert.doesNotMatch(await page.content(), /Νίκος|nikos\.erase/);
});

test("a supervisor redacts a message with a card number; an agent sees no way to", async () => {
  const r = await api("POST", "/api/v1/conversations", {
    contact: { email: "kavya@example.in", name: "కావ్య" },
    subject: "చెల్లింపు",
    text: "నా కార్డు 4111 1111 1111 1111",
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const url = `${base}/conversations/${r.json.id}`;

  const agent = await (await browser.newContext()).newPage();
  await logIn(agent, base, "gopal@example.com", password);
  await agent.goto(url);
  await agent.getByText("4111 1111 1111 1111").waitFor();
  assert.equal(await agent.getByText("Redact this message").count(), 0);

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.goto(url);
  await page.getByText("Redact this message", { exact: true }).first().click();
  const form = page.getByRole("form", { name: "Redact this message" });
  // Without the box ticked (the browser asks for it; the server too) nothing is taken.
  await form.getByRole("checkbox").evaluate((b) => (b.required = false));
  const refused = await Promise.all([
    page.waitForResponse((res) => res.url().endsWith("/redact")),
    form.getByRole("button", { name: "Redact this message" }).click(),
  ]);
  assert.equal(refused[0].status(), 422);
  await page.getByText("Tick the box to confirm that the redaction cannot be undone.").waitFor();
  assert.equal((await api("GET", `/api/v1/conversations/${r.json.id}/messages`)).json[0].redacted_at, null);
  await page.goto(url);
  await page.getByText("Redact this message", { exact: true }).first().click();
  await form.getByLabel("I understand this cannot be undone").check();
  await form.getByRole("button", { name: "Redact this message" }).click();
  await page.waitForURL(new RegExp(`/conversations/${r.json.id}#m-`));
  await page.getByText("The words of this message were taken out.").waitFor();
  assert.equal(await page.getByText("4111").count(), 0);
  await page.screenshot({ path: join(shots, "message-redacted.png"), fullPage: true });
  const messages = (await api("GET", `/api/v1/conversations/${r.json.id}/messages`)).json;
  assert.equal(messages[0].text, "");
  assert.ok(messages[0].redacted_at);
});
