// Browser test of Settings → People: an admin adds an agent and a team from the web
// page, the new agent logs in with the one-time password shown once, is disabled and
// enabled, and gets a new one-time password; an admin makes an API token, sees it once
// and revokes it; an agent who is not an admin cannot open the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "asha@example.com", "--name", "Asha", "--role", "admin", "--password-stdin"], password);
  seva.cli(["user", "add", "gopal@example.com", "--name", "Gopal", "--role", "agent", "--password-stdin"], password);
  browser = await launchBrowser();
});

// Fills in the login form on the page and sends it, wherever that leads.
async function submitLogin(page, email, password) {
  await page.locator("input[name=email]").fill(email);
  await page.locator("input[name=password]").fill(password);
  await page.locator("form[action='/login'] button[type=submit]").click();
}

after(async () => {
  await browser?.close();
  seva?.stop();
});

test("an admin adds an agent and a team in the browser; the agent logs in, then is disabled", async () => {
  const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await logIn(admin, base, "asha@example.com", password);
  // With no teams yet, the queues page says where teams are made.
  await admin.goto(base + "/queues");
  await admin.locator(".empty", { hasText: "No teams yet." }).getByRole("link", { name: "Agents and teams" }).waitFor();
  await admin.goto(base + "/settings");
  await admin.getByRole("link", { name: "Agents and teams" }).click();
  await admin.waitForURL(base + "/settings/people");

  // A new agent, in Greek: the one-time password is on the answer to the form.
  const addAgent = admin.getByRole("form", { name: "Add an agent" });
  await addAgent.getByLabel("Name").fill("Ελένη Κωστοπούλου");
  await addAgent.getByLabel("Email").fill("eleni.k@example.gr");
  await addAgent.getByLabel("Language").selectOption("el");
  const [answer] = await Promise.all([
    admin.waitForResponse((r) => r.url() === base + "/settings/people/agents" && r.request().method() === "POST"),
    addAgent.getByRole("button", { name: "Add" }).click(),
  ]);
  assert.equal(answer.headers()["cache-control"], "no-store", "a page with a password is not cached");
  const created = admin.locator("#issued");
  await created.waitFor();
  assert.match(await created.textContent(), /Ελένη Κωστοπούλου/);
  const oneTime = (await created.locator("code").textContent()).trim();
  assert.equal(oneTime.length, 16);
  await admin.locator("#agents tr", { hasText: "eleni.k@example.gr" }).waitFor();

  // A private team, and the new agent in it.
  const addTeam = admin.getByRole("form", { name: "Add a team" });
  await addTeam.getByLabel("Name").fill("Τιμολόγηση");
  await addTeam.getByLabel(/Private/).check();
  await addTeam.getByRole("button", { name: "Add" }).click();
  const team = admin.getByRole("region", { name: "Τιμολόγηση" });
  await team.getByLabel("Add to this team").selectOption({ label: "Ελένη Κωστοπούλου" });
  await team.getByRole("button", { name: "Add" }).click();
  await admin.getByRole("region", { name: "Τιμολόγηση" }).locator(".members li", { hasText: "Ελένη Κωστοπούλου" }).waitFor();
  await admin.screenshot({ path: join(shots, "people.png"), fullPage: true });
  // On a phone's width the page fits the screen (its tables scroll in their own box).
  await admin.setViewportSize({ width: 400, height: 800 });
  assert.equal(await admin.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0);
  await admin.setViewportSize({ width: 1280, height: 900 });

  // What the API sees: the agent, in the team, with Greek as their language.
  const token = seva.cli(["token", "create", "--user", "asha@example.com"]);
  const api = apiAs(base, token);
  const agents = (await api("GET", "/api/v1/agents")).json;
  const eleni = agents.find((a) => a.email === "eleni.k@example.gr");
  assert.equal(eleni.role, "agent");
  assert.equal(eleni.language, "el");
  const teams = (await api("GET", "/api/v1/teams")).json;
  const billing = teams.find((t) => t.name === "Τιμολόγηση");
  assert.equal(billing.private, true);
  assert.deepEqual(billing.members, [eleni.id]);
  assert.deepEqual(eleni.teams, [billing.id]);

  // She logs in with the one-time password and is asked for her own, in Greek.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const her = await context.newPage();
  await her.goto(base + "/login");
  await submitLogin(her, "eleni.k@example.gr", oneTime);
  await her.waitForURL(base + "/me/password");
  const fields = her.locator("form[action='/me/password'] input[type=password]");
  await fields.nth(0).fill("her own long password");
  await fields.nth(1).fill("her own long password");
  await her.locator("form[action='/me/password'] button[type=submit]").click();
  await her.waitForURL(base + "/inbox");
  await her.getByText("Εισερχόμενα").first().waitFor();

  // Disabled: her session ends at once, and she cannot log in again.
  await admin.getByRole("button", { name: "Disable Ελένη Κωστοπούλου" }).click();
  await admin.locator("#agents tr.disabled", { hasText: "eleni.k@example.gr" }).waitFor();
  assert.equal(await admin.getByRole("button", { name: "Disable Asha" }).count(), 0, "an admin cannot disable themselves");
  await her.goto(base + "/inbox");
  await her.waitForURL(/\/login/);
  await submitLogin(her, "eleni.k@example.gr", "her own long password");
  // The refusal's page, loaded before anything else is typed (the URL stays /login).
  await her.getByText("That email and password do not match an active account.").waitFor();
  const after = (await api("GET", "/api/v1/agents")).json.find((a) => a.email === "eleni.k@example.gr");
  assert.equal(after.disabled, true);

  // Enabled again, she logs in with her own password.
  await admin.getByRole("button", { name: "Enable Ελένη Κωστοπούλου" }).click();
  await admin.getByRole("button", { name: "Disable Ελένη Κωστοπούλου" }).waitFor();
  await her.goto(base + "/login");
  await submitLogin(her, "eleni.k@example.gr", "her own long password");
  await her.waitForURL(base + "/inbox");

  // She forgot her password: the admin gives her a new one-time password, which ends her
  // session; her old password no longer works, the new one asks her to choose again.
  await her.goto(base + "/inbox");
  await admin.getByRole("button", { name: "New one-time password for Ελένη Κωστοπούλου" }).click();
  const issued = admin.locator("#issued");
  await issued.waitFor();
  assert.match(await issued.textContent(), /sessions have ended/);
  const again = (await issued.locator("code").textContent()).trim();
  assert.notEqual(again, oneTime);
  await her.goto(base + "/inbox");
  await her.waitForURL(/\/login/);
  await submitLogin(her, "eleni.k@example.gr", "her own long password");
  await her.getByText("That email and password do not match an active account.").waitFor();
  await submitLogin(her, "eleni.k@example.gr", again);
  await her.waitForURL(base + "/me/password");
  await context.close();

  // Taken out of the team again.
  await admin.getByRole("region", { name: "Τιμολόγηση" }).getByRole("button", { name: "Remove Ελένη Κωστοπούλου from this team" }).click();
  await admin.getByRole("region", { name: "Τιμολόγηση" }).getByLabel("Add to this team").waitFor();
  const billingAfter = (await api("GET", "/api/v1/teams")).json.find((t) => t.name === "Τιμολόγηση");
  assert.deepEqual(billingAfter.members, []);
  await admin.close();
});

test("an admin makes an API token in the browser, sees it once, and revokes it", async () => {
  const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await logIn(admin, base, "asha@example.com", password);
  await admin.goto(base + "/settings/people");
  const make = admin.getByRole("form", { name: "Make an API token" });
  await make.getByLabel("Name").fill("తెలుగు CRM");
  await make.getByLabel("Acts as").selectOption({ label: "Gopal" });
  const [answer] = await Promise.all([
    admin.waitForResponse((r) => r.url() === base + "/settings/people/tokens" && r.request().method() === "POST"),
    make.getByRole("button", { name: "Make" }).click(),
  ]);
  assert.equal(answer.headers()["cache-control"], "no-store", "a page with a token is not cached");
  const issued = admin.locator("#issued");
  await issued.waitFor();
  assert.match(await issued.textContent(), /తెలుగు CRM/);
  const secret = (await issued.locator("code").textContent()).trim();
  const row = admin.locator("#tokens tr", { hasText: "తెలుగు CRM" });
  assert.match(await row.textContent(), /Gopal/);
  assert.match(await row.textContent(), /never/);

  // The token works as Gopal; once used, the page says so, and the secret is on no page
  // loaded since.
  const me = await apiAs(base, secret)("GET", "/api/v1/me");
  assert.equal(me.status, 200);
  assert.equal(me.json.email, "gopal@example.com");
  let used = false;
  for (let i = 0; i < 50 && !used; i++) {
    await admin.goto(base + "/settings/people");
    used = !/never/.test(await admin.locator("#tokens tr", { hasText: "తెలుగు CRM" }).textContent());
    if (!used) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(used, "the last use is shown");
  assert.equal((await admin.content()).includes(secret), false);

  // Revoked: it stops at once, and stays listed as revoked.
  await admin.getByRole("button", { name: "Revoke the token తెలుగు CRM" }).click();
  await admin.locator("#tokens tr.disabled", { hasText: "తెలుగు CRM" }).waitFor();
  assert.match(await admin.locator("#tokens tr", { hasText: "తెలుగు CRM" }).textContent(), /revoked/);
  assert.equal(await admin.getByRole("button", { name: "Revoke the token తెలుగు CRM" }).count(), 0);
  assert.equal((await apiAs(base, secret)("GET", "/api/v1/me")).status, 401);

  // An empty name is refused with the reason, and makes nothing.
  const before = await admin.locator("#tokens tbody tr").count();
  await make.getByLabel("Name").evaluate((el) => el.removeAttribute("required"));
  await make.getByLabel("Name").fill("   ");
  await make.getByRole("button", { name: "Make" }).click();
  await admin.getByText(/1 to 100 characters/).waitFor();
  await admin.goto(base + "/settings/people");
  assert.equal(await admin.locator("#tokens tbody tr").count(), before);
  await admin.close();
});

test("an admin reads the audit log: who changed the desk, filtered by area and by who", async () => {
  const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await logIn(admin, base, "asha@example.com", password);
  await admin.goto(base + "/settings");
  await admin.getByRole("link", { name: "Open the audit log" }).click();
  await admin.waitForURL(base + "/settings/audit");
  const rows = admin.locator("#audit tbody tr");
  // Newest first: the token revoked in the test before, by Asha.
  assert.match(await rows.first().textContent(), /token\.revoked/);
  assert.match(await rows.first().textContent(), /Asha/);
  assert.ok(await admin.locator("#audit tbody tr", { hasText: "team.created" }).count() >= 1);
  assert.ok(await admin.locator("#audit tbody tr", { hasText: "agent: Ελένη Κωστοπούλου" }).count() >= 1, "ids are shown as names");
  await admin.screenshot({ path: join(shots, "audit.png"), fullPage: true });

  const filter = admin.getByRole("form", { name: "Filter the audit log" });
  await filter.getByLabel("Area").selectOption("team");
  await filter.getByRole("button", { name: "Show" }).click();
  await admin.waitForURL(/area=team/);
  for (const text of await rows.allTextContents()) assert.match(text, /team\./);
  await filter.getByLabel("Area").selectOption("");
  await filter.getByLabel("Who").selectOption({ label: "Seva" });
  await filter.getByRole("button", { name: "Show" }).click();
  await admin.waitForURL(/actor=system/);
  // What the command line did (the tokens the tests made) is Seva's, not Asha's.
  assert.ok((await rows.count()) >= 1);
  for (const who of await rows.locator("td:nth-child(2)").allTextContents()) assert.equal(who, "Seva");
  // A page number that is none gets the desk's own error page, naming what is wrong.
  const wrong = await admin.goto(base + "/settings/audit?before=yesterday");
  assert.equal(wrong.status(), 422);
  await admin.getByText("The field “before” is missing, or holds a value this page does not take.").waitFor();
  await admin.close();

  // Not for an agent.
  const agent = await browser.newPage();
  await logIn(agent, base, "gopal@example.com", password);
  assert.equal((await agent.goto(base + "/settings/audit")).status(), 403);
  await agent.close();
});

test("an agent who is not an admin cannot open or use the people page", async () => {
  const page = await browser.newPage();
  await logIn(page, base, "gopal@example.com", password);
  const shown = await page.goto(base + "/settings/people");
  assert.equal(shown.status(), 403);
  // Not even with the page's own CSRF token: the form is refused and nothing is added.
  const csrf = await page.evaluate(async () => {
    const html = await (await fetch("/settings")).text();
    return html.match(/name="csrf" value="([^"]+)"/)[1];
  });
  const status = await page.evaluate(async (csrf) => {
    const body = new URLSearchParams({ csrf, name: "Mallory", email: "mallory@example.com", role: "admin" });
    return (await fetch("/settings/people/agents", { method: "POST", body })).status;
  }, csrf);
  assert.equal(status, 403);
  const token = seva.cli(["token", "create", "--user", "asha@example.com"]);
  const agents = (await apiAs(base, token)("GET", "/api/v1/agents")).json;
  assert.equal(agents.some((a) => a.email === "mallory@example.com"), false);
  await page.close();
});
