//! `seva bench --load-tools`: the yardstick and the creates again, driven by two common
//! load generators instead of the bench's own client: `hey` (Go) and `wrk` (C, with a Lua
//! script). The share (10,000 creates where a trivial handler served 57,000
//! requests/s) does not say which tool served the trivial handler, and the tool's own cost
//! decides that figure: on two cores the tool takes what the handler leaves. A create waits
//! for its commit and sync, so its rate depends far less on the tool.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// One tool's run: requests per second, and how many requests it sent.
struct Run {
    rate: f64,
    requests: u64,
}

/// Measures the trivial handler at `bare` and the creates at `server` with each tool, and
/// prints one row per tool. Returns the conversations the tools created. What the tools
/// send is written into `dir`.
pub(crate) async fn shares(
    bare: &str,
    server: &str,
    token: &str,
    concurrency: usize,
    seconds: u64,
    dir: &Path,
) -> Result<u64> {
    prepare(dir)?;
    let mut created = 0;
    for tool in ["hey", "wrk"] {
        let (b, c) = match tool {
            "hey" => (
                hey(&format!("http://{bare}/"), None, concurrency, seconds).await?,
                hey(
                    &format!("http://{server}/api/v1/conversations"),
                    Some((token, &dir.join("create.json"))),
                    concurrency,
                    seconds,
                )
                .await?,
            ),
            _ => (
                wrk(&format!("http://{bare}/"), None, concurrency, seconds).await?,
                wrk(
                    &format!("http://{server}/"),
                    Some((token, &dir.join("creates.lua"))),
                    concurrency,
                    seconds,
                )
                .await?,
            ),
        };
        created += c.requests;
        println!(
            "| with `{tool}` ({concurrency} connections, {seconds} s each): trivial axum handler, creates | {:.0}/s, {:.0}/s; creates are {:.1}% of it |",
            b.rate,
            c.rate,
            100.0 * c.rate / b.rate
        );
    }
    Ok(created)
}

/// Writes what the tools send: hey's one body (it sends the same body every time, so one
/// known customer), and wrk's script, which cycles through the bench's own 5,000 customers
/// and four languages.
fn prepare(dir: &Path) -> Result<()> {
    std::fs::write(
        dir.join("create.json"),
        crate::bench::conversation_body(0, None),
    )?;
    let bodies: Vec<String> = crate::bench::TEXTS
        .iter()
        .map(|(subject, text)| {
            // Lua's long brackets take the JSON as it is; `string.format` puts the
            // customer's number where `%d` is.
            let body = serde_json::json!({
                "contact": {"email": "customer%d@example.com", "name": "Customer %d"},
                "subject": subject.replace('%', "%%"),
                "text": text.replace('%', "%%"),
            });
            format!("[==[{body}]==]")
        })
        .collect();
    let script = format!(
        "local bodies = {{{}}}\n\
         local n = 0\n\
         function setup(thread) thread:set(\"offset\", math.random(0, 1000000)) end\n\
         function request()\n\
         \x20 n = n + 1\n\
         \x20 local k = n + (offset or 0)\n\
         \x20 local body = string.format(bodies[(k % #bodies) + 1], k % 5000, k % 5000)\n\
         \x20 return wrk.format(\"POST\", \"/api/v1/conversations\", {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer \" .. os.getenv(\"SEVA_BENCH_TOKEN\")}}, body)\n\
         end\n",
        bodies.join(", ")
    );
    std::fs::write(dir.join("creates.lua"), script)?;
    Ok(())
}

async fn output(mut cmd: tokio::process::Command, tool: &str, seconds: u64) -> Result<String> {
    let out = tokio::time::timeout(Duration::from_secs(seconds + 60), cmd.output())
        .await
        .with_context(|| format!("{tool} did not finish"))?
        .with_context(|| {
            format!(
                "cannot run {tool}: install it (apt-get install hey wrk) or leave out --load-tools"
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{tool} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(text)
}

/// The number after `label` on the line that holds it.
fn number_after(text: &str, label: &str, tool: &str) -> Result<f64> {
    text.lines()
        .find_map(|l| l.split_once(label))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{tool} printed no {label:?}: {text}"))
}

async fn hey(
    url: &str,
    post: Option<(&str, &Path)>,
    concurrency: usize,
    seconds: u64,
) -> Result<Run> {
    let mut cmd = tokio::process::Command::new("hey");
    cmd.arg("-z")
        .arg(format!("{seconds}s"))
        .arg("-c")
        .arg(concurrency.to_string());
    let expected = if let Some((token, body)) = post {
        cmd.args(["-m", "POST", "-T", "application/json", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg("-D")
            .arg(body);
        "[201]"
    } else {
        "[200]"
    };
    cmd.arg(url);
    let text = output(cmd, "hey", seconds).await?;
    read_hey(&text, expected).with_context(|| format!("hey on {url}"))
}

/// hey's summary: every answer must have the expected status, and none may have failed.
fn read_hey(text: &str, expected: &str) -> Result<Run> {
    let statuses: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Status code distribution"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    if statuses.is_empty()
        || text.contains("Error distribution")
        || statuses.iter().any(|l| !l.contains(expected))
    {
        bail!("answers other than {expected}: {text}");
    }
    let requests = statuses
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Ok(Run {
        rate: number_after(text, "Requests/sec:", "hey")?,
        requests,
    })
}

async fn wrk(
    url: &str,
    post: Option<(&str, &Path)>,
    concurrency: usize,
    seconds: u64,
) -> Result<Run> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.args(["-t", "2", "-c"])
        .arg(concurrency.to_string())
        .arg("-d")
        .arg(format!("{seconds}s"));
    if let Some((token, script)) = post {
        cmd.arg("-s").arg(script).env("SEVA_BENCH_TOKEN", token);
    }
    cmd.arg(url);
    let text = output(cmd, "wrk", seconds).await?;
    read_wrk(&text).with_context(|| format!("wrk on {url}"))
}

/// wrk's summary: no answer outside 2xx and 3xx, no socket error.
fn read_wrk(text: &str) -> Result<Run> {
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("failed requests: {text}");
    }
    let requests = text
        .lines()
        .find_map(|l| l.split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .with_context(|| format!("no request count: {text}"))?;
    Ok(Run {
        rate: number_after(text, "Requests/sec:", "wrk")?,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEY: &str = "\nSummary:\n  Total:\t1.0004 secs\n  Requests/sec:\t39700.1670\n  \n\
        Status code distribution:\n  [200]\t39718 responses\n\n\n";
    const WRK: &str = "Running 1s test @ http://127.0.0.1:36123/\n  2 threads and 4 connections\n\
        \x20 87914 requests in 1.10s, 9.89MB read\nRequests/sec:  79920.66\nTransfer/sec:      8.99MB\n";

    #[test]
    fn reads_the_tools_summaries() {
        let hey = read_hey(HEY, "[200]").unwrap();
        assert_eq!((hey.rate, hey.requests), (39700.167, 39718));
        let wrk = read_wrk(WRK).unwrap();
        assert_eq!((wrk.rate, wrk.requests), (79920.66, 87914));
    }

    #[test]
    fn refuses_runs_with_failed_requests() {
        assert!(read_hey(HEY, "[201]").is_err());
        let errors = HEY.replace(
            "\n\n\n",
            "\n\nError distribution:\n  [3]\tdial tcp: refused\n",
        );
        assert!(read_hey(&errors, "[200]").is_err());
        assert!(read_hey("Requests/sec:\t1.0\n", "[200]").is_err());
        let non_2xx = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 87914\nRequests/sec",
        );
        assert!(read_wrk(&non_2xx).is_err());
    }
}
