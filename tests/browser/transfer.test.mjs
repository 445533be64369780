// Browser test of ownership across teams and of collision notices, in Debian's chromium
// driven by playwright-core. Two agents, each in their own browser context: Olga owns a
// conversation and transfers it to Billing; Bilal in Billing sees that Olga is on it,
// Olga sees Bilal writing a reply as he types; Bilal marks Billing's part done and Olga
// gets her follow-up without reloading. Screenshots of both sides at each step are kept
// under target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, token, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "olga@example.com", "--name", "Olga", "--role", "agent", "--password-stdin"], password);
  seva.cli(["user", "add", "bilal@example.com", "--name", "Bilal", "--role", "agent", "--password-stdin"], password);
  seva.cli(["user", "add", "boss@example.com", "--name", "Boss", "--role", "admin", "--password-stdin"], password);
  token = seva.cli(["token", "create", "--user", "boss@example.com"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
});

const api = (method, path, body) => apiAs(base, token)(method, path, body);

async function agentId(email) {
  const { json } = await api("GET", "/api/v1/agents");
  return json.find((a) => a.email === email).id;
}

test("a transfer to Billing and back leaves Olga one follow-up, and each agent sees the other", async () => {
  const support = (await api("POST", "/api/v1/teams", { name: "Support" })).json.id;
  const billing = (await api("POST", "/api/v1/teams", { name: "Billing" })).json.id;
  const olga = await agentId("olga@example.com");
  const bilal = await agentId("bilal@example.com");
  assert.equal((await api("POST", `/api/v1/teams/${support}/members`, { agent_id: olga })).status, 200);
  assert.equal((await api("POST", `/api/v1/teams/${billing}/members`, { agent_id: bilal })).status, 200);
  const created = await api("POST", "/api/v1/conversations", {
    contact: { email: "maria@example.gr", name: "Μαρία" },
    subject: "Διπλή χρέωση",
    text: "Με χρεώσατε δύο φορές.",
    team_id: support,
  });
  assert.equal(created.status, 201);
  const id = created.json.id;
  assert.equal((await api("POST", `/api/v1/conversations/${id}/assign`, { owner_id: olga })).status, 200);

  const olgaSide = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const bilalSide = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(olgaSide, base, "olga@example.com", password);
  await logIn(bilalSide, base, "bilal@example.com", password);

  // Olga transfers the conversation to Billing with a note.
  await olgaSide.goto(`${base}/conversations/${id}`);
  await olgaSide.getByText("Transfer to another team").click();
  await olgaSide.locator('form[action$="/transfer"] select[name=team]').selectOption({ label: "Billing" });
  await olgaSide.getByLabel("What should they do?").fill("Please refund the second charge");
  await olgaSide.getByRole("button", { name: "Transfer", exact: true }).click();
  await olgaSide.getByText("With Billing").waitFor();
  await olgaSide.evaluate(() => (window.__sameLoad = true));
  await olgaSide.screenshot({ path: join(shots, "transfer-1-owner-transferred.png"), fullPage: true });

  // Bilal's inbox tells him; he marks the notice read.
  await bilalSide.goto(`${base}/inbox`);
  const notice = bilalSide.locator(".notices li", { hasText: "Please refund the second charge" });
  await notice.getByText("Transferred to your team").waitFor();
  await bilalSide.screenshot({ path: join(shots, "transfer-1-billing-notified.png"), fullPage: true });
  await notice.getByRole("button", { name: "Read" }).click();
  await bilalSide.waitForURL(`${base}/inbox`);
  assert.equal(await bilalSide.locator(".notices li", { hasText: "Please refund the second charge" }).count(), 0);

  // Bilal opens it: he sees the note and that Olga is on the conversation.
  await bilalSide.goto(`${base}/conversations/${id}`);
  await bilalSide.getByText("Please refund the second charge").first().waitFor();
  await bilalSide.getByText("Olga is viewing this conversation").waitFor({ timeout: 10000 });
  // Olga sees Bilal arrive, then sees him writing, without reloading.
  await olgaSide.getByText("Bilal is viewing this conversation").waitFor({ timeout: 10000 });
  await bilalSide.getByLabel("Your answer").pressSequentially("Η επιστροφή χρημάτων ", { delay: 20 });
  await olgaSide.getByText("Bilal is writing a reply…").waitFor({ timeout: 10000 });
  await olgaSide.screenshot({ path: join(shots, "transfer-2-owner-sees-colleague-writing.png"), fullPage: true });
  await bilalSide.screenshot({ path: join(shots, "transfer-2-billing-sees-owner.png"), fullPage: true });
  await bilalSide.getByLabel("Your answer").pressSequentially("έγινε σήμερα.", { delay: 10 });
  await bilalSide.getByRole("button", { name: "Send" }).click();
  await bilalSide.getByText("Η επιστροφή χρημάτων έγινε σήμερα.").waitFor();

  // Bilal marks Billing's part done; Olga's page shows her follow-up live.
  await bilalSide.getByLabel("What your team did (for the owner)").fill("Refunded 42,00 €");
  await bilalSide.getByRole("button", { name: "Our part is done" }).click();
  await bilalSide.waitForURL(`${base}/conversations/${id}`);
  await olgaSide.getByText("Confirm with the customer that it is solved. Refunded 42,00 €").waitFor({ timeout: 10000 });
  assert.equal(await olgaSide.evaluate(() => window.__sameLoad), true, "the follow-up appeared without a reload");
  // The side column followed too: back with Support, open again.
  await olgaSide.waitForFunction(
    (team) => document.querySelector("aside select[name=team]")?.value === team
      && document.querySelector("aside select[name=status]")?.value === "open",
    support,
    { timeout: 10000 },
  );
  await olgaSide.screenshot({ path: join(shots, "transfer-3-owner-follow-up.png"), fullPage: true });
  // Bilal has no follow-up to finish; Olga's inbox lists hers.
  assert.equal(await bilalSide.getByRole("button", { name: "Done: the customer confirmed" }).count(), 0);
  const inbox = await (await olgaSide.context()).newPage();
  await inbox.goto(`${base}/inbox`);
  await inbox.getByRole("heading", { name: "Your follow-ups" }).waitFor();
  await inbox.screenshot({ path: join(shots, "transfer-4-owner-inbox-follow-ups.png"), fullPage: true });
  await inbox.close();

  // Olga confirms; the follow-up is gone, and the customer had one thread throughout.
  await olgaSide.getByRole("button", { name: "Done: the customer confirmed" }).click();
  await olgaSide.waitForURL(`${base}/conversations/${id}`);
  assert.equal(await olgaSide.getByRole("button", { name: "Done: the customer confirmed" }).count(), 0);
  const tasks = await api("GET", `/api/v1/tasks?conversation_id=${id}&all=true`);
  assert.equal(tasks.json.length, 1);
  assert.ok(tasks.json[0].done_at);
  const conv = await api("GET", `/api/v1/conversations/${id}`);
  assert.equal(conv.json.owner_id, olga);
  assert.equal(conv.json.team_id, support);

  // When Bilal closes his page, Olga's notice goes away.
  await bilalSide.close();
  await olgaSide.getByText("Bilal is").waitFor({ state: "hidden", timeout: 10000 });
});
