// What the browser tests share: start a real `seva serve` on free ports with a
// temporary data folder, run its command line on the same data, and launch Debian's
// chromium the way this machine allows (no background networking).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const repo = resolve(import.meta.dirname, "../..");
const bin = process.env.SEVA_BIN || join(process.env.CARGO_TARGET_DIR || join(repo, "target"), "debug/seva");
export const shots = join(repo, "target/screenshots");

// Starts Seva; `smtp` asks for the SMTP listener on a free port.
export async function startSeva({ smtp = false } = {}) {
  mkdirSync(shots, { recursive: true });
  const data = mkdtempSync(join(tmpdir(), "seva-browser-"));
  const args = ["serve", "--listen", "127.0.0.1:0", "--smtp-listen", smtp ? "127.0.0.1:0" : "off", "--data", data, "--log", "warn"];
  const server = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  let smtpPort;
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("seva serve did not start in 60 s")), 60000);
    createInterface({ input: server.stdout }).on("line", (line) => {
      if (line.startsWith("smtp listening on ")) smtpPort = Number(line.split(":").pop());
      if (line.startsWith("listening on ")) {
        clearTimeout(timer);
        ok("http://" + line.slice(13));
      }
    });
    server.on("exit", (code) => fail(new Error(`seva serve exited with ${code}`)));
  });
  return {
    base,
    smtpPort,
    cli: (cliArgs, input) => execFileSync(bin, [...cliArgs, "--data", data, "--log", "error"], { input, encoding: "utf8" }).trim(),
    stop() {
      server.kill("SIGKILL");
      rmSync(data, { recursive: true, force: true });
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Logs in through the login page and waits for the inbox.
export async function logIn(page, base, email, password) {
  await page.goto(base + "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(base + "/inbox");
}

// Calls the API with a token: `const api = apiAs(base, token); await api("GET", "/api/v1/teams")`.
export function apiAs(base, token) {
  return async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body && JSON.stringify(body),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
}
