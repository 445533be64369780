// Browser test of the email channel as an admin and an agent use it (and of the
// "New conversation" form, where an agent writes a call down or writes to a customer first): the admin sets up an
// email inbox in the settings pages; a mail with quoted history, a Cc and a file arrives
// over SMTP; the agent reads it (history folded, file and original at hand) and answers
// from the conversation page; the answer leaves through a local relay with the headers
// that make every mail client thread it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { startSeva, launchBrowser, logIn, shots, apiAs } from "./seva.mjs";

const admin = "asha@example.com";
const password = "a long browser test password";
let seva, base, smtpPort, browser, relay, relayPort, token;
const relayed = [];

// A local relay: enough ESMTP for Seva's client; keeps each message's data.
function startRelay() {
  return new Promise((ok) => {
    relay = createServer((socket) => {
      socket.write("220 relay.test ESMTP\r\n");
      let buffer = "";
      let inData = false;
      let message = "";
      socket.on("data", (chunk) => {
        buffer += chunk.toString("latin1");
        let at;
        while ((at = buffer.indexOf("\r\n")) >= 0) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          if (inData) {
            if (line === ".") {
              inData = false;
              relayed.push(Buffer.from(message, "latin1").toString("utf8"));
              message = "";
              socket.write("250 2.0.0 queued\r\n");
            } else {
              message += (line.startsWith("..") ? line.slice(1) : line) + "\r\n";
            }
          } else if (/^EHLO/i.test(line)) {
            socket.write("250-relay.test\r\n250 AUTH PLAIN\r\n");
          } else if (/^AUTH/i.test(line)) {
            socket.write("235 2.7.0 ok\r\n");
          } else if (/^DATA/i.test(line)) {
            inData = true;
            socket.write("354 go on\r\n");
          } else if (/^QUIT/i.test(line)) {
            socket.end("221 bye\r\n");
          } else {
            socket.write("250 ok\r\n");
          }
        }
      });
    });
    relay.listen(0, "127.0.0.1", () => ok(relay.address().port));
  });
}

// Sends one message to Seva's SMTP listener; resolves with the final answer line.
function smtpSend(to, raw) {
  return new Promise((ok, fail) => {
    const socket = connect(smtpPort, "127.0.0.1");
    const steps = ["EHLO browser.test", "MAIL FROM:<nikos@example.gr>", `RCPT TO:<${to}>`, "DATA"];
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      let at;
      while ((at = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        if (/^\d{3}-/.test(line)) continue;
        if (line.startsWith("354")) {
          socket.write(raw.replace(/\n\./g, "\n..") + "\r\n.\r\n");
        } else if (steps.length) {
          socket.write(steps.shift() + "\r\n");
        } else {
          socket.end("QUIT\r\n");
          ok(line);
        }
      }
    });
    socket.on("error", fail);
  });
}

before(async () => {
  relayPort = await startRelay();
  seva = await startSeva({ smtp: true });
  ({ base, smtpPort } = seva);
  seva.cli(["user", "add", admin, "--name", "Asha", "--role", "admin", "--password-stdin"], password);
  seva.cli(["user", "add", "lakshmi@example.com", "--name", "Lakshmi", "--role", "agent", "--password-stdin"], password);
  token = seva.cli(["token", "create", "--user", admin]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  seva?.stop();
  relay?.close();
});

// The decoded text/plain part of a raw message (base64 or quoted-printable).
function plainText(raw) {
  for (const part of raw.split(/\r\n--[^\r\n]+\r\n/)) {
    const [head, ...rest] = part.split("\r\n\r\n");
    if (!/Content-Type: text\/plain/i.test(head)) continue;
    const body = rest.join("\r\n\r\n");
    if (/Content-Transfer-Encoding: base64/i.test(head)) return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    if (/Content-Transfer-Encoding: quoted-printable/i.test(head)) {
      const bytes = body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, "latin1").toString("utf8");
    }
    return body;
  }
  return "";
}

async function waitFor(what, check) {
  const until = Date.now() + 15000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("an admin sets up an email inbox; an agent reads a mail and answers it in thread", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await logIn(page, base, admin, password);

  // The admin creates the inbox in the settings pages.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("link", { name: "New inbox" }).click();
  await page.getByLabel("Name", { exact: true }).fill("support");
  await page.getByLabel("Email address", { exact: true }).fill("support@seva.test");
  await page.getByLabel("Name on our mail").fill("Seva Υποστήριξη");
  await page.locator("input[name=relay_host]").fill("127.0.0.1");
  await page.locator("input[name=relay_port]").fill(String(relayPort));
  await page.locator("select[name=relay_security]").selectOption("none");
  await page.locator("input[name=relay_username]").fill("seva");
  await page.locator("input[name=relay_password]").fill("relay secret");
  await page.getByLabel("Also mail agents, from this inbox, the notifications they leave unread").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/settings\/inboxes\/[0-9a-f-]+\?saved=1$/);
  assert.ok(await page.getByLabel("Also mail agents, from this inbox, the notifications they leave unread").isChecked());
  assert.equal(await page.locator("input[name=relay_password]").inputValue(), "", "a stored password is never shown");
  assert.match(await page.locator("input[name=relay_password]").getAttribute("placeholder"), /stored/);
  await page.screenshot({ path: join(shots, "inbox-settings.png"), fullPage: true });

  // A web form whose answers go out by email from that inbox.
  await page.goto(base + "/settings/inboxes/new");
  await page.getByLabel("Name", { exact: true }).fill("forms");
  await page.getByLabel("Channel").selectOption("web_form");
  await page.getByLabel("Answer by email from").selectOption("support");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/settings\/inboxes\/[0-9a-f-]+\?saved=1$/);
  assert.equal(await page.getByLabel("Answer by email from").inputValue(), "support");

  // The agent's signature, for mail; notifications can now go by mail too.
  await page.goto(base + "/settings");
  assert.ok(await page.getByLabel("Email me the notifications I leave unread for 2 minutes").isChecked());
  assert.equal(await page.getByText("No email inbox sends notifications yet").count(), 0);
  await page.getByLabel("Email signature").fill("Asha\nSeva Υποστήριξη");
  await page.locator("form[action='/me/signature']").getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();

  // A customer writes, quoting an earlier mail, with a colleague in Cc and a file.
  const answer = await smtpSend(
    "support@seva.test",
    [
      "From: =?UTF-8?B?zp3Or866zr/Pgg==?= <nikos@example.gr>",
      "To: support@seva.test",
      "Cc: Eleni <eleni@example.gr>",
      "Subject: =?UTF-8?Q?=CE=A0=CE=B1=CF=81=CE=B1=CE=B3=CE=B3=CE=B5=CE=BB=CE=AF=CE=B1?= 77",
      "Message-ID: <order77@example.gr>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "Η παραγγελία 77 δεν έφτασε ακόμα.",
      "",
      "Στις Δευ, 2 Νοε 2026 στις 10:00, ο χρήστης Shop <shop@example.gr> έγραψε:",
      "> Η παραγγελία σας στάλθηκε.",
      "--b",
      "Content-Type: application/pdf",
      'Content-Disposition: attachment; filename="apodeixi.pdf"',
      "Content-Transfer-Encoding: base64",
      "",
      "JVBERi0xLjQK",
      "--b--",
    ].join("\r\n"),
  );
  assert.match(answer, /^250 2\.0\.0 stored as #\d+/);

  await page.goto(base + "/inbox?view=open");
  const row = page.locator("tr", { hasText: "Παραγγελία 77" });
  await row.getByRole("link").click();
  await page.getByText("Η παραγγελία 77 δεν έφτασε ακόμα.").waitFor();
  // The colleague in Cc is in copy of the conversation.
  await page.getByRole("region", { name: "In copy" }).getByText("eleni@example.gr").waitFor();
  const quoted = page.getByText("Η παραγγελία σας στάλθηκε.");
  assert.equal(await quoted.isVisible(), false, "the quoted history starts folded");
  await page.getByText("Show quoted text").click();
  await quoted.waitFor({ state: "visible" });
  assert.ok(await page.getByRole("link", { name: "apodeixi.pdf" }).isVisible());
  const original = await page.getByRole("link", { name: "Original message" }).getAttribute("href");
  const eml = await page.request.get(base + original);
  assert.equal(eml.status(), 200);
  assert.match(await eml.text(), /Message-ID: <order77@example.gr>/);
  await page.screenshot({ path: join(shots, "email-conversation.png"), fullPage: true });

  // The agent answers from the page; the mail threads under the customer's.
  await page.getByLabel("Your answer").fill("Τη στέλνουμε ξανά σήμερα.");
  await page.locator("form.reply input[type=file]").setInputFiles({
    name: "tracking.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("GR-77-TRACK"),
  });
  await page.getByRole("button", { name: "Send" }).click();
  await waitFor("the answer at the relay", () => relayed.length >= 1);
  const mail = relayed[0];
  assert.match(mail, /^In-Reply-To: <order77@example\.gr>\r$/m);
  assert.match(mail, /^References: <order77@example\.gr>\r$/m);
  assert.match(mail, /^Subject: .*\[#\d+\]/m);
  assert.match(mail, /^To: .*nikos@example\.gr/m);
  assert.match(mail, /^Cc: .*eleni@example\.gr/m);
  assert.match(mail, /^Reply-To: .*support\+\d+-[0-9a-f]{10}@seva\.test/m);
  const text = plainText(mail);
  assert.match(text, /Τη στέλνουμε ξανά σήμερα\./);
  assert.match(text, /-- \r?\nAsha\r?\nSeva Υποστήριξη/, "the signature is in the mail");
  assert.match(mail, /filename="tracking\.txt"/, "the file is attached");
  await page.locator(".delivery-sent").waitFor({ timeout: 10000 });
  await page.close();
});

test("an agent writes a call down and writes to a customer first, from New conversation", async () => {
  const api = apiAs(base, token);
  const inbox = await api("POST", "/api/v1/inboxes", {
    name: "sales", channel: "email", address: "sales@seva.test",
    settings: { relay: { host: "127.0.0.1", port: relayPort, security: "none", username: "seva" }, auto_acknowledge: false },
    secrets: { relay_password: "relay secret" },
  });
  assert.equal(inbox.status, 201, JSON.stringify(inbox.json));
  const count = async () => (await api("GET", "/api/v1/conversations?limit=200")).json.data.length;
  const before = await count();
  const mailed = relayed.length;

  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await logIn(page, base, "lakshmi@example.com", password);
  await page.locator("header").getByRole("link", { name: "New conversation" }).click();
  await page.waitForURL(base + "/conversations/new");
  const form = page.getByRole("form", { name: "New conversation" });
  const lakshmi = (await api("GET", "/api/v1/agents")).json.find((a) => a.email === "lakshmi@example.com").id;
  assert.equal(await form.getByLabel("Owner").inputValue(), lakshmi, "the agent owns what they start");

  // Writing first: an unreadable address, then no inbox to write from; each refused by
  // name, with what was typed kept, and nothing written.
  await form.getByLabel("I write to the customer first, by email").check();
  await form.getByLabel("Customer's email address or phone number").fill("maria at example");
  await form.getByLabel("Subject").fill("Ang inyong order");
  await form.getByLabel("Message").fill("Magandang araw po, Maria! Darating ang inyong order bukas.");
  await form.getByRole("button", { name: "Open the conversation" }).click();
  await page.locator("[role=alert]", { hasText: "contact:" }).waitFor();
  assert.equal(await form.getByLabel("Message").inputValue(), "Magandang araw po, Maria! Darating ang inyong order bukas.");
  await form.getByLabel("Customer's email address or phone number").fill("Maria@Example.ph");
  await form.getByLabel("Customer's name (for a new contact)").fill("Maria Santos");
  await form.getByRole("button", { name: "Open the conversation" }).click();
  await page.locator("[role=alert]", { hasText: "inbox_id: writing first needs an email inbox" }).waitFor();
  assert.ok(await form.getByLabel("I write to the customer first, by email").isChecked());
  assert.equal(await count(), before);

  await form.getByLabel("Answer by email from").selectOption("sales");
  await form.getByLabel("Put in copy").fill("Ana@Example.ph");
  await page.screenshot({ path: join(shots, "conversation-new.png"), fullPage: true });
  await form.getByRole("button", { name: "Open the conversation" }).click();
  await page.waitForURL(/\/conversations\/[0-9a-f-]+$/);
  const letter = page.url().split("/").pop();
  await page.getByText("Darating ang inyong order bukas.").waitFor();
  await waitFor("the letter at the relay", () => relayed.length > mailed);
  const mail = relayed[mailed];
  assert.match(mail, /^To: .*maria@example\.ph/m);
  assert.match(mail, /^From: .*sales@seva\.test/m);
  assert.match(mail, /^Reply-To: .*sales\+\d+-[0-9a-f]{10}@seva\.test/m);
  assert.match(mail, /^Cc: .*ana@example\.ph/m, "in copy from the start");
  assert.match(plainText(mail), /Magandang araw po, Maria!/);
  await page.locator(".delivery-sent").waitFor({ timeout: 10000 });
  const c = (await api("GET", `/api/v1/conversations/${letter}`)).json;
  assert.equal(c.channel, "email");
  assert.equal(c.contact_name, "Maria Santos");
  assert.equal(c.owner_id, lakshmi, "the writer owns it");

  // Her colleague Juan is put in copy: the next reply goes to him too; taken out, it does not.
  const inCopy = page.getByRole("region", { name: "In copy" });
  await inCopy.getByLabel("Put in copy").fill("juan.example.ph");
  await inCopy.getByRole("button", { name: "Add" }).click();
  await page.getByText("an email address needs an @").waitFor();
  await page.goto(`${base}/conversations/${letter}`);
  await inCopy.getByLabel("Put in copy").fill("Juan@Example.ph");
  await inCopy.getByRole("button", { name: "Add" }).click();
  await inCopy.getByText("juan@example.ph").waitFor();
  // The reply box says where the reply goes.
  assert.equal(await page.locator("#mailed-to").textContent(), "A reply is mailed to maria@example.ph. In copy: ana@example.ph, juan@example.ph");
  await page.getByLabel("Your answer").fill("Kasama na si Juan.");
  await page.getByRole("button", { name: "Send" }).click();
  await waitFor("the reply at the relay", () => relayed.length > mailed + 1);
  assert.match(relayed[mailed + 1], /^Cc: .*juan@example\.ph/m);
  await inCopy.getByRole("button", { name: "Take juan@example.ph out of copy" }).click();
  await page.locator("#mailed-to", { hasText: "In copy: ana@example.ph" }).waitFor();
  assert.equal(await inCopy.getByText("juan@example.ph").count(), 0);
  const mailedBefore = relayed.length;

  // From Maria's page, the form starts with her address.
  await page.goto(`${base}/contacts/${c.contact_id}`);
  await page.locator("main a.new-conversation").click();
  assert.equal(await form.getByLabel("Customer's email address or phone number").inputValue(), "maria@example.ph");

  // A call written down and settled on the phone: no mail, solved, and its page offers a
  // note rather than a message that could not reach anyone. The c key opens the form.
  await page.goto(base + "/inbox");
  await page.keyboard.press("c");
  await page.waitForURL(base + "/conversations/new");
  await form.getByLabel("Customer's email address or phone number").fill("+63 917 555 0101");
  await form.getByLabel("Customer's name (for a new contact)").fill("Jose Rizal");
  await form.getByLabel("Subject").fill("Tanong sa resibo");
  await form.getByLabel("Message").fill("Tumawag si Jose: gusto niya ng kopya ng resibo. Ipinadala na.");
  await form.getByLabel("Status").selectOption("solved");
  // Sent twice in a row (a double click), the form goes once: the page holds the second.
  const sent = await page.evaluate(() => {
    const f = document.querySelector("form[action='/conversations']");
    let n = 0;
    const count = (e) => {
      if (!e.defaultPrevented) n += 1;
      e.preventDefault();
    };
    window.addEventListener("submit", count);
    f.requestSubmit();
    f.requestSubmit();
    window.removeEventListener("submit", count);
    delete f.dataset.sending;
    return n;
  });
  assert.equal(sent, 1, "the form is sent once");
  await form.getByRole("button", { name: "Open the conversation" }).click();
  await page.waitForURL(/\/conversations\/[0-9a-f-]+$/);
  const call = (await api("GET", `/api/v1/conversations/${page.url().split("/").pop()}`)).json;
  assert.deepEqual([call.channel, call.status, call.owner_id, call.contact_name], ["voice", "solved", lakshmi, "Jose Rizal"]);
  await page.locator("#voice-hint", { hasText: "they have no email address" }).waitFor();
  assert.ok(await page.getByLabel("Internal note").isChecked());
  assert.equal(relayed.length, mailedBefore, "a call mails nothing");
  assert.equal(await count(), before + 2);
  // A reply cannot reach Jose while he has no email address: refused, nothing written.
  await page.getByLabel("Reply to the customer").check();
  await page.locator("#reply-text").fill("Ipinadala namin ang kopya.");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("#reply-refused", { hasText: "a phone conversation's reply is mailed, and the customer has no email address" }).waitFor();
  assert.ok(await page.getByLabel("Reply to the customer").isChecked());
  assert.equal(await page.locator("#reply-text").inputValue(), "Ipinadala namin ang kopya.");
  const callId = call.id;
  assert.equal((await api("GET", `/api/v1/conversations/${callId}/messages`)).json.length, 1);
  // With his address on his page, the reply is mailed and the conversation goes on by email.
  const added = await api("POST", `/api/v1/contacts/${call.contact_id}/identities`, { kind: "email", value: "jose@example.ph" });
  assert.equal(added.status, 200, JSON.stringify(added.json));
  await page.goto(`${base}/conversations/${callId}`);
  await page.locator("#voice-mailed", { hasText: "a reply is mailed to jose@example.ph" }).waitFor();
  await page.getByLabel("Reply to the customer").check();
  await page.locator("#reply-text").fill("Ipinadala namin ang kopya ng resibo.");
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForURL(`${base}/conversations/${callId}`);
  await waitFor("the phone conversation's reply at the relay", () => relayed.length > mailedBefore);
  const toJose = relayed[relayed.length - 1];
  assert.match(toJose, /^To: .*jose@example\.ph/m);
  assert.match(plainText(toJose), /Ipinadala namin ang kopya ng resibo\./);
  const moved = (await api("GET", `/api/v1/conversations/${callId}`)).json;
  assert.equal(moved.channel, "email");
  await page.locator("#mailed-to", { hasText: "jose@example.ph" }).waitFor();
  await page.close();
});

test("an agent who forgot her password asks for a link, and chooses a new one from the mail", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(base + "/login");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await page.waitForURL(base + "/login/forgot");
  const before = relayed.length;
  await page.getByLabel("Email").fill("lakshmi@example.com");
  await page.getByRole("button", { name: "Mail me a link" }).click();
  await page.getByRole("status").filter({ hasText: "If lakshmi@example.com is an agent’s address, a link is on its way." }).waitFor();
  await waitFor("the link at the relay", () => relayed.length > before);
  const mail = relayed[relayed.length - 1];
  assert.match(mail, /^To: .*lakshmi@example\.com/m);
  assert.match(mail, /^Auto-Submitted: auto-generated/m);
  const link = plainText(mail).match(/https?:\/\/\S+\/login\/reset\?token=[0-9a-f]{64}/)[0];
  await page.goto(link);
  await page.getByLabel("New password").fill("lakshmi's new password");
  await page.getByLabel("The same again").fill("lakshmi's new password");
  await page.screenshot({ path: join(shots, "password-reset.png"), fullPage: true });
  await page.getByRole("button", { name: "Save password" }).click();
  await page.waitForURL(base + "/login?reset=1");
  await page.getByText("Your new password is set: log in with it.").waitFor();
  await logIn(page, base, "lakshmi@example.com", "lakshmi's new password");
  // The link worked once.
  await page.goto(link);
  await page.getByRole("alert").filter({ hasText: "This link is used or expired." }).waitFor();
  await page.close();
});
