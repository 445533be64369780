// Browser test of an agent's own account: they turn two-step verification on with an
// authenticator app's code (computed here as an app would), see their recovery codes
// once, log in with a code after the password, turn it off with a recovery code (or an
// admin does, for a lost phone), log out their other browsers, and change their password
// with the current one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots } from "./seva.mjs";

const password = "a long browser test password";
let seva, base, browser;

before(async () => {
  seva = await startSeva();
  base = seva.base;
  seva.cli(["user", "add", "ravi@example.com", "--name", "Ravi", "--role", "agent", "--password-stdin"], password);
  seva.cli(["user", "add", "asha@example.com", "--name", "Asha", "--role", "admin", "--password-stdin"], password);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
});

// The code an authenticator app shows for a base32 key (RFC 6238: HMAC-SHA1, 30 s steps).
function totp(key, unixSeconds) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of key.replace(/\s/g, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const bytes = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const d = createHmac("sha1", bytes).update(counter).digest();
  const o = d[19] & 15;
  const v = (((d[o] & 0x7f) << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) % 1_000_000;
  return String(v).padStart(6, "0");
}

const now = () => Math.floor(Date.now() / 1000);

test("an agent turns on two-step verification, logs in with a code, and turns it off with a recovery code", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await logIn(page, base, "ravi@example.com", password);
  await page.goto(base + "/settings");
  await page.getByText("Two-step verification is off").waitFor();
  await page.getByRole("link", { name: "Two-step verification" }).click();
  await page.getByRole("button", { name: "Set it up" }).click();
  await page.locator("figure.qr svg").waitFor();
  const key = (await page.locator("#two-step-key").textContent()).trim();
  assert.match(key, /^[A-Z2-7]{4}( [A-Z2-7]{4}){7}$/);

  // A wrong code first: refused, with the key still there.
  const right = totp(key, now());
  await page.getByLabel("Code").fill(right === "000000" ? "000001" : "000000");
  await page.getByRole("button", { name: "Turn on" }).click();
  await page.getByRole("alert").getByText("That code is not right").waitFor();
  await page.getByLabel("Code").fill(right);
  await page.getByRole("button", { name: "Turn on" }).click();
  const codes = await page.locator("#recovery-codes li").allTextContents();
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c.trim(), /^[a-z2-9]{4}-[a-z2-9]{4}$/);
  await page.screenshot({ path: join(shots, "two-step.png"), fullPage: true });
  await page.getByRole("link", { name: "Done: back to the settings" }).click();
  await page.getByText("Two-step verification is on").waitFor();

  // Another browser: the password leads to the code, the code to the inbox.
  const context = await browser.newContext();
  const other = await context.newPage();
  await other.goto(base + "/login");
  await other.getByLabel("Email").fill("ravi@example.com");
  await other.getByLabel("Password").fill(password);
  await other.getByRole("button", { name: "Log in" }).click();
  await other.waitForURL(base + "/login/code");
  await other.goto(base + "/inbox");
  await other.waitForURL(/\/login$/);
  await other.goto(base + "/login/code");
  await other.getByLabel("Code").fill(totp(key, now() + 30));
  await other.getByRole("button", { name: "Log in" }).click();
  await other.waitForURL(base + "/inbox");

  // Turned off with a recovery code, typed as a person might.
  await other.goto(base + "/me/two-step");
  await other.getByText("10 recovery codes left.").waitFor();
  const off = other.getByRole("form", { name: "Turn off two-step verification" });
  await off.getByLabel("A code from your app, or a recovery code").fill(codes[3].trim().toUpperCase());
  await off.getByRole("button", { name: "Turn off two-step verification" }).click();
  await other.waitForURL(base + "/settings?saved=1");
  await other.getByText("Two-step verification is off").waitFor();
  await context.close();

  // The password alone logs in again.
  const third = await browser.newPage();
  await logIn(third, base, "ravi@example.com", password);
  await third.close();
  await page.close();
});

test("an agent sees where they are logged in and logs out everywhere else", async () => {
  const elsewhere = await browser.newContext();
  const other = await elsewhere.newPage();
  await logIn(other, base, "ravi@example.com", password);
  const page = await browser.newPage();
  await logIn(page, base, "ravi@example.com", password);
  await page.goto(base + "/settings");
  const sessions = page.locator("#sessions li");
  assert.ok((await sessions.count()) >= 2);
  assert.equal(await page.locator("#sessions li", { hasText: "this browser" }).count(), 1);
  assert.match(await sessions.first().textContent(), /Chrome · Linux · 127\.0\.0\.1/);
  await page.getByRole("button", { name: "Log out everywhere else" }).click();
  await page.waitForURL(/\/settings\?saved=1/);
  assert.equal(await sessions.count(), 1);
  await other.goto(base + "/inbox");
  await other.waitForURL(/\/login$/);
  await elsewhere.close();
  await page.close();
});

test("an agent changes their password with the current one", async () => {
  const page = await browser.newPage();
  await logIn(page, base, "ravi@example.com", password);
  await page.goto(base + "/settings");
  await page.getByRole("link", { name: "Change your password" }).click();
  await page.getByLabel("Current password").fill("not my password");
  await page.getByLabel("New password").fill("a newer long password");
  await page.getByLabel("The same again").fill("a newer long password");
  await page.getByRole("button", { name: "Save password" }).click();
  await page.getByRole("alert").getByText("That is not your current password.").waitFor();
  await page.getByLabel("Current password").fill(password);
  await page.getByLabel("New password").fill("a newer long password");
  await page.getByLabel("The same again").fill("a newer long password");
  await page.getByRole("button", { name: "Save password" }).click();
  await page.waitForURL(base + "/settings?saved=1");
  await page.close();
  const again = await browser.newPage();
  await logIn(again, base, "ravi@example.com", "a newer long password");
  await again.close();
});

test("an admin turns two-step verification off for an agent who lost their phone", async () => {
  const page = await browser.newPage();
  await logIn(page, base, "ravi@example.com", "a newer long password");
  await page.goto(base + "/me/two-step");
  await page.getByRole("button", { name: "Set it up" }).click();
  const key = (await page.locator("#two-step-key").textContent()).trim();
  await page.getByLabel("Code").fill(totp(key, now()));
  await page.getByRole("button", { name: "Turn on" }).click();
  await page.locator("#recovery-codes").waitFor();
  await page.close();

  const admin = await browser.newPage();
  await logIn(admin, base, "asha@example.com", password);
  await admin.goto(base + "/settings/people");
  const row = admin.locator("#agents tr", { hasText: "ravi@example.com" });
  assert.match(await row.textContent(), /two-step on/);
  await admin.getByRole("button", { name: "Turn off two-step verification for Ravi" }).click();
  await admin.waitForURL(base + "/settings/people");
  assert.doesNotMatch(await admin.locator("#agents tr", { hasText: "ravi@example.com" }).textContent(), /two-step on/);
  assert.equal(await admin.getByRole("button", { name: "Turn off two-step verification for Asha" }).count(), 0);
  await admin.close();

  const ravi = await browser.newPage();
  await logIn(ravi, base, "ravi@example.com", "a newer long password");
  await ravi.close();
});
