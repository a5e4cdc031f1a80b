//! Plain-text application logs: CodeGuru Profiler agent output and SDK
//! errors, with denials in AWS's message shapes among ordinary lines.
//!
//! A stream of its own (its own [`Truth`]): a text line names the session,
//! not the role's path, so a role counts as `arn:aws:iam::ACCT:role/NAME`.

use std::io::Write;
use std::path::Path;

use super::GenerateError;
use super::cloudtrail::{PG_NAMES, Pol, Tail, denial_message};
use super::config::CorpusConfig;
use super::identity::{Caller, Kind, World};
use super::json::{civil, push_iso8601};
use super::random::Rand;
use super::truth::{DenialTruth, RecordClass, RecordTruth, Truth, TruthBuilder, in_default_scope};

/// One generated log line.
#[derive(Debug, Clone)]
pub struct GeneratedLine {
    /// The line, without its newline.
    pub line: Vec<u8>,
    /// The time it carries, Unix milliseconds.
    pub time_ms: i64,
    /// What the line is.
    pub truth: RecordTruth,
}

/// The stream of text log lines of a corpus (`records` lines).
///
/// ```
/// use denytrail::generate::{CorpusConfig, TextGenerator};
/// let cfg = CorpusConfig::builder().seed(3).records(50).build()?;
/// assert_eq!(TextGenerator::new(&cfg).count(), 50);
/// # Ok::<(), denytrail::generate::GenerateError>(())
/// ```
#[derive(Debug)]
pub struct TextGenerator {
    world: World,
    r: Rand,
    left: u64,
    now_ms: i64,
    mean_gap: u64,
    denial_rate: f64,
    n: u64,
}

impl TextGenerator {
    /// The text stream of `cfg`.
    pub fn new(cfg: &CorpusConfig) -> TextGenerator {
        TextGenerator {
            world: World::new(cfg.seed(), cfg.accounts(), cfg.principals()),
            r: Rand::new(cfg.seed(), 0x7E47),
            left: cfg.records(),
            now_ms: cfg.start_ms(),
            mean_gap: cfg.mean_gap_ms(),
            denial_rate: cfg.denial_rate(),
            n: 0,
        }
    }

    /// `2024-05-01T10:00:00.123Z LEVEL [logger] `
    fn head(&self, level: &str, logger: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(256);
        push_iso8601(&mut v, self.now_ms, true);
        v.push(b' ');
        v.extend_from_slice(format!("{level:<5} [{logger}] ").as_bytes());
        v
    }

    /// Python logging: `2024-05-01 10:00:00,123 - logger - LEVEL - `
    fn py_head(&self, level: &str, logger: &str) -> Vec<u8> {
        let c = civil(self.now_ms);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03} - {logger} - {level} - ",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
        )
        .into_bytes()
    }

    fn info(&mut self) -> Vec<u8> {
        let pg = *self.r.pick(&PG_NAMES);
        match self.r.weighted(&[20, 20, 15, 25, 10, 10]) {
            0 => {
                let mut l = self.head("INFO", "codeguru-profiler-agent");
                l.extend_from_slice(
                    format!("Profiling agent started for profiling group {pg}").as_bytes(),
                );
                l
            }
            1 => {
                let n = self.r.range(20_000, 900_000);
                let mut l = self.head("INFO", "codeguru-profiler-agent");
                l.extend_from_slice(
                    format!("Successfully reported profile for {pg} ({n} bytes)").as_bytes(),
                );
                l
            }
            2 => {
                let mut l = self.head("INFO", "codeguru-profiler-agent");
                l.extend_from_slice(b"ConfigureAgent: shouldProfile=true periodInSeconds=300");
                l
            }
            3 => {
                let (id, ms) = (self.r.range(1000, 99_999), self.r.range(2, 250));
                let mut l = self.head("INFO", "http");
                l.extend_from_slice(format!("GET /orders/{id} 200 {ms}ms").as_bytes());
                l
            }
            4 => {
                let mut l = self.head("DEBUG", "aws-sdk");
                l.extend_from_slice(format!("Sending Request: POST https://codeguru-profiler.us-east-1.amazonaws.com /profilingGroups/{pg}/agentProfile").as_bytes());
                l
            }
            _ => {
                let mut l = self.py_head("INFO", "codeguru_profiler_agent.profiler_runner");
                l.extend_from_slice(
                    format!("Profiler started for profiling group {pg}").as_bytes(),
                );
                l
            }
        }
    }

    fn trap(&mut self) -> Vec<u8> {
        if self.r.chance(0.5) {
            let mut l = self.head("INFO", "alerts");
            l.extend_from_slice(b"CloudWatch alarm cloudtrail-access-denied-spike is OK (AccessDeniedCount=0, UnauthorizedOperation=0)");
            l
        } else {
            let mut l = self.head("INFO", "runbook");
            l.extend_from_slice(b"Loaded runbook 'when a call is not authorized to perform an action' (AccessDenied troubleshooting)");
            l
        }
    }

    fn auth_failure(&mut self) -> (Vec<u8>, &'static str) {
        let (code, op, msg) = if self.r.chance(0.5) {
            (
                "ExpiredToken",
                "AssumeRole",
                "The security token included in the request is expired",
            )
        } else {
            (
                "InvalidClientTokenId",
                "GetCallerIdentity",
                "The security token included in the request is invalid.",
            )
        };
        let mut l = self.head("ERROR", "deploy");
        l.extend_from_slice(
            format!("botocore.exceptions.ClientError: An error occurred ({code}) when calling the {op} operation: {msg}").as_bytes(),
        );
        (l, code)
    }

    fn tail(&mut self, caller: &Caller, action: &str) -> Tail {
        let _ = action;
        match self.r.weighted(&[60, 15, 10, 10, 5]) {
            0 => Tail::Implicit(Pol::Identity),
            1 => Tail::None,
            2 => Tail::Implicit(Pol::Boundary),
            3 => Tail::Explicit(
                Pol::Scp,
                Some(format!(
                    "arn:aws:organizations::{}:policy/{}/service_control_policy/p-{}",
                    self.world.org_mgmt,
                    self.world.org_id,
                    self.r.alnum(8).to_lowercase()
                )),
            ),
            _ if caller.p.kind == Kind::Role => Tail::Implicit(Pol::Session),
            _ => Tail::Implicit(Pol::Identity),
        }
    }

    fn denial(&mut self) -> (Vec<u8>, DenialTruth) {
        let k = self.r.weighted(&[30, 15, 15, 20, 20]);
        let region = self.world.region(&mut self.r);
        let request_id = self.r.uuid();
        let caller = if k < 3 {
            self.world.role_caller(&mut self.r)
        } else {
            self.world.caller(&mut self.r)
        };
        let acct = caller.p.account.clone();
        let pg = *self.r.pick(&PG_NAMES);
        let pg_arn = format!("arn:aws:codeguru-profiler:{region}:{acct}:profilingGroup/{pg}");
        let (action, resource, via): (String, String, Option<String>) = match k {
            0..=2 => {
                let api = *self.r.pick(&["ConfigureAgent", "PostAgentProfile"]);
                (format!("codeguru-profiler:{api}"), pg_arn, None)
            }
            3 => {
                let role = format!(
                    "arn:aws:iam::{acct}:role/{}",
                    self.r.pick(&["lambda-exec", "ecsTaskExecutionRole"])
                );
                (
                    "iam:PassRole".to_string(),
                    role,
                    Some("lambda:CreateFunction".to_string()),
                )
            }
            _ => {
                let (a, r) = if self.r.chance(0.5) {
                    (
                        "dynamodb:PutItem".to_string(),
                        format!("arn:aws:dynamodb:{region}:{acct}:table/Orders"),
                    )
                } else {
                    (
                        "kms:Decrypt".to_string(),
                        format!("arn:aws:kms:{region}:{acct}:key/{}", self.r.uuid()),
                    )
                };
                (a, r, None)
            }
        };
        let tail = self.tail(&caller, &action);
        let msg = denial_message(&caller.message_arn(), &action, Some(&resource), &tail);
        let line = match k {
            0 => {
                let mut l = self.head("WARN", "codeguru-profiler-agent");
                l.extend_from_slice(format!("AccessDeniedException: {msg} (Service: CodeGuruProfiler; Status Code: 403; Error Code: AccessDeniedException; Request ID: {request_id}; Proxy: null)").as_bytes());
                l
            }
            1 => {
                let mut l = self.head("ERROR", "main");
                l.extend_from_slice(format!("software.amazon.awssdk.services.codeguruprofiler.model.AccessDeniedException: {msg} (Service: CodeGuruProfiler, Status Code: 403, Request ID: {request_id})").as_bytes());
                l
            }
            2 => {
                let op = action
                    .rsplit(':')
                    .next()
                    .unwrap_or("ConfigureAgent")
                    .to_string();
                let mut l =
                    self.py_head("ERROR", "codeguru_profiler_agent.sdk_reporter.sdk_reporter");
                l.extend_from_slice(format!("An error occurred (AccessDeniedException) when calling the {op} operation: {msg}").as_bytes());
                l
            }
            3 => {
                let mut l = self.head("ERROR", "deploy");
                l.extend_from_slice(format!("botocore.exceptions.ClientError: An error occurred (AccessDeniedException) when calling the CreateFunction operation: {msg}").as_bytes());
                l
            }
            _ => {
                let svc = if action.starts_with("dynamodb") {
                    "dynamodb.model.DynamoDbException"
                } else {
                    "kms.model.KmsException"
                };
                let name = if action.starts_with("dynamodb") {
                    "DynamoDb"
                } else {
                    "Kms"
                };
                let mut l = self.head("ERROR", "orders-api");
                l.extend_from_slice(format!("software.amazon.awssdk.services.{svc}: {msg} (Service: {name}, Status Code: 400, Request ID: {request_id})").as_bytes());
                l
            }
        };
        let principal = match caller.p.kind {
            // The line names the session; the role's path is not in it.
            Kind::Role => format!("arn:aws:iam::{acct}:role/{}", caller.p.name),
            _ => caller.p.grouped_arn(),
        };
        let truth = DenialTruth {
            principal,
            default_scope: in_default_scope(&action),
            action,
            resource: Some(resource),
            reason: tail.reason_code(),
            via,
            error_code: "AccessDeniedException".to_string(),
            encoded: false,
            truncated: false,
            event_id: None,
        };
        (line, truth)
    }
}

impl Iterator for TextGenerator {
    type Item = GeneratedLine;

    fn next(&mut self) -> Option<GeneratedLine> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.n += 1;
        self.now_ms += self.r.below(2 * self.mean_gap + 1) as i64;
        let (line, truth) = if self.r.chance(self.denial_rate) {
            let (l, d) = self.denial();
            (
                l,
                RecordTruth {
                    class: RecordClass::Denial,
                    denial: Some(d),
                    auth_error_code: None,
                },
            )
        } else {
            let v = self.r.unit();
            // The first lines of a big enough log show a trap and an auth failure.
            if v < 0.004 || self.n == 20 {
                (self.trap(), RecordTruth::of(RecordClass::Trap))
            } else if v < 0.008 || self.n == 40 {
                let (l, code) = self.auth_failure();
                (
                    l,
                    RecordTruth {
                        class: RecordClass::AuthFailure,
                        denial: None,
                        auth_error_code: Some(code.to_string()),
                    },
                )
            } else {
                (self.info(), RecordTruth::of(RecordClass::Allowed))
            }
        };
        Some(GeneratedLine {
            line,
            time_ms: self.now_ms,
            truth,
        })
    }
}

/// Write the text log to `dir/app.log` and its truth to `dir/truth.json`.
pub(crate) fn write_text(cfg: &CorpusConfig, dir: &Path) -> Result<Truth, GenerateError> {
    let path = dir.join("app.log");
    let mut w = super::sinks::create(&path)?;
    let mut tb = TruthBuilder::new(cfg.seed());
    for l in TextGenerator::new(cfg) {
        tb.add(&l.truth);
        w.write_all(&l.line)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|source| GenerateError::Io {
                path: path.clone(),
                source,
            })?;
    }
    w.flush().map_err(|source| GenerateError::Io {
        path: path.clone(),
        source,
    })?;
    let truth = tb.finish();
    super::write_truth(&dir.join("truth.json"), &truth)?;
    Ok(truth)
}
