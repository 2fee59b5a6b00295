//! Running Latch in production (issue 16, items 2 and 5; docs/protocol.md §19): the Prometheus
//! metrics and where they are served, `/healthz` and `/readyz`, graceful shutdown on SIGTERM,
//! and JSON logs. Storage is involved in the metrics and readiness tests, which run on both
//! databases (`LATCH_TEST_BACKEND=postgres` for PostgreSQL).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use latch_store::{SCHEMA_VERSION, Schema};
use latch_testkit::fapi::*;
use latch_testkit::process::backend::{TestDatabase, postgres_selected};
use latch_testkit::process::*;
use latch_testkit::scene::Person;
use latch_testkit::webauthn::b64u;
use serde_json::Value;

// =============================================================================================
// Reading /metrics
// =============================================================================================

/// One series' sample: its name (with `_bucket`/`_count`/`_sum`), labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape: every sample, parsed twice: by `prometheus-parse` (an independent reader of the
/// text format) and by the strict line grammar below, which also refuses anything that is not
/// a comment, a blank line or `name{label="value",…} number`.
struct Scrape {
    samples: Vec<Sample>,
}

impl Scrape {
    async fn from(url: &str) -> Scrape {
        let response = reqwest::get(url).await.expect("GET /metrics");
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "Prometheus text format: {content_type}");
        let text = response.text().await.unwrap();
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("prometheus-parse reads it");
        assert!(!parsed.samples.is_empty(), "{text}");
        let samples: Vec<Sample> = text.lines().filter_map(|line| strict_line(line).unwrap_or_else(|why| panic!("{why}: {line:?}"))).collect();
        Scrape { samples }
    }

    /// The value of the series `name` with (at least) these labels; 0 when absent.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }

    fn label_values(&self) -> Vec<String> {
        self.samples.iter().flat_map(|s| s.labels.values().cloned()).collect()
    }
}

/// `Ok(None)` for comments and blank lines, the sample otherwise, or why the line is not in
/// the text format.
fn strict_line(line: &str) -> Result<Option<Sample>, String> {
    if line.is_empty() {
        return Ok(None);
    }
    if let Some(comment) = line.strip_prefix("# ") {
        let mut words = comment.splitn(3, ' ');
        return match (words.next(), words.next().map(is_metric_name), words.next()) {
            (Some("HELP"), Some(true), _) => Ok(None),
            (Some("TYPE"), Some(true), Some("counter" | "gauge" | "histogram" | "summary" | "untyped")) => Ok(None),
            _ => Err("a comment that is neither HELP nor TYPE".into()),
        };
    }
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        while !inner.starts_with('}') {
            let (key, after) = inner.split_once("=\"").ok_or("a label without =\"")?;
            if !is_metric_name(key) || key.contains(':') {
                return Err(format!("bad label name {key:?}"));
            }
            let mut value = String::new();
            let mut chars = after.chars();
            loop {
                match chars.next().ok_or("unterminated label value")? {
                    '"' => break,
                    '\\' => value.push(match chars.next().ok_or("dangling escape")? {
                        'n' => '\n',
                        c @ ('\\' | '"') => c,
                        _ => return Err("bad escape".into()),
                    }),
                    c => value.push(c),
                }
            }
            labels.insert(key.to_string(), value);
            inner = chars.as_str();
            if let Some(next) = inner.strip_prefix(',') {
                inner = next;
            } else if !inner.starts_with('}') {
                return Err("labels not separated by ','".into());
            }
        }
        rest = &inner[1..];
    }
    let number = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = match number {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        n => n.parse::<f64>().map_err(|_| format!("bad value {n:?}"))?,
    };
    Ok(Some(Sample { name: name.to_string(), labels, value }))
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn backend_label() -> &'static str {
    if postgres_selected() { "postgres" } else { "sqlite" }
}

// =============================================================================================
// Metrics
// =============================================================================================

/// The counters move with what users do: sign-ups, passkey registrations, sign-ins and
/// refusals (by their Clerk code), rate-limit refusals by limit; the latency histogram names
/// route templates; the store timings name this backend; live sessions are counted; and no
/// label carries a user id, username, credential id or any other id a request made.
#[tokio::test]
async fn metrics_count_ceremonies_refusals_and_requests_without_user_data() {
    let server = LatchProcess::start_with(&["--rate-limit-sign-ups-per-hour", "2"]);
    let metrics = format!("{}/metrics", server.base);
    let before = Scrape::from(&metrics).await;
    assert_eq!(before.value("latch_ceremonies_total", &[("kind", "sign_up")]), 0.0);

    let (mut zelda, passkey, credential_id) = Person::with_passkey(&server, "zelda").await;
    zelda.fapi.sign_out().await.ok();
    let session_id = zelda.fapi.sign_in_ok(&mut zelda.auth).await;
    // A refused sign-up (the name is taken), then one over the hourly budget of two.
    let taken = Fapi::new(&server).sign_up("zelda").await;
    taken.assert_error(422, "form_identifier_exists");
    Fapi::new(&server).sign_up("yannick").await.assert_error(429, "too_many_requests");
    // A refused sign-in: a credential id the server never saw.
    let stranger = Fapi::new(&server);
    let (sign_in_id, options) = stranger.start_sign_in().await;
    let assertion = zelda
        .auth
        .forge(&options, |f| {
            f.assertion.id = vec![0x42; 16];
            f.assertion.raw_id = vec![0x42; 16];
        })
        .await;
    let refused = stranger.attempt_sign_in(&sign_in_id, &assertion.json()).await;
    refused.assert_error_shape();

    let after = Scrape::from(&metrics).await;
    let ceremonies = |kind: &str, outcome: &str| after.value("latch_ceremonies_total", &[("kind", kind), ("outcome", outcome)]);
    assert_eq!(ceremonies("sign_up", "ok"), 1.0);
    assert_eq!(ceremonies("sign_up", "form_identifier_exists"), 1.0);
    assert_eq!(ceremonies("sign_up", "too_many_requests"), 1.0);
    assert_eq!(ceremonies("passkey_registration", "ok"), 1.0);
    assert_eq!(ceremonies("sign_in", "ok"), 1.0);
    assert_eq!(ceremonies("sign_in", refused.code()), 1.0, "the refusal's own Clerk code: {}", refused.text);
    assert_eq!(after.value("latch_rate_limit_refusals_total", &[("limit", "sign_up:ip:hour")]), 1.0);

    let attempts = after.value(
        "latch_http_request_duration_seconds_count",
        &[("route", "/v1/client/sign_ins/{id}/attempt_first_factor"), ("method", "POST")],
    );
    assert_eq!(attempts, 2.0, "both attempts, by their route template");
    assert!(after.value("latch_http_request_duration_seconds_count", &[("route", "/v1/client/sign_ups"), ("status_class", "4xx")]) >= 2.0);
    let reads = after.value("latch_store_transaction_duration_seconds_count", &[("backend", backend_label()), ("access", "read")]);
    let writes = after.value("latch_store_transaction_duration_seconds_count", &[("backend", backend_label()), ("access", "write")]);
    assert!(reads > 0.0 && writes > 0.0, "store timings of {}: {reads} reads, {writes} writes", backend_label());
    assert!(after.value("latch_live_sessions", &[]) >= 1.0, "zelda's session is live");
    assert_eq!(after.value("latch_database_up", &[]), 1.0);
    assert_eq!(after.value("latch_webhook_backlog", &[]), 0.0, "no endpoint, no deliveries");

    // A path with an id the router does not know is `unmatched`, not its raw path.
    let f = Fapi::new(&server);
    let _ = f.get_abs(&format!("/no/such/{}", zelda.user_id)).await;
    let last = Scrape::from(&metrics).await;
    assert!(last.value("latch_http_request_duration_seconds_count", &[("route", "unmatched")]) >= 1.0);
    let secrets = [
        zelda.user_id.as_str(),
        "zelda",
        "yannick",
        passkey["id"].as_str().unwrap(),
        &b64u(&credential_id),
        &sign_in_id,
        &session_id,
    ];
    for value in last.label_values() {
        for secret in secrets {
            assert!(!value.contains(secret), "label value {value:?} contains {secret:?}");
        }
    }
}

/// With --production, /metrics is not on the main listener unless asked; --metrics-listen
/// serves it with /healthz and /readyz (and nothing else) on an address of its own; the
/// start-up log says where metrics are; a bad address is refused at start.
#[tokio::test]
async fn the_metrics_listener_serves_operations_and_production_keeps_metrics_off_main() {
    let production = ["--production", "--rp-id", "example.com", "--origin", "https://example.com", "--issuer", "https://latch.example.com"];
    let mut args = production.to_vec();
    args.extend(["--metrics-listen", "127.0.0.1:0"]);
    let server = LatchProcess::start_with(&args);
    let logs = server.logs();
    let ops = logs
        .lines()
        .find_map(|l| l.strip_prefix("latch operations listening on "))
        .unwrap_or_else(|| panic!("the operations listener's address: {logs}"))
        .trim()
        .to_string();
    assert!(logs.contains("(with /healthz and /readyz)"), "{logs}");

    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("{}/metrics", server.base)).await, 404, "not public in production");
    assert_eq!(status(format!("{}/readyz", server.base)).await, 200, "readiness on the main listener too");
    assert_eq!(status(format!("{ops}/healthz")).await, 200);
    assert_eq!(status(format!("{ops}/readyz")).await, 200);
    assert_eq!(status(format!("{ops}/v1/environment")).await, 404, "FAPI is not on the operations listener");
    let scrape = Scrape::from(&format!("{ops}/metrics")).await;
    assert_eq!(scrape.value("latch_database_up", &[]), 1.0);
    drop(server);

    // Production without a metrics address: off, and the log says how to turn them on.
    let server = LatchProcess::start_with(&production);
    assert_eq!(status(format!("{}/metrics", server.base)).await, 404);
    assert!(server.logs().contains("metrics are off: with --production"), "{}", server.logs());
    drop(server);
    // ... or on the main listener when the operator says so.
    let mut args = production.to_vec();
    args.push("--metrics-on-main");
    let server = LatchProcess::start_with(&args);
    assert_eq!(status(format!("{}/metrics", server.base)).await, 200);
    assert!(server.logs().contains("hide it from the public at your proxy"), "{}", server.logs());
    drop(server);

    // Development serves /metrics on the main listener unless told not to.
    let server = LatchProcess::start_with(&["--metrics-on-main=false"]);
    assert_eq!(status(format!("{}/metrics", server.base)).await, 404);
    drop(server);

    let out = Command::new(latch_binary())
        .args(["serve", "--port", "0", "--metrics-listen", "localhost-ish"])
        .arg("--data-dir")
        .arg(std::env::temp_dir().join(format!("latch-ops-bad-{}", std::process::id())))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("metrics_listen \"localhost-ish\" is not an IP address and port"), "{stderr}");
}

// =============================================================================================
// Health and readiness
// =============================================================================================

/// `/readyz` is 200 while the database answers at this build's schema; 503 with a short
/// reason once the schema is ahead (a newer Latch migrated it), and again 200 when it is back;
/// `/healthz` stays 200 throughout. On PostgreSQL, a database that is gone makes it 503 too.
#[tokio::test]
async fn readyz_follows_the_database_and_its_schema() {
    let server = LatchProcess::start();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{}{path}", server.base));
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let (status, body) = get("/readyz").await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (200, serde_json::json!({ "status": "ready" })));

    let url = server.database.shareable_url(server.data_dir());
    let schema = Schema::connect(&url).await.expect("open the test database");
    let future = SCHEMA_VERSION + 1;
    let insert = if schema.is_sqlite() {
        format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({future}, 'from a newer latch', 1, x'00', 0)")
    } else {
        format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({future}, 'from a newer latch', TRUE, '\\x00'::bytea, 0)")
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(insert)).execute(schema.pool()).await.expect("a migration from the future");
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), serde_json::json!({ "status": "not_ready", "reason": "schema_ahead" }));
    assert_eq!(get("/healthz").await, (200, "ok".to_string()), "alive all the same");
    // Another method is an unknown endpoint, in Clerk's shape like any other.
    let posted = http.post(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(posted.status(), 404);
    assert_eq!(posted.json::<Value>().await.unwrap()["errors"][0]["code"], "resource_not_found");

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DELETE FROM _sqlx_migrations WHERE version = {future}")))
        .execute(schema.pool())
        .await
        .unwrap();
    assert_eq!(get("/readyz").await.0, 200, "ready again");
    schema.pool().close().await;

    if let TestDatabase::Postgres { admin_url, name, .. } = &server.database {
        let dropped = Command::new("psql")
            .arg(admin_url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", &format!("DROP DATABASE {name} WITH (FORCE)")])
            .output()
            .unwrap();
        assert!(dropped.status.success(), "{}", String::from_utf8_lossy(&dropped.stderr));
        let (status, body) = get("/readyz").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            serde_json::json!({ "status": "not_ready", "reason": "database_unavailable" }),
            "a short reason, nothing of the driver's error"
        );
        assert_eq!(get("/healthz").await.0, 200);
    }
}

// =============================================================================================
// Graceful shutdown
// =============================================================================================

fn sigterm(pid: u32) {
    let status = Command::new("kill").args(["-s", "TERM", &pid.to_string()]).status().expect("run kill");
    assert!(status.success());
}

/// SIGTERM while a client is still sending a request's body: new connections are refused at
/// once, the slow request is answered in full when its body arrives, and the process then
/// exits 0 having stopped its background tasks.
#[test]
fn sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_0() {
    let mut server = LatchProcess::start();
    let address = format!("127.0.0.1:{}", server.port);
    let body = b"username=slowpoke";
    let mut slow = TcpStream::connect(&address).unwrap();
    write!(
        slow,
        "POST /v1/client/sign_ups?_clerk_js_version=5.0.0 HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len(),
        port = server.port
    )
    .unwrap();
    slow.write_all(&body[..8]).unwrap();
    slow.flush().unwrap();
    // The head has been read and the handler waits for the rest of the body.
    std::thread::sleep(Duration::from_millis(300));

    sigterm(server.pid());
    // The listening socket closes: a new connection is refused, while the slow one is open.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(&address).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "new connections are refused once shutdown begins");

    slow.write_all(&body[8..]).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = String::new();
    BufReader::new(&slow).read_to_string(&mut answer).expect("the answer, then the connection closes");
    assert!(answer.starts_with("HTTP/1.1 200"), "the slow sign-up is answered: {answer}");
    assert!(answer.contains("\"username\":\"slowpoke\""), "{answer}");

    let status = server.wait_for_exit(Duration::from_secs(30)).expect("latch exits after draining");
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    let logs = server.logs();
    assert!(logs.contains("shutting down") && logs.contains("stopped"), "{logs}");
}

/// A request that outlives the drain timeout does not hold the process: it exits 0 when the
/// timeout is over.
#[test]
fn the_drain_timeout_bounds_the_wait_for_a_request_that_never_finishes() {
    let mut server = LatchProcess::start_with(&["--drain-timeout-secs", "1"]);
    let mut stuck = TcpStream::connect(format!("127.0.0.1:{}", server.port)).unwrap();
    write!(
        stuck,
        "POST /v1/client/sign_ups HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:{}\r\nContent-Length: 100\r\n\r\nusername=",
        server.port
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    sigterm(server.pid());
    let status = server.wait_for_exit(Duration::from_secs(20)).expect("latch exits after the drain timeout");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited for the request first");
    assert!(server.logs().contains("drain timeout"), "{}", server.logs());
}

/// Whoever reads Latch's log may go away (a pipe to a log shipper that restarted): SIGTERM
/// still stops it, and requests are still answered, with nothing left to write the log to.
/// (Reporting the failed write on stderr panicked the logging task, and SIGTERM went
/// unanswered.)
#[test]
fn a_closed_log_pipe_neither_stops_answers_nor_keeps_sigterm_from_stopping_latch() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(latch_binary())
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start latch");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "latch ended before listening");
        if let Some(url) = line.trim().strip_prefix("latch listening on http://") {
            break url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        }
    };
    drop(child.stderr.take()); // the log's reader goes away

    // A request whose refusal is logged is still answered.
    let mut request = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(request, "GET /v1/client/sessions/sess_missing/tokens HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    request.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    BufReader::new(&request).read_to_string(&mut answer).expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");

    sigterm(child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("latch did not stop on SIGTERM with its log pipe closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

// =============================================================================================
// JSON logs
// =============================================================================================

/// `--log-format json`: every line on stderr is one JSON object with a timestamp, a level and
/// a message, from the start to the end of a run (its SIGTERM and drain included), and an
/// error that stops `latch` is such a line too.
#[test]
fn json_logs_are_one_object_per_line() {
    let data = tempfile::tempdir().unwrap();
    let database = TestDatabase::create();
    let mut child = Command::new(latch_binary())
        .args(["serve", "--port", "0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(data.path())
        .args(database.args())
        .env("LATCH_LOG", "debug,sqlx=warn,hyper=warn,reqwest=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.contains("latch listening on") {
        line.clear();
    }
    let base = line.trim().strip_prefix("latch listening on ").expect("the listening line").to_string();
    // Something to log: a 404 at debug level, a request that fails.
    let _ = TcpStream::connect(base.trim_start_matches("http://")).map(|mut s| {
        let _ = s.write_all(b"GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = s.read_to_end(&mut Vec::new());
    });
    sigterm(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_json_lines(&stderr, &["starting", "shutting down", "stopped"]);

    // An error that ends the run is a JSON line too.
    let out = Command::new(latch_binary())
        .args(["serve", "--port", "0", "--log-format", "json", "--metrics-listen", "nowhere"])
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_json_lines(&String::from_utf8_lossy(&out.stderr), &["not an IP address and port"]);
}

fn assert_json_lines(stderr: &str, expected: &[&str]) {
    let mut messages = Vec::new();
    for line in stderr.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert!(event["timestamp"].is_string() && event["level"].is_string(), "{line}");
        messages.push(format!("{} {}", event["message"].as_str().unwrap_or_else(|| panic!("a message: {line}")), event));
    }
    for want in expected {
        assert!(messages.iter().any(|m| m.contains(want)), "a line with {want:?} in {stderr}");
    }
}
