//! A real Prometheus for the tests: `/usr/bin/prometheus` (Debian package
//! `prometheus`, installed by the setup script) on a free loopback port,
//! with a temporary config and storage, scraping the given targets every
//! second as `job="denytrail"`. Killed when dropped.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::util::require_tool;

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Call `f` until it returns `Some`, at most `timeout`; panics naming `what`
/// with the last observation otherwise.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let end = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= end => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

impl Prometheus {
    /// Start Prometheus scraping `targets` (`host:port`) every second.
    pub fn start(targets: &[String]) -> Prometheus {
        let bin = require_tool("prometheus");
        let mut last_err = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let list = targets
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let config = format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: denytrail\n    static_configs:\n      - targets: [{list}]\n"
            );
            let cfg_path = dir.path().join("prometheus.yml");
            std::fs::write(&cfg_path, config).expect("write prometheus.yml");
            let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", cfg_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn prometheus");
            let mut p = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
                dir,
            };
            let ready = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = p.child.try_wait() {
                    last_err = format!("prometheus exited with {status}: {}", p.log());
                    break;
                }
                if ureq::get(&format!("{}/-/ready", p.url))
                    .call()
                    .is_ok_and(|r| r.status() == 200)
                {
                    return p;
                }
                if Instant::now() > ready {
                    panic!("prometheus did not get ready: {}", p.log());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("cannot start prometheus: {last_err}");
    }

    /// Prometheus' own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Its data directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Evaluate `expr` now; an instant vector or a scalar.
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let mut resp = ureq::get(&format!("{}/api/v1/query", self.url))
            .query("query", expr)
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| format!("{expr}: {e}"))?;
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{expr}: {e}"))?;
        let a: Answer = serde_json::from_str(&body).map_err(|e| format!("{expr}: {e}: {body}"))?;
        if a.status != "success" {
            return Err(format!("{expr}: {}", a.error.unwrap_or(body)));
        }
        let data = a.data.ok_or_else(|| format!("{expr}: no data"))?;
        let num = |v: &serde_json::Value| -> f64 {
            v.get(1)
                .and_then(|x| x.as_str())
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        };
        match data.result_type.as_str() {
            "vector" => Ok(data
                .result
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Sample {
                    labels: s["metric"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect(),
                    value: num(&s["value"]),
                })
                .collect()),
            "scalar" => Ok(vec![Sample {
                labels: BTreeMap::new(),
                value: num(&data.result),
            }]),
            other => Err(format!("{expr}: unexpected result type {other}")),
        }
    }

    /// `sum by (principal, action) (denytrail_denials_total)` as a map.
    pub fn denials_by_group(&self) -> Result<BTreeMap<(String, String), u64>, String> {
        Ok(self
            .query("sum by (principal, action) (denytrail_denials_total)")?
            .into_iter()
            .map(|s| {
                (
                    (
                        s.labels.get("principal").cloned().unwrap_or_default(),
                        s.labels.get("action").cloned().unwrap_or_default(),
                    ),
                    s.value as u64,
                )
            })
            .collect())
    }

    /// Wait until Prometheus' per-group counts equal `want`.
    pub fn wait_denials(&self, want: &BTreeMap<(String, String), u64>) {
        eventually(
            Duration::from_secs(60),
            "Prometheus to see the denials written",
            || {
                let got = self.denials_by_group()?;
                if &got == want {
                    Ok(())
                } else {
                    Err(format!("got {got:?}, want {want:?}"))
                }
            },
        )
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
