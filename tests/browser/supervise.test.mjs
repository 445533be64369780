// Browser test of the supervisor's pages and of macros and snooze on the conversation
// page, in Debian's chromium driven by playwright-core: a supervisor tries a rule on the
// last conversations (dry run), saves it, watches an urgent breakdown jump the queue on
// the live queues page, and an agent answers with a macro and snoozes the conversation;
// the supervisor writes, rewrites and deletes a Greek macro on Settings → Macros, which
// an agent cannot open. Screenshots are kept under target/screenshots/.
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

test("a supervisor tries and saves a rule, sees the queue live, and an agent uses a macro and snooze", async () => {
  seva.cli(["team", "add", "Roadside"]);
  const team = (await api("GET", "/api/v1/teams")).json.find((t) => t.name === "Roadside").id;
  for (const [email, text] of [
    ["a@example.com", "Η μπαταρία χάλασε στην εθνική οδό"],
    ["b@example.com", "Where is my invoice?"],
  ]) {
    const r = await api("POST", "/api/v1/conversations", { contact: { email }, subject: "Help", text, team_id: team });
    assert.equal(r.status, 201);
  }

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.getByRole("link", { name: "Rules" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Breakdowns first");
  // The form starts with the breakdown example; try it on what is already there.
  await page.getByRole("button", { name: "Try on the last 50 conversations" }).click();
  const dryRun = page.locator(".dry-run");
  await dryRun.waitFor();
  assert.match(await dryRun.innerText(), /set_priority urgent/);
  assert.match(await dryRun.innerText(), /Matched 1/);
  await page.screenshot({ path: join(shots, "rules-dry-run.png"), fullPage: true });
  // Nothing was changed by trying.
  const before = await api("GET", "/api/v1/conversations");
  assert.ok(before.json.data.every((c) => c.priority === "normal"));
  await page.getByRole("button", { name: "Save rule" }).click();
  await page.waitForURL(`${base}/rules`);
  await page.getByRole("cell", { name: "Breakdowns first" }).waitFor();

  // A bad rule comes back with the reason and the form as it was.
  await page.getByLabel("Name", { exact: true }).fill("Broken");
  await page.getByLabel("Conditions (JSON, all must hold)").fill('[{"field": "colour", "op": "is", "value": "red"}]');
  await page.getByRole("button", { name: "Save rule" }).click();
  await page.getByRole("alert").filter({ hasText: "conditions[0].field" }).waitFor();
  assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "Broken");

  // The live queues: a Telugu breakdown arrives and shows as urgent without a reload.
  await page.getByRole("link", { name: "Queues" }).click();
  await page.evaluate(() => (window.__sameLoad = true));
  const row = page.locator("tr", { hasText: "Roadside" });
  await row.waitFor();
  await page.waitForTimeout(300); // the live stream connects
  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "c@example.in", name: "Ravi Kumar" }, subject: "కారు", text: "హైవేపై నా కారు ఆగిపోయింది", team_id: team,
  });
  assert.equal(created.status, 201);
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("tr")].find((r) => r.textContent.includes("Roadside"))?.querySelectorAll("td");
    return cells && cells[1].textContent.trim() === "3" && cells[2].textContent.trim() === "1";
  }, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.__sameLoad), true);
  await page.screenshot({ path: join(shots, "queues-live.png"), fullPage: true });

  // A macro answers and sets the status in one go; then the conversation is snoozed.
  const m = await api("POST", "/api/v1/macros", {
    name: "Tow truck on its way", text: "{{customer.first_name}}, a tow truck is on its way. — {{agent.name}}",
    actions: [{ type: "add_tag", value: "tow" }],
  });
  assert.equal(m.status, 201);
  await page.goto(`${base}/conversations/${created.json.id}`);
  await page.getByLabel("Macro").selectOption({ label: "Tow truck on its way" });
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByText("Ravi, a tow truck is on its way. — Sofia").waitFor();
  await page.getByText("tow", { exact: true }).first().waitFor();
  await page.locator('form[action$="/snooze"] select').selectOption("4h");
  await page.getByRole("button", { name: "Snooze" }).click();
  await page.getByText(/Snoozed until/).waitFor();
  await page.screenshot({ path: join(shots, "conversation-macro-snooze.png"), fullPage: true });
  const after = await api("GET", `/api/v1/conversations/${created.json.id}`);
  assert.equal(after.json.status, "pending");
  assert.ok(after.json.snoozed_until);
  assert.deepEqual(after.json.tags, ["tow"]);
});

test("a supervisor writes, rewrites and deletes a macro on the macros page; an agent cannot", async () => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.goto(base + "/settings");
  await page.getByRole("link", { name: "Macros" }).click();
  await page.waitForURL(base + "/settings/macros");

  // A Greek macro with variables and three things it also does.
  const form = page.getByRole("form", { name: "New macro" });
  await form.getByLabel("Name", { exact: true }).fill("Επιστροφή χρημάτων");
  await form.getByLabel("Language").selectOption("el");
  // First an unknown variable: refused, naming the field, with what was written kept.
  await form.getByLabel("Reply").fill("Γεια σας {{customer.password}}");
  await form.getByLabel("Status").selectOption("pending");
  await form.getByRole("button", { name: "Save" }).click();
  await page.locator("[role=alert]", { hasText: /^text: unknown variable/ }).waitFor();
  assert.equal(await form.getByLabel("Name", { exact: true }).inputValue(), "Επιστροφή χρημάτων");
  assert.equal(await form.getByLabel("Status").inputValue(), "pending");
  assert.equal(await page.locator("#macros tr", { hasText: "Επιστροφή χρημάτων" }).count(), 0);

  await form.getByLabel("Reply").fill("Γεια σας {{customer.first_name}}, τα χρήματα για το #{{conversation.reference}} επιστράφηκαν. — {{agent.name}}");
  await form.getByLabel("Priority").selectOption("high");
  await form.getByLabel("Add tags (separated by commas)").fill("refund, επιστροφή");
  await form.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(base + "/settings/macros?saved=1");
  const row = page.locator("#macros tr", { hasText: "Επιστροφή χρημάτων" });
  await row.waitFor();
  assert.equal(await row.locator("td").nth(1).textContent(), "el");
  assert.equal(await row.locator("td").nth(3).textContent(), "tag: refund, tag: επιστροφή, priority: High, status: Waiting on customer");

  // Rewritten: the form comes back filled; the status becomes Solved.
  await row.getByRole("link", { name: "Επιστροφή χρημάτων" }).click();
  const edit = page.getByRole("form", { name: "Edit the macro" });
  assert.equal(await edit.getByLabel("Name", { exact: true }).inputValue(), "Επιστροφή χρημάτων");
  assert.equal(await edit.getByLabel("Priority").inputValue(), "high");
  assert.equal(await edit.getByLabel("Add tags (separated by commas)").inputValue(), "refund, επιστροφή");
  await edit.getByLabel("Status").selectOption("solved");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(base + "/settings/macros?saved=1");
  assert.match(await row.locator("td").nth(3).textContent(), /status: Solved$/);
  await page.screenshot({ path: join(shots, "macros.png"), fullPage: true });

  // What a macro made through the API does beyond the form's fields is kept on rewriting.
  const notifying = await api("POST", "/api/v1/macros", {
    name: "Escalate", text: "We have asked a supervisor to look at this.",
    actions: [{ type: "notify", value: "supervisors" }, { type: "set_priority", value: "urgent" }],
  });
  assert.equal(notifying.status, 201, JSON.stringify(notifying.json));
  await page.goto(`${base}/settings/macros/${notifying.json.id}`);
  await page.getByText("Kept as they are (set through the API): notify supervisors").waitFor();
  await page.getByRole("form", { name: "Edit the macro" }).getByLabel("Priority").selectOption("high");
  await page.getByRole("form", { name: "Edit the macro" }).getByRole("button", { name: "Save" }).click();
  await page.waitForURL(base + "/settings/macros?saved=1");
  const escalate = (await api("GET", "/api/v1/macros")).json.find((m) => m.name === "Escalate");
  assert.deepEqual(escalate.actions, [{ type: "set_priority", value: "high" }, { type: "notify", value: "supervisors" }]);

  // An agent applies the Greek macro: the reply has the names, and the rest is done.
  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "eleni@example.gr", name: "Ελένη Παπαδοπούλου" }, subject: "Επιστροφή", text: "Πότε θα πάρω τα χρήματά μου;",
  });
  assert.equal(created.status, 201);
  await page.goto(`${base}/conversations/${created.json.id}`);
  await page.getByLabel("Macro").selectOption({ label: "Επιστροφή χρημάτων" });
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByText(`Γεια σας Ελένη, τα χρήματα για το #${created.json.reference} επιστράφηκαν. — Sofia`).waitFor();
  const applied = (await api("GET", `/api/v1/conversations/${created.json.id}`)).json;
  assert.equal(applied.status, "solved");
  assert.equal(applied.priority, "high");
  assert.deepEqual([...applied.tags].sort(), ["refund", "επιστροφή"]);

  // Deleted from the list.
  await page.goto(base + "/settings/macros");
  await page.getByRole("button", { name: "Delete Επιστροφή χρημάτων" }).click();
  await page.waitForURL(base + "/settings/macros?saved=1");
  assert.equal(await page.locator("#macros tr", { hasText: "Επιστροφή χρημάτων" }).count(), 0);
  assert.equal((await api("GET", "/api/v1/macros")).json.some((m) => m.name === "Επιστροφή χρημάτων"), false);

  // An agent neither sees the page nor writes a macro through its form.
  const agent = await (await browser.newContext()).newPage();
  await logIn(agent, base, "gopal@example.com", password);
  assert.equal((await agent.goto(base + "/settings/macros")).status(), 403);
  await agent.goto(base + "/settings");
  assert.equal(await agent.getByRole("link", { name: "Macros" }).count(), 0);
  const status = await agent.evaluate(async () => {
    const csrf = document.querySelector("meta[name=csrf-token]").content;
    const body = new URLSearchParams({ csrf, name: "Mine", text: "hello" });
    return (await fetch("/settings/macros", { method: "POST", body })).status;
  });
  assert.equal(status, 403);
  assert.equal((await api("GET", "/api/v1/macros")).json.some((m) => m.name === "Mine"), false);
});
