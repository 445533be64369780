// Browser test of the agent's everyday tools, in Debian's chromium driven by
// playwright-core: ticking conversations (by mouse and by keyboard) and changing them all
// at once from the bulk bar, merging a duplicate by its number, splitting a message off
// again, the conversation page's keys (a takes it, n writes a note), and saving a view of
// the inbox from its filters, shared with a colleague. Screenshots are kept under
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

async function create(email, subject, text) {
  const r = await api("POST", "/api/v1/conversations", { contact: { email }, subject, text });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return (await api("GET", `/api/v1/conversations/${r.json.id}`)).json;
}

test("bulk changes, merge and split from the pages, and the conversation keys", async () => {
  const login = await create("dup@example.com", "Cannot log in", "I cannot log in");
  const again = await create("dup@example.com", "Cannot log in again", "Still cannot log in, and my invoice is wrong");
  const other = await create("vip@example.com", "Invoice", "Where is my invoice?");

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.goto(`${base}/inbox?view=all`);

  // Tick one with the mouse and one with the keyboard (j moves down the list, x ticks).
  await page.getByLabel(`Tick #${login.reference}`).check();
  const rows = page.locator("tr[data-href]");
  const order = await rows.evaluateAll((list) => list.map((r) => r.dataset.href));
  const otherAt = order.indexOf(`/conversations/${other.id}`);
  assert.ok(otherAt >= 0, `${other.id} is listed`);
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  for (let i = 0; i <= otherAt; i++) await page.keyboard.press("j");
  await page.keyboard.press("x");
  assert.ok(await page.getByLabel(`Tick #${other.reference}`).isChecked());
  assert.ok(!(await page.getByLabel(`Tick #${again.reference}`).isChecked()));

  const bar = page.locator("form#bulk");
  await bar.getByLabel("Priority").selectOption("high");
  await bar.getByLabel("Tag").fill("billing");
  await page.screenshot({ path: join(shots, "bulk-ticked.png"), fullPage: true });
  await bar.getByRole("button", { name: "Apply to ticked" }).click();
  await page.waitForURL(`${base}/inbox?view=all`);
  for (const [c, changed] of [[login, true], [other, true], [again, false]]) {
    const now = (await api("GET", `/api/v1/conversations/${c.id}`)).json;
    assert.equal(now.priority, changed ? "high" : "normal", `#${c.reference}`);
    assert.equal(now.tags.includes("billing"), changed, `#${c.reference}`);
  }

  // Applying with nothing ticked says so instead of doing nothing silently.
  await bar.getByLabel("Priority").selectOption("low");
  await bar.getByRole("button", { name: "Apply to ticked" }).click();
  await page.getByText("Tick at least one conversation first.").waitFor();

  // Merge the duplicate into the first by its number.
  await page.goto(`${base}/conversations/${again.id}`);
  await page.getByText("Merge into another conversation").first().click();
  await page.getByLabel("Conversation number").fill(`#${login.reference}`);
  await page.locator("details.merge").getByRole("button", { name: "Merge into another conversation" }).click();
  await page.waitForURL(`${base}/conversations/${login.id}`);
  await page.getByText("Still cannot log in, and my invoice is wrong").waitFor();
  assert.equal((await api("GET", `/api/v1/conversations/${again.id}`)).json.status, "closed");
  await page.screenshot({ path: join(shots, "merged.png"), fullPage: true });

  // Split the second message off again: a new conversation opens with it.
  await page.locator("li.msg", { hasText: "my invoice is wrong" }).getByRole("button", { name: "Split off into a new conversation" }).click();
  await page.waitForURL((url) => url.pathname.startsWith("/conversations/") && !url.pathname.endsWith(login.id));
  const splitId = new URL(page.url()).pathname.split("/").pop();
  const split = (await api("GET", `/api/v1/conversations/${splitId}/messages`)).json;
  assert.ok(split.some((m) => m.text === "Still cannot log in, and my invoice is wrong"), JSON.stringify(split));
  const left = (await api("GET", `/api/v1/conversations/${login.id}/messages`)).json;
  assert.ok(!left.some((m) => m.kind === "inbound" && m.text.includes("invoice is wrong")));

  // Keys on a conversation: a takes it, n opens the reply box as an internal note.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("a");
  await page.waitForLoadState("load");
  await page.waitForFunction(() => document.querySelector(".conv-head")?.innerText.includes("Sofia"));
  assert.equal((await api("GET", `/api/v1/conversations/${splitId}`)).json.owner_id !== null, true);
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  await page.keyboard.press("n");
  assert.ok(await page.getByLabel("Internal note").isChecked());
  await page.keyboard.type("Checked the invoice with billing");
  await page.keyboard.press("Control+Enter");
  await page.locator("li.msg-note", { hasText: "Checked the invoice with billing" }).waitFor();
  await page.screenshot({ path: join(shots, "keys-note.png"), fullPage: true });
  const notes = (await api("GET", `/api/v1/conversations/${splitId}/messages`)).json.filter((m) => m.kind === "note");
  assert.equal(notes.length, 1);
});

test("an admin sets up a calendar, an SLA policy and a custom field from the service page", async () => {
  seva.cli(["user", "add", "ada@example.com", "--name", "Ada", "--role", "admin", "--password-stdin"], password);
  const adminApi = apiAs(base, seva.cli(["token", "create", "--user", "ada@example.com"]));
  seva.cli(["team", "add", "Billing"]);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1400 } })).newPage();
  await logIn(page, base, "ada@example.com", password);
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("link", { name: "Calendars, SLA policies and custom fields" }).click();
  await page.waitForURL(`${base}/settings/service`);

  // A calendar: Athens, weekdays 09:00–17:00, Christmas off.
  await page.getByText("New calendar").click();
  const calendar = page.locator("form[action='/settings/service/calendars']");
  await calendar.getByLabel("Name").fill("Athens office");
  await calendar.getByLabel("Time zone").fill("Europe/Athens");
  for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]) {
    await calendar.getByLabel(`${day} Opens`).fill("09:00");
    await calendar.getByLabel(`${day} Closes`).fill("17:00");
  }
  // Saturday opens but never closes: refused, naming the day.
  await calendar.getByLabel("Saturday Opens").fill("10:00");
  await calendar.getByLabel("Holidays").fill("2026-12-25");
  await calendar.getByRole("button", { name: "Add calendar" }).click();
  await page.getByText("Give both the opening and the closing time, or neither.").waitFor();
  await page.goBack();
  await page.getByText("New calendar").click().catch(() => {});
  await calendar.getByLabel("Saturday Opens").fill("");
  await calendar.getByRole("button", { name: "Add calendar" }).click();
  await page.waitForURL(`${base}/settings/service?saved=1`);
  await page.locator("#calendars").getByRole("cell", { name: "Athens office" }).waitFor();
  const calendars = (await adminApi("GET", "/api/v1/calendars")).json;
  assert.equal(calendars.length, 1);
  assert.deepEqual(calendars[0].spec.week.friday, [["09:00", "17:00"]]);
  assert.equal(calendars[0].spec.week.saturday, undefined);
  assert.deepEqual(calendars[0].spec.holidays, ["2026-12-25"]);

  // A policy for conversations through the API, counted in that calendar.
  await page.getByText("New SLA policy").click();
  const policy = page.locator("form[action='/settings/service/policies']");
  await policy.getByLabel("Name").fill("API customers");
  await policy.getByLabel("API", { exact: true }).check();
  await policy.getByLabel("Calendar").selectOption({ label: "Athens office" });
  await policy.getByLabel("First response (min)").fill("30");
  await policy.getByLabel("Resolution (min)").fill("480");
  await policy.getByRole("button", { name: "Add policy" }).click();
  await page.waitForURL(`${base}/settings/service?saved=1`);
  await page.locator("#policies").getByRole("cell", { name: "API customers" }).waitFor();
  const policies = (await adminApi("GET", "/api/v1/sla_policies")).json;
  assert.equal(policies.length, 1);
  assert.deepEqual(policies[0].conditions.channels, ["api"]);
  assert.equal(policies[0].calendar_id, calendars[0].id);
  assert.equal(policies[0].first_response_minutes, 30);
  const created = await adminApi("POST", "/api/v1/conversations", { contact: { email: "sla@example.com" }, subject: "Clock", text: "Is the clock running?" });
  const clocks = (await adminApi("GET", `/api/v1/conversations/${created.json.id}/sla`)).json;
  assert.deepEqual(clocks.map((c) => c.metric).sort(), ["first_response", "resolution"]);

  // A custom field for the billing team, a list with two options; then deleted again.
  await page.getByText("New custom field").click();
  const field = page.locator("form[action='/settings/service/fields']");
  await field.getByLabel("Team").selectOption({ label: "Billing" });
  await field.getByLabel("Key").fill("plan");
  await field.getByLabel("Label").fill("Plan");
  await field.getByLabel("Kind").selectOption("select");
  await field.getByLabel("Options").fill("basic, pro");
  await field.getByRole("button", { name: "Add field" }).click();
  await page.waitForURL(`${base}/settings/service?saved=1`);
  await page.locator("#fields").getByRole("cell", { name: "basic, pro" }).waitFor();
  const defs = (await adminApi("GET", "/api/v1/custom_fields")).json;
  assert.equal(defs.length, 1);
  assert.deepEqual(defs[0].options, ["basic", "pro"]);
  await page.screenshot({ path: join(shots, "service-levels.png"), fullPage: true });

  // Agents fill it in on a Billing conversation's page.
  const billing = (await adminApi("GET", "/api/v1/teams")).json.find((t) => t.name === "Billing").id;
  const asked = await adminApi("POST", "/api/v1/conversations", { contact: { email: "plan@example.com" }, subject: "Upgrade", text: "I want more", team_id: billing });
  await page.goto(`${base}/conversations/${asked.json.id}`);
  await page.locator("form.fields").getByLabel("Plan").selectOption("pro");
  await page.locator("form.fields").getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${base}/conversations/${asked.json.id}`);
  assert.equal((await adminApi("GET", `/api/v1/conversations/${asked.json.id}`)).json.custom_fields.plan, "pro");
  assert.equal(await page.locator("form.fields").getByLabel("Plan").inputValue(), "pro");
  await page.goto(`${base}/settings/service`);
  await page.getByRole("button", { name: "Delete plan" }).click();
  await page.waitForURL(`${base}/settings/service?saved=1`);
  assert.equal((await adminApi("GET", "/api/v1/custom_fields")).json.length, 0);

  // Billing's routing: least busy, two chats an agent, the Athens hours.
  const routing = page.locator("form.routing", { has: page.getByRole("heading", { name: "Billing" }) });
  await routing.getByLabel("Strategy").selectOption("least_busy");
  await routing.getByLabel("Chats an agent may hold").fill("2");
  await routing.getByLabel("Working hours").selectOption({ label: "Athens office" });
  await routing.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${base}/settings/service?saved=1`);
  const billingRouting = (await adminApi("GET", `/api/v1/teams/${billing}/routing`)).json;
  assert.equal(billingRouting.strategy, "least_busy");
  assert.deepEqual(billingRouting.channel_capacity, { chat: 2 });
  assert.equal(billingRouting.calendar_id, calendars[0].id);

  // An agent's own routing, in their settings: languages, topics, chat limit.
  await page.goto(`${base}/settings`);
  await page.getByLabel(/Languages I speak/).fill("el, en");
  await page.getByLabel("Topics I handle").fill("refunds");
  await page.getByLabel(/Chats I can hold at once/).fill("3");
  await page.locator("form[action='/me/routing']").getByRole("button", { name: "Save" }).click();
  await page.waitForURL(`${base}/settings?saved=1`);
  const ada = (await adminApi("GET", "/api/v1/me")).json;
  const mine = (await adminApi("GET", `/api/v1/agents/${ada.id}/routing`)).json;
  assert.deepEqual([mine.languages, mine.skills, mine.channel_capacity], [["el", "en"], ["refunds"], { chat: 3 }]);

  // Agents do not reach the page.
  const agentPage = await (await browser.newContext()).newPage();
  await logIn(agentPage, base, "sofia@example.com", password);
  const denied = await agentPage.goto(`${base}/settings/service`);
  assert.equal(denied.status(), 403);
});

test("a supervisor saves a view from the inbox and shares it; only she may delete it", async () => {
  const urgent = await create("vip@example.net", "Πληρωμή απορρίφθηκε", "Η κάρτα μου απορρίφθηκε δύο φορές.");
  assert.equal((await api("POST", `/api/v1/conversations/${urgent.id}/priority`, { priority: "urgent" })).status, 200);
  assert.equal((await api("POST", `/api/v1/conversations/${urgent.id}/tags`, { add: ["vip"] })).status, 200);
  const plain = await create("vip@example.net", "Another question", "Just asking.");
  assert.equal((await api("POST", `/api/v1/conversations/${plain.id}/tags`, { add: ["vip"] })).status, 200);

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  await page.goto(`${base}/inbox`);
  await page.getByRole("link", { name: "+ New view" }).click();
  await page.waitForURL(`${base}/views/new`);
  const form = page.getByRole("form", { name: "New view" });
  // The active statuses come ticked.
  assert.equal(await form.getByLabel("Waiting on customer").isChecked(), true);
  assert.equal(await form.getByLabel("Solved").isChecked(), false);
  await form.getByLabel("Urgent").check();
  await form.getByLabel("With the tag").fill("vip");
  // A name of spaces only is refused, naming the field; what was ticked stays ticked.
  await form.getByLabel("Name", { exact: true }).fill("   ");
  await form.getByRole("button", { name: "Save the view" }).click();
  await page.locator("[role=alert]", { hasText: "name: 1 to 100 characters" }).waitFor();
  assert.equal(await form.getByLabel("Urgent").isChecked(), true);
  assert.equal(await form.getByLabel("With the tag").inputValue(), "vip");

  await form.getByLabel("Name", { exact: true }).fill("Επείγοντα VIP");
  await form.getByLabel("Shared with everyone").check();
  await form.getByRole("button", { name: "Save the view" }).click();
  await page.waitForURL(/\/inbox\?saved=/);
  await page.getByRole("heading", { name: "Επείγοντα VIP" }).waitFor();
  await page.locator(`tr[data-href="/conversations/${urgent.id}"]`).waitFor();
  assert.equal(await page.locator(`tr[data-href="/conversations/${plain.id}"]`).count(), 0);
  assert.equal(await page.locator("nav.views a[aria-current=page]").textContent(), "Επείγοντα VIP");
  await page.screenshot({ path: join(shots, "saved-view.png"), fullPage: true });

  // A colleague finds the shared view and what it lists, but may not delete it.
  const gopal = await (await browser.newContext()).newPage();
  await logIn(gopal, base, "gopal@example.com", password);
  await gopal.goto(`${base}/inbox`);
  await gopal.getByRole("link", { name: "Επείγοντα VIP" }).click();
  await gopal.locator(`tr[data-href="/conversations/${urgent.id}"]`).waitFor();
  assert.equal(await gopal.getByRole("button", { name: "Delete this view" }).count(), 0);
  const viewId = new URL(gopal.url()).searchParams.get("saved");
  const refused = await gopal.evaluate(async (id) => {
    const csrf = document.querySelector("meta[name=csrf-token]").content;
    return (await fetch(`/views/${id}/delete`, { method: "POST", body: new URLSearchParams({ csrf }) })).status;
  }, viewId);
  assert.equal(refused, 404);
  // An agent cannot share a view of their own.
  const shared = await gopal.evaluate(async () => {
    const csrf = document.querySelector("meta[name=csrf-token]").content;
    const body = new URLSearchParams({ csrf, name: "Mine for all", shared: "1" });
    return (await fetch("/views", { method: "POST", body })).status;
  });
  assert.equal(shared, 403);

  // Its author deletes it.
  await page.getByRole("button", { name: "Delete this view" }).click();
  await page.waitForURL(`${base}/inbox`);
  assert.equal(await page.getByRole("link", { name: "Επείγοντα VIP" }).count(), 0);
  const left = (await api("GET", "/api/v1/views")).json;
  assert.equal(left.some((v) => v.name === "Επείγοντα VIP" || v.name === "Mine for all"), false);
});

test("an agent orders the inbox, the order holds through live updates, and a saved view keeps its own", async () => {
  const a = await create("order-a@example.com", "Ordre A", "Πρώτο.");
  const b = await create("order-b@example.com", "Ordre B", "Δεύτερο.");
  const c = await create("order-c@example.com", "Ordre C", "Τρίτο.");
  assert.equal((await api("POST", `/api/v1/conversations/${b.id}/priority`, { priority: "urgent" })).status, 200);
  assert.equal((await api("POST", `/api/v1/conversations/${c.id}/priority`, { priority: "low" })).status, 200);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "sofia@example.com", password);
  const places = async (...ids) => {
    const rows = await page.locator("#inbox-list tr[data-href]").evaluateAll((trs) => trs.map((tr) => tr.dataset.href));
    return ids.map((id) => rows.indexOf(`/conversations/${id}`));
  };
  const inOrder = (at) => at.every((p, i) => p >= 0 && (i === 0 || at[i - 1] < p));

  await page.goto(`${base}/inbox?view=open`);
  // Latest activity first, by default: C (changed last), then B, then A.
  assert.equal(await page.getByLabel("Order").inputValue(), "updated");
  assert.ok(inOrder(await places(c.id, b.id, a.id)), String(await places(c.id, b.id, a.id)));
  await page.getByLabel("Order").selectOption("oldest");
  await page.waitForURL(`${base}/inbox?view=open&sort=oldest`);
  assert.ok(inOrder(await places(a.id, b.id, c.id)), String(await places(a.id, b.id, c.id)));
  await page.getByLabel("Order").selectOption("priority");
  await page.waitForURL(`${base}/inbox?view=open&sort=priority`);
  assert.ok(inOrder(await places(b.id, a.id, c.id)), String(await places(b.id, a.id, c.id)));
  // A new urgent conversation arrives live, in its place: before B, the older urgent one.
  const d = await create("order-d@example.com", "Ordre D", "Τέταρτο.");
  assert.equal((await api("POST", `/api/v1/conversations/${d.id}/priority`, { priority: "urgent" })).status, 200);
  await page.locator(`#inbox-list tr[data-href="/conversations/${d.id}"]`).waitFor();
  assert.ok(inOrder(await places(d.id, b.id, a.id, c.id)), String(await places(d.id, b.id, a.id, c.id)));
  assert.equal(await page.getByLabel("Order").inputValue(), "priority");

  // A saved view with its own order.
  await page.getByRole("link", { name: "+ New view" }).click();
  const form = page.getByRole("form", { name: "New view" });
  await form.getByLabel("Name", { exact: true }).fill("Παλαιότερα πρώτα");
  await form.getByLabel("Order").selectOption("oldest");
  await form.getByRole("button", { name: "Save the view" }).click();
  await page.waitForURL(/\/inbox\?saved=/);
  assert.equal(await page.getByLabel("Order").inputValue(), "oldest");
  assert.ok(inOrder(await places(a.id, b.id, c.id, d.id)), String(await places(a.id, b.id, c.id, d.id)));
  await page.screenshot({ path: join(shots, "inbox-sorted.png"), fullPage: true });

  // The same list as a spreadsheet: in its order, with a heading row, in UTF-8 with the
  // byte order mark spreadsheet programs need.
  const href = await page.locator("#export").getAttribute("href");
  assert.match(href, /^\/inbox\/export\.csv\?saved=/);
  const csv = await page.evaluate(async (h) => {
    const r = await fetch(h);
    const bytes = new Uint8Array(await r.clone().arrayBuffer());
    return { type: r.headers.get("content-type"), disposition: r.headers.get("content-disposition"),
             bom: Array.from(bytes.slice(0, 3)), text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes) };
  }, href);
  assert.equal(csv.type, "text/csv; charset=utf-8");
  assert.equal(csv.disposition, 'attachment; filename="seva-view.csv"');
  assert.deepEqual(csv.bom, [0xef, 0xbb, 0xbf]);
  const lines = csv.text.slice(1).trimEnd().split("\r\n");
  assert.equal(lines[0], "#,Subject,Customer,Status,Priority,Owner,Updated,Tags");
  const subjects = lines.slice(1).map((l) => l.split(",")[1]);
  const at = ["Ordre A", "Ordre B", "Ordre C", "Ordre D"].map((s) => subjects.indexOf(s));
  assert.ok(inOrder(at), `${at} in ${subjects}`);
  assert.ok(lines.some((l) => l.startsWith(`${b.reference},Ordre B,order-b@example.com,Open,Urgent,`)), csv.text);
});

test("an agent follows a conversation: it is in Following, and a colleague's note tells her", async () => {
  const c = await create("kiri@example.gr", "Δέμα στο τελωνείο", "Το δέμα μου κόλλησε στο τελωνείο.");
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "gopal@example.com", password);
  await page.goto(`${base}/conversations/${c.id}`);
  await page.getByRole("button", { name: "Follow", exact: true }).click();
  await page.waitForURL(`${base}/conversations/${c.id}`);
  await page.getByRole("button", { name: "Stop following" }).waitFor();
  assert.equal(await page.locator("#followers .follower").textContent(), "Gopal");

  await page.goto(`${base}/inbox?view=following`);
  await page.getByRole("link", { name: "Δέμα στο τελωνείο" }).waitFor();
  await page.waitForTimeout(300); // let the live stream connect
  // Sofia writes a note: Gopal's inbox tells him, without a reload.
  const note = await api("POST", `/api/v1/conversations/${c.id}/messages`, { kind: "note", text: "Πήρα τηλέφωνο στο τελωνείο." });
  assert.equal(note.status, 201, JSON.stringify(note.json));
  await page.locator(".notices li", { hasText: "Sofia: Πήρα τηλέφωνο στο τελωνείο." }).waitFor();
  assert.match(await page.locator(".notices li .notice-kind").first().textContent(), /New in a conversation you follow/);

  // Stopped: the view is empty again.
  await page.goto(`${base}/conversations/${c.id}`);
  await page.getByRole("button", { name: "Stop following" }).click();
  await page.getByRole("button", { name: "Follow", exact: true }).waitFor();
  await page.goto(`${base}/inbox?view=following`);
  await page.getByText("Nothing here").waitFor();
});

test("a colleague gives an agent a conversation: the notice comes live, opening it reads it, and mail is the agent's choice", async () => {
  const c = await create("ravi@example.in", "రీఫండ్ రాలేదు", "నా రీఫండ్ ఇంకా రాలేదు.");
  const gopal = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(gopal, base, "gopal@example.com", password);
  await gopal.waitForTimeout(300); // let the live stream connect
  // Sofia gives it to Gopal from the conversation page.
  const sofia = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(sofia, base, "sofia@example.com", password);
  await sofia.goto(`${base}/conversations/${c.id}`);
  await sofia.getByLabel("Owner").selectOption({ label: "Gopal" });
  await sofia.waitForURL(`${base}/conversations/${c.id}`);
  // Gopal's inbox tells him, without a reload, who gave it.
  const notice = gopal.locator(".notices li", { hasText: `#${c.reference} రీఫండ్ రాలేదు — Sofia` });
  await notice.waitFor();
  assert.equal(await notice.locator(".notice-kind").textContent(), "Assigned to you");
  await gopal.screenshot({ path: join(shots, "notice-assigned.png"), fullPage: true });
  // Opening the conversation reads it: back in the inbox the notice is gone.
  await notice.getByRole("link").click();
  await gopal.waitForURL(`${base}/conversations/${c.id}`);
  await gopal.goto(`${base}/inbox`);
  await gopal.getByRole("link", { name: "రీఫండ్ రాలేదు" }).waitFor();
  assert.equal(await gopal.locator(".notices li", { hasText: "రీఫండ్ రాలేదు" }).count(), 0);

  // Mail of unread notifications is on by default; Gopal turns it off, and the page
  // says that no inbox sends such mail yet.
  await gopal.goto(`${base}/settings`);
  const mail = gopal.getByLabel("Email me the notifications I leave unread for 2 minutes");
  assert.ok(await mail.isChecked());
  await gopal.getByText("No email inbox sends notifications yet").waitFor();
  // What the mail is about: every kind to begin with; he keeps mentions and transfers.
  const kinds = gopal.getByRole("group", { name: "Mail me about" });
  assert.equal(await kinds.getByRole("checkbox", { checked: true }).count(), 6);
  await mail.uncheck();
  await kinds.getByLabel("conversations given to me").uncheck();
  await kinds.getByLabel("activity on conversations I follow").uncheck();
  await kinds.getByLabel(/alerts: nobody took/).uncheck();
  await kinds.getByLabel("flags on my articles").uncheck();
  await gopal.locator("#notify-email").getByRole("button", { name: "Save" }).click();
  await gopal.waitForURL(`${base}/settings?saved=1`);
  assert.ok(!(await gopal.getByLabel("Email me the notifications I leave unread for 2 minutes").isChecked()));
  assert.ok(await gopal.getByLabel("mentions of me").isChecked());
  assert.ok(!(await gopal.getByLabel("conversations given to me").isChecked()));
  const gopalToken = seva.cli(["token", "create", "--user", "gopal@example.com"]);
  const settings = (await apiAs(base, gopalToken)("GET", "/api/v1/me/notifications")).json;
  assert.equal(settings.email, false);
  assert.deepEqual(settings.email_kinds, ["mentions", "transfers"]);
});

test("a reply being written is kept in the browser until it is sent, even through a refused send", async () => {
  const open = await create("draft@example.com", "Πού είναι η παραγγελία;", "Δεν ήρθε ακόμα.");
  const closed = await create("draft@example.com", "Παλιό αίτημα", "Ευχαριστώ.");
  for (const to of ["solved", "closed"]) {
    const r = await api("POST", `/api/v1/conversations/${closed.id}/status`, { status: to });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "gopal@example.com", password);

  // Written, left for the inbox, found again.
  await page.goto(`${base}/conversations/${open.id}`);
  await page.locator("#reply-text").fill("Η παραγγελία σας φεύγει σήμερα.");
  await page.goto(`${base}/inbox`);
  await page.goto(`${base}/conversations/${open.id}`);
  assert.equal(await page.locator("#reply-text").inputValue(), "Η παραγγελία σας φεύγει σήμερα.");
  // Sent: the box is empty, and stays so.
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL(`${base}/conversations/${open.id}`);
  await page.getByText("Η παραγγελία σας φεύγει σήμερα.").first().waitFor();
  assert.equal(await page.locator("#reply-text").inputValue(), "");
  await page.reload();
  assert.equal(await page.locator("#reply-text").inputValue(), "");

  // Refused (the conversation is closed): said on the conversation's own page, above the
  // reply box, which still holds the words; a reload does not post them again.
  await page.goto(`${base}/conversations/${closed.id}`);
  await page.locator("#reply-text").fill("Μπορούμε να βοηθήσουμε ακόμα;");
  await page.getByRole("button", { name: "Send" }).click();
  const refused = page.locator("#reply-refused");
  await refused.waitFor();
  assert.match(await refused.innerText(), /Nothing was added: the conversation is closed/);
  assert.equal(await page.locator("#reply-text").inputValue(), "Μπορούμε να βοηθήσουμε ακόμα;");
  await page.waitForURL(`${base}/conversations/${closed.id}`);
  await page.reload();
  assert.equal(await page.locator("#reply-refused").count(), 0);
  assert.equal(await page.locator("#reply-text").inputValue(), "Μπορούμε να βοηθήσουμε ακόμα;");
  // The same words as an internal note are taken.
  await page.getByLabel("Internal note").check();
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL(`${base}/conversations/${closed.id}`);
  await page.locator(".msg-note").getByText("Μπορούμε να βοηθήσουμε ακόμα;").waitFor();
  assert.equal(await page.locator("#reply-text").inputValue(), "");
  // A refused note stays a note: its choice is kept with the words.
  await page.locator("#reply-text").fill("   ");
  await page.getByLabel("Internal note").check();
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("#reply-refused").waitFor();
  assert.ok(await page.getByLabel("Internal note").isChecked());
  // Logging out forgets drafts.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/login`);
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("seva-draft:")).length), 0);
});

test("an agent renames a conversation from its page", async () => {
  const c = await create("rename@example.com", "help", "Το δέμα μου δεν ήρθε.");
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await logIn(page, base, "gopal@example.com", password);
  await page.goto(`${base}/conversations/${c.id}`);
  const form = page.locator("form.subject");
  await form.getByLabel("Subject").fill("Δέμα 4471 δεν ήρθε");
  await form.getByRole("button", { name: "Rename" }).click();
  await page.waitForURL(`${base}/conversations/${c.id}`);
  await page.locator("h1", { hasText: "Δέμα 4471 δεν ήρθε" }).waitFor();
  await page.locator("details.activity summary").click();
  await page.locator("details.activity li", { hasText: "Gopal: «help» → «Δέμα 4471 δεν ήρθε»" }).waitFor();
  assert.equal((await api("GET", `/api/v1/conversations/${c.id}`)).json.subject, "Δέμα 4471 δεν ήρθε");
});
