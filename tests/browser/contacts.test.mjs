// Browser test of the contact page: an agent corrects a contact's name and language, a
// supervisor merges a duplicate into the contact that stays (found by its email address,
// whatever its case), and bad input is refused with the field named. An agent cannot
// merge. A screenshot is kept under target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, token, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "sofia@example.com", "--name", "Sofia", "--role", "supervisor", "--password-stdin"], password);
  seva.cli(["user", "add", "gopal@example.com", "--name", "Gopal", "--role", "agent", "--password-stdin"], password);
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
