//! The CloudTrail record stream: [`Generator`], an iterator of
//! [`GeneratedRecord`]s, each with the bytes of one record and its truth.
//!
//! Everything is drawn from one ChaCha8 stream in record order, so a seed
//! gives the same records whatever formats they are written to.

use std::collections::VecDeque;
use std::sync::Arc;

use super::config::CorpusConfig;
use super::identity::{Caller, Kind, PROFILER_AGENT_UA, World, source_ip, user_agent};
use super::json::{JsonBuf, iso8601};
use super::random::Rand;
use super::record::{Identity, Rec};
use super::truth::{DenialTruth, RecordClass, RecordTruth, in_default_scope};

/// One generated CloudTrail record.
#[derive(Debug, Clone)]
pub struct GeneratedRecord {
    /// The record, compact JSON (no newline).
    pub json: Vec<u8>,
    /// `eventTime`, Unix milliseconds.
    pub event_time_ms: i64,
    /// `recipientAccountId`: the account whose trail holds the record.
    pub account: Arc<str>,
    /// `awsRegion`.
    pub region: &'static str,
    /// What the record is.
    pub truth: RecordTruth,
}

/// CloudTrail's limit on `errorMessage`, in characters.
const MESSAGE_LIMIT: usize = 1024;

pub(crate) const PG_NAMES: [&str; 8] = [
    "my-example-profiling-group",
    "orders-api",
    "payments-service",
    "zahlungsdienst-prüfung",
    "注文-api",
    "checkout-jvm",
    "inventory-worker",
    "日本-batch",
];
const BUCKETS: [&str; 5] = [
    "orders-artifacts-prod",
    "company-data-lake-raw",
    "ci-build-cache",
    "финансы-reports",
    "static-site-assets",
];
const S3_KEYS: [&str; 7] = [
    "exports/2024/05/01/part-00000.parquet",
    "builds/orders-api/1.4.2/app.jar",
    "reports/Q1/zusammenfassung-überblick.pdf",
    "images/日本/logo.png",
    "logs/app/2024-05-01T10.gz",
    "config/settings.json",
    "tmp/scratch file (1).txt",
];
const TABLES: [&str; 4] = ["Orders", "Sessions", "inventory-items", "feature_flags"];
const SERVICES: [&str; 6] = [
    "lambda.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "codeguru-profiler.amazonaws.com",
    "cloudformation.amazonaws.com",
    "config.amazonaws.com",
    "inspector2.amazonaws.com",
];

/// The kind of policy a message names, with its words and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pol {
    Identity,
    Resource,
    Boundary,
    Session,
    Scp,
    Rcp,
    Vpce,
}

impl Pol {
    fn phrase(self) -> &'static str {
        match self {
            Pol::Identity => "identity-based policy",
            Pol::Resource => "resource-based policy",
            Pol::Boundary => "permissions boundary",
            Pol::Session => "session policy",
            Pol::Scp => "service control policy",
            Pol::Rcp => "resource control policy",
            Pol::Vpce => "VPC endpoint policy",
        }
    }
    fn article(self) -> &'static str {
        if self == Pol::Identity { "an" } else { "a" }
    }
    fn code(self) -> &'static str {
        match self {
            Pol::Identity => "identity",
            Pol::Resource => "resource",
            Pol::Boundary => "boundary",
            Pol::Session => "session",
            Pol::Scp => "scp",
            Pol::Rcp => "rcp",
            Pol::Vpce => "vpce",
        }
    }
}

/// How a denial message ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Older, terse messages: nothing after the resource.
    None,
    /// `because no <policy> allows the <action> action`
    Implicit(Pol),
    /// `with an explicit deny in a <policy>[: <arn>]`
    Explicit(Pol, Option<String>),
}

impl Tail {
    pub(crate) fn reason_code(&self) -> String {
        match self {
            Tail::None => "unknown".to_string(),
            Tail::Implicit(p) => format!("implicit-{}", p.code()),
            Tail::Explicit(p, _) => format!("explicit-{}", p.code()),
        }
    }
}

/// `User: <arn> is not authorized to perform: <action>[ on resource: <r>]<tail>`
pub(crate) fn denial_message(
    caller_arn: &str,
    action: &str,
    resource: Option<&str>,
    tail: &Tail,
) -> String {
    let mut m = format!("User: {caller_arn} is not authorized to perform: {action}");
    if let Some(r) = resource {
        m.push_str(" on resource: ");
        m.push_str(r);
    }
    match tail {
        Tail::None => {}
        Tail::Implicit(p) => {
            m.push_str(&format!(
                " because no {} allows the {action} action",
                p.phrase()
            ));
        }
        Tail::Explicit(p, arn) => {
            m.push_str(&format!(
                " with an explicit deny in {} {}",
                p.article(),
                p.phrase()
            ));
            if let Some(a) = arn {
                m.push_str(": ");
                m.push_str(a);
            }
        }
    }
    m
}

/// Cut a message to CloudTrail's limit: 1021 characters and `...`.
fn limit_message(m: String) -> (String, bool) {
    if m.chars().count() <= MESSAGE_LIMIT {
        return (m, false);
    }
    let cut: String = m.chars().take(MESSAGE_LIMIT - 3).collect();
    (cut + "...", true)
}

/// Strip a Lambda-style API version (`CreateFunction20150331` →
/// `CreateFunction`, `GetFunction20150331v2` → `GetFunction`).
fn strip_api_version(name: &str) -> &str {
    let b = name.as_bytes();
    let mut end = b.len();
    // optional `v<digits>`
    let mut i = end;
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i < end && i > 0 && b[i - 1] == b'v' {
        end = i - 1;
    }
    let mut k = end;
    while k > 0 && b[k - 1].is_ascii_digit() {
        k -= 1;
    }
    if end - k == 8 { &name[..k] } else { name }
}

/// Render a JSON object with `f` filling its members.
fn obj(f: impl FnOnce(&mut JsonBuf)) -> Vec<u8> {
    let mut j = JsonBuf::with_capacity(384);
    j.open();
    f(&mut j);
    j.close();
    j.buf
}

/// Render a `resources` array of `(type, ARN, account)`.
fn resources(list: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut j = JsonBuf::with_capacity(256);
    j.open_arr();
    for (t, arn, acct) in list {
        j.open();
        j.kv("accountId", acct);
        j.kv("type", t);
        j.kv("ARN", arn);
        j.close();
    }
    j.close_arr();
    j.buf
}

/// The parts of a denial: the record and its truth.
struct DenialEvent {
    rec: Rec,
    truth: DenialTruth,
    /// Also emit a copy for the other account (`sharedEventID`).
    pair_account: Option<Arc<str>>,
}

/// What to do at one step.
enum Step {
    Unique,
    /// Repeat a recent record; `true`: the last denial.
    Duplicate(bool),
    InsightPair,
    Trap(usize),
    AuthFailure(usize),
    OtherError(usize),
    AllowedPair,
}

/// The stream of CloudTrail records of a corpus. Deterministic: the same
/// [`CorpusConfig`] gives the same records, byte for byte.
///
/// ```
/// use denytrail::generate::{CorpusConfig, Generator};
/// let cfg = CorpusConfig::builder().seed(1).records(100).build()?;
/// let records: Vec<_> = Generator::new(&cfg).collect();
/// assert_eq!(records.len(), 100);
/// assert!(records[0].json.starts_with(b"{\"eventVersion\""));
/// # Ok::<(), denytrail::generate::GenerateError>(())
/// ```
#[derive(Debug)]
pub struct Generator {
    world: World,
    r: Rand,
    total: u64,
    emitted: u64,
    steps: u64,
    now_ms: i64,
    mean_gap: u64,
    denial_rate: f64,
    showcase: bool,
    pending: VecDeque<GeneratedRecord>,
    last_any: Option<GeneratedRecord>,
    last_denial: Option<GeneratedRecord>,
    denial_duplicated: bool,
}

impl Generator {
    /// The record stream of `cfg`.
    pub fn new(cfg: &CorpusConfig) -> Generator {
        Generator {
            world: World::new(cfg.seed(), cfg.accounts(), cfg.principals()),
            r: Rand::new(cfg.seed(), 0),
            total: cfg.records(),
            emitted: 0,
            steps: 0,
            now_ms: cfg.start_ms(),
            mean_gap: cfg.mean_gap_ms(),
            denial_rate: cfg.denial_rate(),
            // Corpora big enough show every kind of record at least once.
            showcase: cfg.records() >= 200,
            pending: VecDeque::new(),
            last_any: None,
            last_denial: None,
            denial_duplicated: false,
        }
    }

    fn choose_step(&mut self, remaining: u64) -> Step {
        let n = self.steps;
        if self.showcase {
            match n {
                3 if remaining >= 2 => return Step::InsightPair,
                10 | 20 | 30 | 40 | 50 => return Step::Trap(((n / 10) - 1) as usize),
                15 | 25 | 35 => return Step::AuthFailure(((n - 15) / 10) as usize),
                12 | 22 | 32 => return Step::OtherError(((n - 12) / 10) as usize),
                45 if remaining >= 2 => return Step::AllowedPair,
                _ => {}
            }
            if !self.denial_duplicated && self.last_denial.is_some() {
                self.denial_duplicated = true;
                return Step::Duplicate(true);
            }
        }
        let u = self.r.unit();
        if u < 0.002 && self.last_any.is_some() {
            Step::Duplicate(self.last_denial.is_some() && self.r.chance(0.5))
        } else if u < 0.0022 && remaining >= 2 {
            Step::InsightPair
        } else {
            Step::Unique
        }
    }

    fn step(&mut self, remaining: u64) -> GeneratedRecord {
        let step = self.choose_step(remaining);
        self.steps += 1;
        match step {
            Step::Duplicate(use_denial) => {
                let src = if use_denial {
                    self.last_denial.as_ref()
                } else {
                    self.last_any.as_ref()
                };
                if let Some(src) = src {
                    let mut d = src.clone();
                    d.truth = RecordTruth::of(RecordClass::Duplicate);
                    return d;
                }
                self.unique(remaining)
            }
            Step::InsightPair => self.insight_pair(),
            Step::Trap(k) => {
                self.advance();
                let rec = self.trap(k);
                self.finish(rec, RecordTruth::of(RecordClass::Trap))
            }
            Step::AuthFailure(k) => {
                self.advance();
                self.auth_failure(k)
            }
            Step::OtherError(k) => {
                self.advance();
                let rec = self.other_error(k);
                self.finish(rec, RecordTruth::of(RecordClass::OtherError))
            }
            Step::AllowedPair => {
                self.advance();
                self.allowed_pair()
            }
            Step::Unique => self.unique(remaining),
        }
    }

    fn advance(&mut self) {
        let gap = self.r.below(2 * self.mean_gap + 1);
        self.now_ms += gap as i64;
    }

    fn unique(&mut self, remaining: u64) -> GeneratedRecord {
        self.advance();
        if self.r.chance(self.denial_rate) {
            let ev = self.denial(remaining >= 2);
            return self.emit_denial(ev);
        }
        let v = self.r.unit();
        if v < 0.004 {
            let k = self.r.below(5) as usize;
            let rec = self.trap(k);
            self.finish(rec, RecordTruth::of(RecordClass::Trap))
        } else if v < 0.034 {
            let k = self.r.below(7) as usize;
            let rec = self.other_error(k);
            self.finish(rec, RecordTruth::of(RecordClass::OtherError))
        } else if v < 0.037 {
            let k = self.r.below(3) as usize;
            self.auth_failure(k)
        } else if v < 0.043 && remaining >= 2 {
            self.allowed_pair()
        } else {
            let rec = self.allowed();
            self.finish(rec, RecordTruth::of(RecordClass::Allowed))
        }
    }

    fn finish(&mut self, rec: Rec, truth: RecordTruth) -> GeneratedRecord {
        let g = GeneratedRecord {
            json: rec.render(),
            event_time_ms: rec.time_ms,
            account: rec.recipient.clone(),
            region: rec.region,
            truth,
        };
        if self.steps % 64 == 1 {
            self.last_any = Some(g.clone());
        }
        g
    }

    fn emit_denial(&mut self, ev: DenialEvent) -> GeneratedRecord {
        let DenialEvent {
            mut rec,
            truth,
            pair_account,
        } = ev;
        let mut copy = None;
        if let Some(other) = pair_account {
            let shared = self.r.uuid();
            rec.shared_event_id = Some(shared);
            let mut c = rec.clone();
            c.event_id = self.r.uuid();
            c.recipient = other;
            copy = Some(c);
        }
        let t = RecordTruth {
            class: RecordClass::Denial,
            denial: Some(truth),
            auth_error_code: None,
        };
        let g = self.finish(rec, t);
        self.last_denial = Some(g.clone());
        if let Some(c) = copy {
            let cg = self.finish(c, RecordTruth::of(RecordClass::CrossAccountCopy));
            self.pending.push_back(cg);
        }
        g
    }

    // ----- building blocks -------------------------------------------------

    fn base(&mut self, identity: Identity, source: &'static str, name: &str) -> Rec {
        let region = self.world.region(&mut self.r);
        let recipient = match &identity {
            Identity::Caller(c) => c.p.account.clone(),
            _ => self.world.accounts[0].clone(),
        };
        let s3 = source == "s3.amazonaws.com";
        let request_id = if s3 {
            self.r.alnum(16).to_uppercase()
        } else {
            self.r.uuid()
        };
        let ua = user_agent(&mut self.r).to_string();
        let ip = source_ip(&mut self.r);
        // Only some services record TLS details.
        let tls = s3 || self.r.chance(0.35);
        Rec {
            version: if s3 { "1.10" } else { "1.09" },
            identity,
            invoked_by: None,
            time_ms: self.now_ms,
            session_created_ms: self.now_ms - self.r.below(3_600_000) as i64,
            source,
            name: name.to_string(),
            region,
            ip,
            ua,
            error_code: None,
            error_message: None,
            request: None,
            response: None,
            additional: None,
            request_id,
            event_id: self.r.uuid(),
            read_only: name.starts_with("Get")
                || name.starts_with("List")
                || name.starts_with("Describe"),
            resources: None,
            data_event: false,
            recipient,
            shared_event_id: None,
            vpc_endpoint_id: None,
            tls,
        }
    }

    fn caller_rec(&mut self, source: &'static str, name: &str) -> (Caller, Rec) {
        let c = self.world.caller(&mut self.r);
        let rec = self.base(Identity::Caller(c.clone()), source, name);
        (c, rec)
    }

    fn pg_name(&mut self) -> &'static str {
        self.r.pick::<&str>(&PG_NAMES)
    }

    fn pg_arn(region: &str, account: &str, name: &str) -> String {
        format!("arn:aws:codeguru-profiler:{region}:{account}:profilingGroup/{name}")
    }

    fn s3_additional(&mut self, bytes_in: u64, bytes_out: u64) -> Vec<u8> {
        let id2 = self.r.b64url(76);
        obj(|j| {
            j.kv("SignatureVersion", "SigV4");
            j.kv("CipherSuite", "TLS_AES_128_GCM_SHA256");
            j.kv_num("bytesTransferredIn", bytes_in);
            j.kv("AuthenticationMethod", "AuthHeader");
            j.kv("x-amz-id-2", &id2);
            j.kv_num("bytesTransferredOut", bytes_out);
        })
    }

    /// An S3 object-level data event on `bucket`/`key`.
    fn s3_object(&mut self, rec: &mut Rec, bucket: &str, key: &str) {
        rec.data_event = true;
        let host = format!("{bucket}.s3.{}.amazonaws.com", rec.region);
        rec.request = Some(obj(|j| {
            j.kv("bucketName", bucket);
            j.kv("Host", &host);
            j.kv("key", key);
        }));
        let (i, o) = if rec.name == "PutObject" {
            (self.r.range(100, 5_000_000), 0)
        } else {
            (0, self.r.range(100, 5_000_000))
        };
        rec.additional = Some(self.s3_additional(i, o));
        let acct = rec.recipient.clone();
        rec.resources = Some(resources(&[
            (
                "AWS::S3::Object",
                &format!("arn:aws:s3:::{bucket}/{key}"),
                "",
            ),
            ("AWS::S3::Bucket", &format!("arn:aws:s3:::{bucket}"), &acct),
        ]));
        if self.r.chance(0.3) {
            rec.vpc_endpoint_id = Some(format!("vpce-{}", self.r.hex(17)));
        }
    }

    fn lambda_create_params(&mut self, role_arn: &str) -> Vec<u8> {
        let fname = format!(
            "{}-handler",
            self.r.pick(&["orders", "thumbnails", "etl", "notify"])
        );
        let bucket = *self.r.pick(&BUCKETS);
        obj(|j| {
            j.kv("functionName", &fname);
            j.kv("runtime", "python3.12");
            j.kv("role", role_arn);
            j.kv("handler", "app.handler");
            j.kv_open("code");
            j.kv("s3Bucket", bucket);
            j.kv("s3Key", "lambda/package.zip");
            j.close();
            j.kv("description", "");
            j.kv_num("timeout", 30);
            j.kv_num("memorySize", 256);
            j.kv_bool("publish", true);
            j.kv("packageType", "Zip");
            j.kv_open_arr("architectures");
            j.str("arm64");
            j.close_arr();
        })
    }

    fn ecs_task_params(
        &mut self,
        account: &str,
        region: &str,
        task_role: &str,
        exec_role: &str,
    ) -> Vec<u8> {
        let family = *self.r.pick(&["orders-api", "payments-worker", "reporting"]);
        let image = format!(
            "{account}.dkr.ecr.{region}.amazonaws.com/{family}:1.{}.{}",
            self.r.below(9),
            self.r.below(20)
        );
        obj(|j| {
            j.kv("family", family);
            j.kv("taskRoleArn", task_role);
            j.kv("executionRoleArn", exec_role);
            j.kv("networkMode", "awsvpc");
            j.kv_open_arr("containerDefinitions");
            j.open();
            j.kv("name", "app");
            j.kv("image", &image);
            j.kv_num("cpu", 256);
            j.kv_num("memory", 512);
            j.kv_bool("essential", true);
            j.kv_open_arr("portMappings");
            j.open();
            j.kv_num("containerPort", 8080);
            j.kv("protocol", "tcp");
            j.close();
            j.close_arr();
            j.close();
            j.close_arr();
            j.kv_open_arr("requiresCompatibilities");
            j.str("FARGATE");
            j.close_arr();
            j.kv("cpu", "256");
            j.kv("memory", "512");
        })
    }

    fn run_instances_params(&mut self, profile_arn: &str) -> Vec<u8> {
        let ami = format!("ami-0{}", self.r.hex(16));
        let token = self.r.uuid().to_uppercase();
        obj(|j| {
            j.kv_open("instancesSet");
            j.kv_open_arr("items");
            j.open();
            j.kv("imageId", &ami);
            j.kv_num("minCount", 1);
            j.kv_num("maxCount", 1);
            j.close();
            j.close_arr();
            j.close();
            j.kv("instanceType", "t3.micro");
            j.kv_raw("blockDeviceMapping", "{}");
            j.kv_open("monitoring");
            j.kv_bool("enabled", false);
            j.close();
            j.kv_bool("disableApiTermination", false);
            j.kv("clientToken", &token);
            j.kv_open("iamInstanceProfile");
            j.kv("arn", profile_arn);
            j.close();
            j.kv_bool("ebsOptimized", false);
        })
    }

    fn encoded_failure(&mut self) -> String {
        let n = self.r.range(420, 640) as usize;
        self.r.b64url(n)
    }

    fn policy_arn(&mut self, p: Pol, account: &str) -> Option<String> {
        let id = self.r.alnum(8).to_lowercase();
        match p {
            Pol::Scp => Some(format!(
                "arn:aws:organizations::{}:policy/{}/service_control_policy/p-{id}",
                self.world.org_mgmt, self.world.org_id
            )),
            Pol::Rcp => Some(format!(
                "arn:aws:organizations::{}:policy/{}/resource_control_policy/p-{id}",
                self.world.org_mgmt, self.world.org_id
            )),
            Pol::Identity if self.r.chance(0.5) => Some(format!(
                "arn:aws:iam::{account}:policy/DenyOutsideBusinessUnit"
            )),
            _ => None,
        }
    }

    /// A message tail for `caller`, with the weights of real traffic.
    fn tail(&mut self, caller: &Caller, resource_policy_ok: bool) -> Tail {
        let k = self.r.weighted(&[40, 10, 8, 7, 6, 5, 2, 8, 5, 4, 6, 2, 2]);
        let acct = caller.p.account.clone();
        let t = match k {
            0 => Tail::Implicit(Pol::Identity),
            1 => Tail::None,
            2 => Tail::Implicit(Pol::Boundary),
            3 => Tail::Implicit(Pol::Session),
            4 => Tail::Implicit(Pol::Resource),
            5 => Tail::Implicit(Pol::Vpce),
            6 => Tail::Implicit(Pol::Scp),
            7 => Tail::Explicit(Pol::Scp, None),
            8 => Tail::Explicit(Pol::Boundary, None),
            9 => Tail::Explicit(Pol::Rcp, None),
            10 => Tail::Explicit(Pol::Identity, None),
            11 => Tail::Explicit(Pol::Resource, None),
            _ => Tail::Explicit(Pol::Vpce, None),
        };
        match t {
            Tail::Implicit(Pol::Session) if caller.p.kind != Kind::Role => {
                Tail::Implicit(Pol::Identity)
            }
            Tail::Implicit(Pol::Resource) | Tail::Explicit(Pol::Resource, _)
                if !resource_policy_ok =>
            {
                Tail::Implicit(Pol::Identity)
            }
            Tail::Explicit(p, None) => {
                let arn = self.policy_arn(p, &acct);
                Tail::Explicit(p, arn)
            }
            t => t,
        }
    }

    fn vpce_for(&mut self, rec: &mut Rec, tail: &Tail) {
        if matches!(
            tail,
            Tail::Implicit(Pol::Vpce) | Tail::Explicit(Pol::Vpce, _)
        ) {
            rec.vpc_endpoint_id = Some(format!("vpce-0{}", self.r.hex(16)));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn denial_truth(
        &self,
        caller: &Caller,
        action: &str,
        resource: Option<String>,
        reason: String,
        via: Option<String>,
        error_code: &str,
        encoded: bool,
        truncated: bool,
        event_id: &str,
    ) -> DenialTruth {
        DenialTruth {
            principal: caller.p.grouped_arn(),
            action: action.to_string(),
            resource,
            reason,
            via,
            error_code: error_code.to_string(),
            encoded,
            truncated,
            default_scope: in_default_scope(action),
            event_id: Some(event_id.to_string()),
        }
    }

    // ----- denials ---------------------------------------------------------

    fn denial(&mut self, pair_ok: bool) -> DenialEvent {
        let k = self
            .r
            .weighted(&[38, 10, 6, 4, 2, 2, 2, 4, 8, 5, 5, 5, 4, 3]);
        match k {
            0 => self.deny_codeguru(false),
            1 => self.deny_passrole_lambda(),
            2 => self.deny_passrole_ecs(),
            3 => self.deny_passrole_ec2(),
            4 => self.deny_passrole_truncated(),
            5 => self.deny_s3_truncated(),
            6 => self.deny_codeguru(true),
            7 => self.deny_ec2_encoded(),
            8 => self.deny_s3_bare(),
            9 => self.deny_kms(),
            10 => self.deny_dynamodb(),
            11 if pair_ok => self.deny_assume_role_cross_account(),
            12 => self.deny_create_access_key(),
            _ => self.deny_lambda_no_message(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn simple_denial(
        &mut self,
        caller: Caller,
        mut rec: Rec,
        error_code: &'static str,
        action: &str,
        resource: Option<String>,
        tail: Tail,
        via: Option<String>,
    ) -> DenialEvent {
        self.vpce_for(&mut rec, &tail);
        let msg = denial_message(&caller.message_arn(), action, resource.as_deref(), &tail);
        let (msg, truncated) = limit_message(msg);
        rec.error_code = Some(error_code);
        rec.error_message = Some(msg);
        rec.response = None;
        let truth = self.denial_truth(
            &caller,
            action,
            resource,
            tail.reason_code(),
            via,
            error_code,
            false,
            truncated,
            &rec.event_id,
        );
        DenialEvent {
            rec,
            truth,
            pair_account: None,
        }
    }

    fn deny_codeguru(&mut self, root: bool) -> DenialEvent {
        const APIS: [&str; 10] = [
            "DescribeProfilingGroup",
            "ConfigureAgent",
            "PostAgentProfile",
            "ListProfilingGroups",
            "CreateProfilingGroup",
            "GetRecommendations",
            "GetProfile",
            "BatchGetFrameMetricData",
            "UpdateProfilingGroup",
            "DeleteProfilingGroup",
        ];
        let api = if root {
            "CreateProfilingGroup"
        } else {
            APIS[self.r.weighted(&[20, 25, 20, 8, 6, 6, 6, 3, 3, 3])]
        };
        let caller = if root {
            let acct = self.r.pick(&self.world.accounts).clone();
            self.world.root(&acct, &mut self.r)
        } else if matches!(api, "ConfigureAgent" | "PostAgentProfile") {
            self.world.role_caller(&mut self.r)
        } else {
            self.world.caller(&mut self.r)
        };
        let mut rec = self.base(
            Identity::Caller(caller.clone()),
            "codeguru-profiler.amazonaws.com",
            api,
        );
        rec.read_only = matches!(
            api,
            "DescribeProfilingGroup" | "ListProfilingGroups" | "GetRecommendations" | "GetProfile"
        );
        let pg = self.pg_name();
        let resource = if api == "ListProfilingGroups" {
            None
        } else {
            Some(Self::pg_arn(rec.region, &caller.p.account, pg))
        };
        rec.request = Some(self.codeguru_params(api, pg));
        let tail = if root {
            let arn = self.policy_arn(Pol::Scp, &caller.p.account);
            Tail::Explicit(Pol::Scp, arn)
        } else {
            let agent = matches!(api, "ConfigureAgent" | "PostAgentProfile");
            self.tail(&caller, agent)
        };
        let action = format!("codeguru-profiler:{api}");
        self.simple_denial(
            caller,
            rec,
            "AccessDeniedException",
            &action,
            resource,
            tail,
            None,
        )
    }

    fn codeguru_params(&mut self, api: &str, pg: &str) -> Vec<u8> {
        match api {
            "ListProfilingGroups" => obj(|j| {
                j.kv_bool("includeDescription", true);
                j.kv_num("maxResults", 100);
            }),
            "ConfigureAgent" => {
                let fleet = format!("i-0{}", self.r.hex(16));
                obj(|j| {
                    j.kv("profilingGroupName", pg);
                    j.kv("fleetInstanceId", &fleet);
                    j.kv_open("metadata");
                    j.kv("ComputePlatform", "AWSEC2");
                    j.kv("AgentId", "CodeGuruProfilerJavaAgent/1.2.3");
                    j.close();
                })
            }
            "PostAgentProfile" => {
                let token = self.r.uuid();
                obj(|j| {
                    j.kv("profilingGroupName", pg);
                    j.kv("contentType", "application/json");
                    j.kv("profileToken", &token);
                })
            }
            "CreateProfilingGroup" => {
                let token = self.r.uuid();
                obj(|j| {
                    j.kv("profilingGroupName", pg);
                    j.kv("computePlatform", "Default");
                    j.kv("clientToken", &token);
                    j.kv_open("agentOrchestrationConfig");
                    j.kv_bool("profilingEnabled", true);
                    j.close();
                })
            }
            "GetRecommendations" | "GetProfile" | "BatchGetFrameMetricData" => {
                let end = self.now_ms;
                obj(|j| {
                    j.kv("profilingGroupName", pg);
                    j.kv_time("startTime", end - 3_600_000);
                    j.kv_time("endTime", end);
                    j.kv("locale", "en-US");
                })
            }
            _ => obj(|j| j.kv("profilingGroupName", pg)),
        }
    }

    /// A role to pass: in the caller's account, sometimes another one.
    fn passed_role(&mut self, account: &str) -> String {
        let name = *self.r.pick(&[
            "lambda-exec",
            "ecsTaskExecutionRole",
            "orders-api-task",
            "EC2-SSM-Instance",
            "données-pipeline",
        ]);
        let path = *self
            .r
            .pick(&["", "", "service-role/", "application/orders/"]);
        let acct: String = if self.r.chance(0.1) {
            self.world.other_account(account, &mut self.r).to_string()
        } else {
            account.to_string()
        };
        format!("arn:aws:iam::{acct}:role/{path}{name}")
    }

    fn passrole_tail(&mut self, caller: &Caller) -> Tail {
        match self.r.weighted(&[70, 10, 8, 6, 6]) {
            0 => Tail::Implicit(Pol::Identity),
            1 => Tail::None,
            2 => Tail::Implicit(Pol::Boundary),
            3 => {
                let arn = self.policy_arn(Pol::Scp, &caller.p.account);
                Tail::Explicit(Pol::Scp, arn)
            }
            _ => Tail::Explicit(Pol::Boundary, None),
        }
    }

    fn deny_passrole_lambda(&mut self) -> DenialEvent {
        let (api, via) = if self.r.chance(0.8) {
            ("CreateFunction20150331", "lambda:CreateFunction")
        } else {
            (
                "UpdateFunctionConfiguration20150331v2",
                "lambda:UpdateFunctionConfiguration",
            )
        };
        let (caller, mut rec) = self.caller_rec("lambda.amazonaws.com", api);
        let role = self.passed_role(&caller.p.account);
        rec.request = Some(self.lambda_create_params(&role));
        let tail = self.passrole_tail(&caller);
        self.simple_denial(
            caller,
            rec,
            "AccessDeniedException",
            "iam:PassRole",
            Some(role),
            tail,
            Some(via.to_string()),
        )
    }

    fn deny_passrole_ecs(&mut self) -> DenialEvent {
        let (caller, mut rec) = self.caller_rec("ecs.amazonaws.com", "RegisterTaskDefinition");
        let task = self.passed_role(&caller.p.account);
        let exec = format!(
            "arn:aws:iam::{}:role/ecsTaskExecutionRole",
            caller.p.account
        );
        rec.request = Some(self.ecs_task_params(&caller.p.account, rec.region, &task, &exec));
        let denied = if self.r.chance(0.7) { task } else { exec };
        let tail = self.passrole_tail(&caller);
        self.simple_denial(
            caller,
            rec,
            "AccessDeniedException",
            "iam:PassRole",
            Some(denied),
            tail,
            Some("ecs:RegisterTaskDefinition".to_string()),
        )
    }

    /// EC2's newer form: the plain reason, then the encoded message.
    fn deny_passrole_ec2(&mut self) -> DenialEvent {
        let (caller, mut rec) = self.caller_rec("ec2.amazonaws.com", "RunInstances");
        let role = self.passed_role(&caller.p.account);
        let (role_acct, role_name) = role
            .strip_prefix("arn:aws:iam::")
            .and_then(|r| r.split_once(":role/"))
            .map(|(a, n)| (a.to_string(), n.rsplit('/').next().unwrap_or(n).to_string()))
            .unwrap_or_default();
        let profile = format!("arn:aws:iam::{role_acct}:instance-profile/{role_name}");
        rec.request = Some(self.run_instances_params(&profile));
        let tail = Tail::Implicit(Pol::Identity);
        let inner = denial_message(&caller.message_arn(), "iam:PassRole", Some(&role), &tail);
        let enc = self.encoded_failure();
        let msg = format!(
            "You are not authorized to perform this operation. {inner}. Encoded authorization failure message: {enc}"
        );
        let (msg, truncated) = limit_message(msg);
        rec.error_code = Some("Client.UnauthorizedOperation");
        rec.error_message = Some(msg);
        let truth = self.denial_truth(
            &caller,
            "iam:PassRole",
            Some(role),
            tail.reason_code(),
            Some("ec2:RunInstances".to_string()),
            "Client.UnauthorizedOperation",
            true,
            truncated,
            &rec.event_id,
        );
        DenialEvent {
            rec,
            truth,
            pair_account: None,
        }
    }

    /// Only the encoded message: the action is the API called.
    fn deny_ec2_encoded(&mut self) -> DenialEvent {
        let api = *self.r.pick(&[
            "RunInstances",
            "TerminateInstances",
            "StopInstances",
            "GetPasswordData",
            "CreateTags",
        ]);
        let (caller, mut rec) = self.caller_rec("ec2.amazonaws.com", api);
        if api == "RunInstances" {
            let profile = format!(
                "arn:aws:iam::{}:instance-profile/EC2-SSM-Instance",
                caller.p.account
            );
            rec.request = Some(self.run_instances_params(&profile));
        } else {
            let id = format!("i-0{}", self.r.hex(16));
            rec.request = Some(obj(|j| {
                j.kv_open("instancesSet");
                j.kv_open_arr("items");
                j.open();
                j.kv("instanceId", &id);
                j.close();
                j.close_arr();
                j.close();
            }));
        }
        let enc = self.encoded_failure();
        rec.error_code = Some("Client.UnauthorizedOperation");
        rec.error_message = Some(format!(
            "You are not authorized to perform this operation. Encoded authorization failure message: {enc}"
        ));
        let action = format!("ec2:{api}");
        let mut truth = self.denial_truth(
            &caller,
            &action,
            None,
            "unknown".to_string(),
            None,
            "Client.UnauthorizedOperation",
            true,
            false,
            &rec.event_id,
        );
        // The request passes an instance profile and the message names no
        // action: iam:PassRole is the usual cause, so the default scope
        // keeps it (`Scope::matches_denial`).
        truth.default_scope |= api == "RunInstances";
        DenialEvent {
            rec,
            truth,
            pair_account: None,
        }
    }

    fn long_path(&mut self, min_len: usize) -> String {
        const SEGS: [&str; 6] = [
            "organization-wide",
            "business-unit-retail",
            "platform-engineering",
            "team-checkout-services",
            "environment-production",
            "cost-center-4711",
        ];
        let mut p = String::new();
        while p.len() < min_len {
            p.push_str(self.r.pick::<&str>(&SEGS));
            p.push('/');
        }
        p
    }

    /// A user with a long IAM path passing a role with a long path: the
    /// message runs past 1024 characters and is cut.
    fn deny_passrole_truncated(&mut self) -> DenialEvent {
        let account = self.r.pick(&self.world.accounts).clone();
        let user_path = self.long_path(380);
        let role_path = self.long_path(480);
        let p = super::identity::Principal {
            kind: Kind::User,
            account: account.clone(),
            path: user_path,
            name: "release-manager".to_string(),
            unique_id: format!("AIDA{}", self.r.b32(17)),
        };
        let caller = self.world.caller_for(p, &mut self.r);
        let mut rec = self.base(
            Identity::Caller(caller.clone()),
            "lambda.amazonaws.com",
            "CreateFunction20150331",
        );
        let role = format!("arn:aws:iam::{account}:role/{role_path}lambda-exec");
        rec.request = Some(self.lambda_create_params(&role));
        self.simple_denial(
            caller,
            rec,
            "AccessDeniedException",
            "iam:PassRole",
            Some(role),
            Tail::Implicit(Pol::Identity),
            Some("lambda:CreateFunction".to_string()),
        )
    }

    /// S3's enhanced message quotes the resource; a long key makes it run
    /// past 1024 characters.
    fn deny_s3_truncated(&mut self) -> DenialEvent {
        let (caller, mut rec) = self.caller_rec("s3.amazonaws.com", "PutObject");
        let bucket = *self.r.pick(&BUCKETS);
        let mut key = String::from("archive/");
        while key.chars().count() < 900 {
            key.push_str(self.r.pick::<&str>(&[
                "überweisungen/",
                "日本語のファイル/",
                "very-long-directory-name/",
                "2024-05-01/",
            ]));
        }
        key.push_str("data.csv");
        self.s3_object(&mut rec, bucket, &key);
        let arn = format!("arn:aws:s3:::{bucket}/{key}");
        let quoted = format!("\"{arn}\"");
        let tail = Tail::Implicit(Pol::Identity);
        let msg = denial_message(&caller.message_arn(), "s3:PutObject", Some(&quoted), &tail);
        let (msg, truncated) = limit_message(msg);
        rec.error_code = Some("AccessDenied");
        rec.error_message = Some(msg);
        let truth = self.denial_truth(
            &caller,
            "s3:PutObject",
            Some(arn),
            tail.reason_code(),
            None,
            "AccessDenied",
            false,
            truncated,
            &rec.event_id,
        );
        DenialEvent {
            rec,
            truth,
            pair_account: None,
        }
    }

    fn deny_s3_bare(&mut self) -> DenialEvent {
        let api = *self.r.pick(&[
            "GetObject",
            "GetObject",
            "PutObject",
            "DeleteObject",
            "GetBucketPolicy",
            "PutBucketPolicy",
        ]);
        let (caller, mut rec) = self.caller_rec("s3.amazonaws.com", api);
        let bucket = *self.r.pick(&BUCKETS);
        let resource = if api.ends_with("Object") {
            let key = *self.r.pick(&S3_KEYS);
            self.s3_object(&mut rec, bucket, key);
            format!("arn:aws:s3:::{bucket}/{key}")
        } else {
            let host = format!("{bucket}.s3.{}.amazonaws.com", rec.region);
            rec.request = Some(obj(|j| {
                j.kv("bucketName", bucket);
                j.kv("Host", &host);
                j.kv("policy", "");
            }));
            rec.additional = Some(self.s3_additional(0, 0));
            format!("arn:aws:s3:::{bucket}")
        };
        rec.error_code = Some("AccessDenied");
        rec.error_message = Some("Access Denied".to_string());
        let action = format!("s3:{api}");
        let truth = self.denial_truth(
            &caller,
            &action,
            Some(resource),
            "unknown".to_string(),
            None,
            "AccessDenied",
            false,
            false,
            &rec.event_id,
        );
        DenialEvent {
            rec,
            truth,
            pair_account: None,
        }
    }

    fn deny_kms(&mut self) -> DenialEvent {
        let api = *self
            .r
            .pick(&["Decrypt", "Decrypt", "GenerateDataKey", "Encrypt"]);
        let (caller, mut rec) = self.caller_rec("kms.amazonaws.com", api);
        let key = format!(
            "arn:aws:kms:{}:{}:key/{}",
            rec.region,
            caller.p.account,
            self.r.uuid()
        );
        rec.request = Some(obj(|j| {
            j.kv("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
            j.kv_open("encryptionContext");
            j.kv(
                "aws:s3:arn",
                "arn:aws:s3:::orders-artifacts-prod/config/settings.json",
            );
            j.close();
            if api != "Decrypt" {
                j.kv("keyId", &key);
            }
        }));
        let acct = caller.p.account.clone();
        rec.resources = Some(resources(&[("AWS::KMS::Key", &key, &acct)]));
        let tail = if self.r.chance(0.7) {
            Tail::Implicit(Pol::Resource)
        } else {
            Tail::Implicit(Pol::Identity)
        };
        let action = format!("kms:{api}");
        self.simple_denial(
            caller,
            rec,
            "AccessDeniedException",
            &action,
            Some(key),
            tail,
            None,
        )
    }

    fn deny_dynamodb(&mut self) -> DenialEvent {
        let api = *self
            .r
            .pick(&["PutItem", "GetItem", "Query", "UpdateItem", "DescribeTable"]);
        let (caller, mut rec) = self.caller_rec("dynamodb.amazonaws.com", api);
        let table = *self.r.pick(&TABLES);
        rec.data_event = api != "DescribeTable";
        rec.request = Some(obj(|j| {
            j.kv("tableName", table);
            if api != "DescribeTable" {
                j.kv_open("key");
                j.kv_open("pk");
                j.kv("S", "ORDER#2024-05-01#8812");
                j.close();
                j.close();
            }
        }));
        let arn = format!(
            "arn:aws:dynamodb:{}:{}:table/{table}",
            rec.region, caller.p.account
        );
        let tail = self.tail(&caller, true);
        let action = format!("dynamodb:{api}");
        self.simple_denial(
            caller,
            rec,
            "AccessDeniedException",
            &action,
            Some(arn),
            tail,
            None,
        )
    }

    /// A role in one account denied `sts:AssumeRole` on a role in another:
    /// both accounts' trails get the record, with one `sharedEventID`.
    fn deny_assume_role_cross_account(&mut self) -> DenialEvent {
        let (caller, mut rec) = self.caller_rec("sts.amazonaws.com", "AssumeRole");
        let other = self.world.other_account(&caller.p.account, &mut self.r);
        let target = format!(
            "arn:aws:iam::{other}:role/{}",
            self.r.pick(&[
                "OrganizationAccountAccessRole",
                "CrossAccountReadOnly",
                "audit-reader"
            ])
        );
        let session = format!("cross-{}", self.r.digits(10));
        rec.request = Some(obj(|j| {
            j.kv("roleArn", &target);
            j.kv("roleSessionName", &session);
            j.kv_num("durationSeconds", 3600);
        }));
        let mut ev = self.simple_denial(
            caller,
            rec,
            "AccessDenied",
            "sts:AssumeRole",
            Some(target),
            Tail::None,
            None,
        );
        ev.pair_account = Some(other);
        ev
    }

    fn deny_create_access_key(&mut self) -> DenialEvent {
        let (caller, mut rec) = self.caller_rec("iam.amazonaws.com", "CreateAccessKey");
        rec.region = "us-east-1";
        let target = if caller.p.kind == Kind::User && self.r.chance(0.5) {
            caller.p.name.clone()
        } else {
            format!(
                "svc-{}",
                self.r.pick(&["backup", "reporting", "legacy-ftp"])
            )
        };
        rec.request = Some(obj(|j| j.kv("userName", &target)));
        let resource = format!("user {target}");
        self.simple_denial(
            caller,
            rec,
            "AccessDenied",
            "iam:CreateAccessKey",
            Some(resource),
            Tail::Implicit(Pol::Identity),
            None,
        )
    }

    /// Lambda sometimes records no message: the action comes from the
    /// versioned API name.
    fn deny_lambda_no_message(&mut self) -> DenialEvent {
        let api = *self.r.pick(&[
            "GetFunction20150331v2",
            "ListFunctions20150331",
            "CreateFunction20150331",
            "UpdateFunctionCode20150331v2",
            "AddPermission20150331v2",
        ]);
        let (caller, mut rec) = self.caller_rec("lambda.amazonaws.com", api);
        let fname = format!("{}-handler", self.r.pick(&["orders", "etl"]));
        rec.request = Some(if api.starts_with("List") {
            obj(|j| j.kv_num("maxItems", 50))
        } else {
            obj(|j| j.kv("functionName", &fname))
        });
        rec.error_code = Some("AccessDeniedException");
        let action = format!("lambda:{}", strip_api_version(api));
        let truth = self.denial_truth(
            &caller,
            &action,
            None,
            "unknown".to_string(),
            None,
            "AccessDeniedException",
            false,
            false,
            &rec.event_id,
        );
        DenialEvent {
            rec,
            truth,
            pair_account: None,
        }
    }

    // ----- allowed calls ---------------------------------------------------

    fn allowed(&mut self) -> Rec {
        let k = self.r.weighted(&[
            8, 4, 3, 10, 2, 6, 8, 8, 3, 4, 1, 8, 8, 7, 2, 4, 5, 6, 1, 10, 2, 1,
        ]);
        match k {
            0 | 1 => {
                let api = if k == 0 { "GetObject" } else { "PutObject" };
                let (_, mut rec) = self.caller_rec("s3.amazonaws.com", api);
                let bucket = *self.r.pick(&BUCKETS);
                let key = *self.r.pick(&S3_KEYS);
                self.s3_object(&mut rec, bucket, key);
                rec
            }
            2 => {
                let (_, mut rec) = self.caller_rec("s3.amazonaws.com", "GetBucketAcl");
                let bucket = *self.r.pick(&BUCKETS);
                let host = format!("{bucket}.s3.{}.amazonaws.com", rec.region);
                rec.request = Some(obj(|j| {
                    j.kv("bucketName", bucket);
                    j.kv("Host", &host);
                    j.kv("acl", "");
                }));
                rec.additional = Some(self.s3_additional(0, 552));
                let acct = rec.recipient.clone();
                rec.resources = Some(resources(&[(
                    "AWS::S3::Bucket",
                    &format!("arn:aws:s3:::{bucket}"),
                    &acct,
                )]));
                rec
            }
            3 => {
                let (_, mut rec) = self.caller_rec("ec2.amazonaws.com", "DescribeInstances");
                let id = format!("i-0{}", self.r.hex(16));
                rec.request = Some(obj(|j| {
                    j.kv_open("instancesSet");
                    j.kv_open_arr("items");
                    j.open();
                    j.kv("instanceId", &id);
                    j.close();
                    j.close_arr();
                    j.close();
                    j.kv_open("filterSet");
                    j.kv_open_arr("items");
                    j.open();
                    j.kv("name", "instance-state-name");
                    j.kv_open("valueSet");
                    j.kv_open_arr("items");
                    j.open();
                    j.kv("value", "running");
                    j.close();
                    j.open();
                    j.kv("value", "pending");
                    j.close();
                    j.close_arr();
                    j.close();
                    j.close();
                    j.close_arr();
                    j.close();
                }));
                rec
            }
            4 => {
                let (c, mut rec) = self.caller_rec("ec2.amazonaws.com", "RunInstances");
                let profile = format!(
                    "arn:aws:iam::{}:instance-profile/EC2-SSM-Instance",
                    c.p.account
                );
                rec.request = Some(self.run_instances_params(&profile));
                let id = format!("i-0{}", self.r.hex(16));
                let res = format!("r-0{}", self.r.hex(16));
                let acct = c.p.account.clone();
                rec.response = Some(obj(|j| {
                    j.kv("requestId", "");
                    j.kv("reservationId", &res);
                    j.kv("ownerId", &acct);
                    j.kv_open("instancesSet");
                    j.kv_open_arr("items");
                    j.open();
                    j.kv("instanceId", &id);
                    j.kv("imageId", "ami-0abcdef1234567890");
                    j.kv_open("instanceState");
                    j.kv_num("code", 0);
                    j.kv("name", "pending");
                    j.close();
                    j.kv("instanceType", "t3.micro");
                    j.close();
                    j.close_arr();
                    j.close();
                }));
                rec
            }
            5 => self.allowed_assume_role(false),
            6 => {
                let (_, mut rec) = self.caller_rec("sts.amazonaws.com", "GetCallerIdentity");
                rec.read_only = true;
                rec
            }
            7 | 8 => {
                let api = if k == 7 { "Decrypt" } else { "GenerateDataKey" };
                let (c, mut rec) = if self.r.chance(0.3) {
                    let svc = *self.r.pick(&SERVICES);
                    let c = self.world.caller(&mut self.r);
                    let mut rec = self.base(Identity::Caller(c.clone()), "kms.amazonaws.com", api);
                    rec.invoked_by = Some(svc);
                    rec.ip = svc.to_string();
                    rec.ua = svc.to_string();
                    rec.tls = false;
                    (c, rec)
                } else {
                    self.caller_rec("kms.amazonaws.com", api)
                };
                let key = format!(
                    "arn:aws:kms:{}:{}:key/{}",
                    rec.region,
                    c.p.account,
                    self.r.uuid()
                );
                rec.request = Some(obj(|j| {
                    j.kv("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
                    j.kv_open("encryptionContext");
                    j.kv(
                        "aws:lambda:FunctionArn",
                        "arn:aws:lambda:us-east-1:123456789012:function:orders-handler",
                    );
                    j.close();
                    if api != "Decrypt" {
                        j.kv("keyId", &key);
                        j.kv("keySpec", "AES_256");
                    }
                }));
                rec.read_only = true;
                let acct = c.p.account.clone();
                rec.resources = Some(resources(&[("AWS::KMS::Key", &key, &acct)]));
                rec
            }
            9 => {
                let api = *self
                    .r
                    .pick(&["ListFunctions20150331", "GetFunction20150331v2"]);
                let (_, mut rec) = self.caller_rec("lambda.amazonaws.com", api);
                rec.read_only = true;
                rec.request = Some(if api.starts_with("List") {
                    obj(|j| j.kv_num("maxItems", 50))
                } else {
                    obj(|j| j.kv("functionName", "orders-handler"))
                });
                rec
            }
            10 => {
                let (c, mut rec) =
                    self.caller_rec("lambda.amazonaws.com", "CreateFunction20150331");
                let role = format!("arn:aws:iam::{}:role/service-role/lambda-exec", c.p.account);
                rec.request = Some(self.lambda_create_params(&role));
                let arn = format!(
                    "arn:aws:lambda:{}:{}:function:orders-handler",
                    rec.region, c.p.account
                );
                rec.response = Some(obj(|j| {
                    j.kv("functionName", "orders-handler");
                    j.kv("functionArn", &arn);
                    j.kv("runtime", "python3.12");
                    j.kv("role", &role);
                    j.kv("handler", "app.handler");
                    j.kv_num("codeSize", 48213);
                    j.kv("state", "Pending");
                    j.kv("stateReason", "The function is being created.");
                }));
                rec
            }
            11 => {
                let api = *self.r.pick(&["GetMetricData", "DescribeAlarms"]);
                let (_, mut rec) = self.caller_rec("monitoring.amazonaws.com", api);
                let end = self.now_ms;
                rec.request = Some(if api == "GetMetricData" {
                    obj(|j| {
                        j.kv_open_arr("metricDataQueries");
                        j.open();
                        j.kv("id", "m1");
                        j.kv_open("metricStat");
                        j.kv_open("metric");
                        j.kv("namespace", "AWS/Lambda");
                        j.kv("metricName", "Errors");
                        j.close();
                        j.kv_num("period", 300);
                        j.kv("stat", "Sum");
                        j.close();
                        j.close();
                        j.close_arr();
                        j.kv_time("startTime", end - 10_800_000);
                        j.kv_time("endTime", end);
                    })
                } else {
                    obj(|j| {
                        j.kv("alarmNamePrefix", "orders-");
                        j.kv_num("maxRecords", 100);
                    })
                });
                rec
            }
            12..=14 => {
                let api = match k {
                    12 => "ConfigureAgent",
                    13 => "PostAgentProfile",
                    _ => *self
                        .r
                        .pick(&["ListProfilingGroups", "DescribeProfilingGroup"]),
                };
                let c = if k == 14 {
                    self.world.caller(&mut self.r)
                } else {
                    self.world.role_caller(&mut self.r)
                };
                let mut rec = self.base(
                    Identity::Caller(c.clone()),
                    "codeguru-profiler.amazonaws.com",
                    api,
                );
                let pg = self.pg_name();
                rec.request = Some(self.codeguru_params(api, pg));
                if api == "ConfigureAgent" {
                    rec.ua = PROFILER_AGENT_UA.to_string();
                    rec.response = Some(obj(|j| {
                        j.kv_open("configuration");
                        j.kv_bool("shouldProfile", true);
                        j.kv_num("periodInSeconds", 300);
                        j.kv_open("agentParameters");
                        j.kv("SamplingIntervalInMilliseconds", "1000");
                        j.kv("ReportingIntervalInMilliseconds", "300000");
                        j.kv("MaxStackDepth", "1000");
                        j.kv("MinimumTimeForReportingInMilliseconds", "60000");
                        j.kv("MemoryUsageLimitPercent", "10");
                        j.close();
                        j.close();
                    }));
                }
                let arn = Self::pg_arn(rec.region, &c.p.account, pg);
                let acct = c.p.account.clone();
                if api != "ListProfilingGroups" {
                    rec.resources = Some(resources(&[(
                        "AWS::CodeGuruProfiler::ProfilingGroup",
                        &arn,
                        &acct,
                    )]));
                }
                rec
            }
            15 => {
                let api = *self
                    .r
                    .pick(&["GetRole", "ListRoles", "ListAttachedRolePolicies"]);
                let (_, mut rec) = self.caller_rec("iam.amazonaws.com", api);
                rec.region = "us-east-1";
                rec.request = Some(if api == "ListRoles" {
                    obj(|j| j.kv("pathPrefix", "/service-role/"))
                } else {
                    obj(|j| j.kv("roleName", "orders-api-task"))
                });
                rec
            }
            16 => {
                let (_, mut rec) = self.caller_rec("ssm.amazonaws.com", "GetParameter");
                rec.request = Some(obj(|j| {
                    j.kv("name", "/orders-api/prod/db-endpoint");
                    j.kv_bool("withDecryption", true);
                }));
                rec
            }
            17 => {
                let (_, mut rec) = self.caller_rec("logs.amazonaws.com", "CreateLogStream");
                let stream = format!("2024/05/01/[$LATEST]{}", self.r.hex(32));
                rec.request = Some(obj(|j| {
                    j.kv("logGroupName", "/aws/lambda/orders-handler");
                    j.kv("logStreamName", &stream);
                }));
                rec
            }
            18 => {
                let (c, mut rec) = self.caller_rec("ecs.amazonaws.com", "RegisterTaskDefinition");
                let task = format!("arn:aws:iam::{}:role/orders-api-task", c.p.account);
                let exec = format!("arn:aws:iam::{}:role/ecsTaskExecutionRole", c.p.account);
                rec.request = Some(self.ecs_task_params(&c.p.account, rec.region, &task, &exec));
                rec
            }
            19 => self.allowed_service(),
            20 => self.allowed_from_other_account(),
            _ => {
                let acct = self.r.pick(&self.world.accounts).clone();
                let c = self.world.root(&acct, &mut self.r);
                let mut rec = self.base(Identity::Caller(c), "iam.amazonaws.com", "ListUsers");
                rec.region = "us-east-1";
                rec.ua = "AWS Internal".to_string();
                rec.request = Some(obj(|j| j.kv_num("maxItems", 100)));
                rec
            }
        }
    }

    fn allowed_assume_role(&mut self, cross: bool) -> Rec {
        let (c, mut rec) = self.caller_rec("sts.amazonaws.com", "AssumeRole");
        let target_acct = if cross {
            self.world.other_account(&c.p.account, &mut self.r)
        } else {
            c.p.account.clone()
        };
        let target_role =
            *self
                .r
                .pick(&["orders-api-task", "CrossAccountReadOnly", "ProfilerRole"]);
        let role = format!("arn:aws:iam::{target_acct}:role/{target_role}");
        let session = format!("botocore-session-{}", self.r.digits(10));
        let key = format!("ASIA{}", self.r.b32(16));
        let token = self.r.b64url(120);
        let role_id = format!("AROA{}", self.r.b32(17));
        let exp = self.now_ms + 3_600_000;
        rec.request = Some(obj(|j| {
            j.kv("roleArn", &role);
            j.kv("roleSessionName", &session);
            j.kv_num("durationSeconds", 3600);
        }));
        rec.response = Some(obj(|j| {
            j.kv_open("credentials");
            j.kv("accessKeyId", &key);
            j.kv("sessionToken", &token);
            j.key("expiration");
            j.str(&iso8601(exp));
            j.close();
            j.kv_open("assumedRoleUser");
            j.key("assumedRoleId");
            j.str(&format!("{role_id}:{session}"));
            j.key("arn");
            j.str(&format!(
                "arn:aws:sts::{target_acct}:assumed-role/{target_role}/{session}"
            ));
            j.close();
        }));
        let acct = target_acct.to_string();
        rec.resources = Some(resources(&[("AWS::IAM::Role", &role, &acct)]));
        rec
    }

    /// A call made by an AWS service on its own.
    fn allowed_service(&mut self) -> Rec {
        let svc = *self.r.pick(&SERVICES);
        let acct = self.r.pick(&self.world.accounts).clone();
        let mut rec = self.base(Identity::Service(svc), "sts.amazonaws.com", "AssumeRole");
        rec.recipient = acct.clone();
        rec.ip = svc.to_string();
        rec.ua = svc.to_string();
        rec.tls = false;
        let role = format!("arn:aws:iam::{acct}:role/service-role/lambda-exec");
        let session = self.r.digits(13);
        rec.request = Some(obj(|j| {
            j.kv("roleArn", &role);
            j.kv("roleSessionName", &session);
            j.kv_num("durationSeconds", 3600);
        }));
        rec.shared_event_id = Some(self.r.uuid());
        rec.resources = Some(resources(&[("AWS::IAM::Role", &role, &acct)]));
        rec
    }

    /// An allowed call from an account outside ours (`AWSAccount`).
    fn allowed_from_other_account(&mut self) -> Rec {
        let ext = self.r.pick(&self.world.external).clone();
        let pid = format!("AROA{}:reader-{}", self.r.b32(17), self.r.digits(6));
        let mut rec = self.base(
            Identity::Account {
                account: ext,
                principal_id: pid,
            },
            "kms.amazonaws.com",
            "Decrypt",
        );
        let acct = self.world.accounts[0].clone();
        rec.recipient = acct.clone();
        let key = format!("arn:aws:kms:{}:{acct}:key/{}", rec.region, self.r.uuid());
        rec.request = Some(obj(|j| j.kv("encryptionAlgorithm", "SYMMETRIC_DEFAULT")));
        rec.resources = Some(resources(&[("AWS::KMS::Key", &key, &acct)]));
        rec.shared_event_id = Some(self.r.uuid());
        rec.read_only = true;
        rec
    }

    /// An allowed cross-account `AssumeRole`: the caller's trail has the full
    /// identity, the target account's trail an `AWSAccount` caller.
    fn allowed_pair(&mut self) -> GeneratedRecord {
        let mut rec = self.allowed_assume_role(true);
        let shared = self.r.uuid();
        rec.shared_event_id = Some(shared);
        let mut copy = rec.clone();
        copy.event_id = self.r.uuid();
        if let Identity::Caller(c) = &rec.identity {
            copy.identity = Identity::Account {
                account: c.p.account.clone(),
                principal_id: format!("{}:{}", c.p.unique_id, c.session),
            };
        }
        // The target account is the one in the role ARN.
        let target: Option<Arc<str>> = rec
            .request
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.split("arn:aws:iam::").nth(1))
            .and_then(|s| s.get(..12))
            .map(Arc::from);
        copy.recipient = target.unwrap_or_else(|| self.world.external[0].clone());
        let first = self.finish(rec, RecordTruth::of(RecordClass::Allowed));
        let second = self.finish(copy, RecordTruth::of(RecordClass::CrossAccountCopy));
        self.pending.push_back(second);
        first
    }

    // ----- traps, errors, auth failures, insights --------------------------

    /// Allowed calls that carry denial words in their parameters.
    fn trap(&mut self, k: usize) -> Rec {
        match k {
            0 => {
                let (c, mut rec) = self.caller_rec("monitoring.amazonaws.com", "PutMetricAlarm");
                let desc = format!(
                    "Pages on-call when AccessDenied errors spike. Typical message: User: arn:aws:sts::{}:assumed-role/ProfilerRole/i-0abc is not authorized to perform: iam:PassRole",
                    c.p.account
                );
                rec.request = Some(obj(|j| {
                    j.kv("alarmName", "cloudtrail-access-denied-spike");
                    j.kv("alarmDescription", &desc);
                    j.kv_bool("actionsEnabled", true);
                    j.kv("metricName", "AccessDeniedCount");
                    j.kv("namespace", "CloudTrailMetrics");
                    j.kv("statistic", "Sum");
                    j.kv_num("period", 300);
                    j.kv_num("evaluationPeriods", 1);
                    j.kv_num("threshold", 5);
                    j.kv("comparisonOperator", "GreaterThanOrEqualToThreshold");
                }));
                rec
            }
            1 => {
                let (_, mut rec) = self.caller_rec("ssm.amazonaws.com", "PutParameter");
                rec.request = Some(obj(|j| {
                    j.kv("name", "/runbooks/AccessDenied/UnauthorizedOperation");
                    j.kv("description", "What to do when a call fails with 'is not authorized to perform': decode the message, check SCPs");
                    j.kv("type", "String");
                    j.kv_bool("overwrite", true);
                    j.kv("tier", "Standard");
                }));
                rec.response = Some(obj(|j| {
                    j.kv_num("version", 3);
                    j.kv("tier", "Standard");
                }));
                rec
            }
            2 => {
                let (_, mut rec) = self.caller_rec("s3.amazonaws.com", "PutObject");
                let key = "incidents/AccessDenied/UnauthorizedOperation-is not authorized to perform.json";
                self.s3_object(&mut rec, "security-reports", key);
                rec
            }
            3 => {
                let (_, mut rec) = self.caller_rec("logs.amazonaws.com", "PutMetricFilter");
                rec.request = Some(obj(|j| {
                    j.kv("logGroupName", "aws-cloudtrail-logs");
                    j.kv("filterName", "AccessDeniedFilter");
                    j.kv("filterPattern", "{ ($.errorCode = \"*UnauthorizedOperation\") || ($.errorCode = \"AccessDenied*\") }");
                    j.kv_open_arr("metricTransformations");
                    j.open();
                    j.kv("metricName", "AccessDeniedCount");
                    j.kv("metricNamespace", "CloudTrailMetrics");
                    j.kv("metricValue", "1");
                    j.close();
                    j.close_arr();
                }));
                rec
            }
            _ => {
                let (_, mut rec) = self.caller_rec("events.amazonaws.com", "PutRule");
                rec.request = Some(obj(|j| {
                    j.kv("name", "notify-access-denied");
                    j.kv("eventPattern", "{\"detail\":{\"errorCode\":[\"AccessDenied\",\"AccessDeniedException\",\"Client.UnauthorizedOperation\"],\"errorMessage\":[{\"wildcard\":\"*is not authorized to perform*\"}]}}");
                    j.kv("state", "ENABLED");
                }));
                rec.response = Some(obj(|j| {
                    j.kv(
                        "ruleArn",
                        "arn:aws:events:us-east-1:123456789012:rule/notify-access-denied",
                    );
                }));
                rec
            }
        }
    }

    /// Failed calls that are not denials.
    fn other_error(&mut self, k: usize) -> Rec {
        match k {
            0 => {
                let (_, mut rec) = self.caller_rec("iam.amazonaws.com", "GetRole");
                rec.region = "us-east-1";
                rec.request = Some(obj(|j| j.kv("roleName", "legacy-deployer")));
                rec.error_code = Some("NoSuchEntityException");
                rec.error_message =
                    Some("The role with name legacy-deployer cannot be found.".to_string());
                rec
            }
            1 => {
                let (_, mut rec) =
                    self.caller_rec("codeguru-profiler.amazonaws.com", "PostAgentProfile");
                rec.request = Some(self.codeguru_params("PostAgentProfile", "orders-api"));
                rec.error_code = Some("ThrottlingException");
                rec.error_message = Some("Rate exceeded".to_string());
                rec
            }
            2 => {
                let (_, mut rec) =
                    self.caller_rec("codeguru-profiler.amazonaws.com", "CreateProfilingGroup");
                rec.request = Some(self.codeguru_params("CreateProfilingGroup", "orders api"));
                rec.error_code = Some("ValidationException");
                rec.error_message = Some("1 validation error detected: Value 'orders api' at 'profilingGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w-]+$".to_string());
                rec
            }
            3 => {
                let (_, mut rec) =
                    self.caller_rec("codeguru-profiler.amazonaws.com", "DescribeProfilingGroup");
                rec.request =
                    Some(self.codeguru_params("DescribeProfilingGroup", "retired-service"));
                rec.error_code = Some("ResourceNotFoundException");
                rec.error_message =
                    Some("Profiling group 'retired-service' does not exist.".to_string());
                rec
            }
            4 => {
                let (_, mut rec) = self.caller_rec("ec2.amazonaws.com", "RunInstances");
                rec.request = Some(self.run_instances_params(
                    "arn:aws:iam::123456789012:instance-profile/missing-profile",
                ));
                rec.error_code = Some("Client.InvalidParameterValue");
                rec.error_message = Some("Value (missing-profile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name".to_string());
                rec
            }
            5 => {
                let (_, mut rec) = self.caller_rec("s3.amazonaws.com", "GetObject");
                self.s3_object(&mut rec, "orders-artifacts-prod", "builds/missing.jar");
                rec.error_code = Some("NoSuchKey");
                rec.error_message = Some("The specified key does not exist.".to_string());
                rec
            }
            _ => {
                let (c, mut rec) = self.caller_rec("iam.amazonaws.com", "CreateAccessKey");
                rec.region = "us-east-1";
                let name = c.p.name.clone();
                rec.request = Some(obj(|j| j.kv("userName", &name)));
                rec.error_code = Some("LimitExceededException");
                rec.error_message =
                    Some("Cannot exceed quota for AccessKeysPerUser: 2".to_string());
                rec
            }
        }
    }

    fn auth_failure(&mut self, k: usize) -> GeneratedRecord {
        let (code, msg) = [
            (
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            (
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
            (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ),
        ][k.min(2)];
        let mut rec = if code == "InvalidClientTokenId" {
            let acct = self.r.pick(&self.world.accounts).clone();
            let key = format!("AKIA{}", self.r.b32(16));
            let mut rec = self.base(
                Identity::Unknown {
                    account: acct.clone(),
                    access_key: key,
                },
                "sts.amazonaws.com",
                "GetCallerIdentity",
            );
            rec.recipient = acct;
            rec
        } else {
            let api = if code == "ExpiredToken" {
                "ListBuckets"
            } else {
                "GetCallerIdentity"
            };
            let src = if code == "ExpiredToken" {
                "s3.amazonaws.com"
            } else {
                "sts.amazonaws.com"
            };
            self.caller_rec(src, api).1
        };
        rec.error_code = Some(code);
        rec.error_message = Some(msg.to_string());
        let t = RecordTruth {
            class: RecordClass::AuthFailure,
            denial: None,
            auth_error_code: Some(code.to_string()),
        };
        self.finish(rec, t)
    }

    /// An Insight start/end pair (skipped by denytrail, though it names an
    /// `AccessDeniedException` error rate).
    fn insight_pair(&mut self) -> GeneratedRecord {
        let shared = self.r.uuid();
        let acct = self.world.accounts[0].clone();
        let start = self.now_ms;
        let arn = format!(
            "arn:aws:sts::{acct}:assumed-role/ProfilerRole/i-0{}",
            self.r.hex(16)
        );
        let mut out = Vec::new();
        for (state, t) in [("Start", start), ("End", start + 300_000)] {
            let mut j = JsonBuf::with_capacity(1024);
            j.open();
            j.kv("eventVersion", "1.08");
            j.kv_time("eventTime", t);
            j.kv("awsRegion", "us-east-1");
            let id = self.r.uuid();
            j.kv("eventID", &id);
            j.kv("eventType", "AwsCloudTrailInsight");
            j.kv("recipientAccountId", &acct);
            j.kv("sharedEventID", &shared);
            j.kv_open("insightDetails");
            j.kv("state", state);
            j.kv("eventSource", "codeguru-profiler.amazonaws.com");
            j.kv("eventName", "ConfigureAgent");
            j.kv("insightType", "ApiErrorRateInsight");
            j.kv_open("insightContext");
            j.kv_open("statistics");
            j.kv_raw("baseline", "{\"average\":0.0}");
            j.kv_raw("insight", "{\"average\":4.2}");
            if state == "End" {
                j.kv_num("insightDuration", 5);
            }
            j.kv_num("baselineDuration", 10079);
            j.close();
            j.kv_open_arr("attributions");
            for (attr, val) in [
                ("userIdentityArn", arn.as_str()),
                ("userAgent", "CodeGuruProfilerJavaAgent/1.2.3"),
                ("errorCode", "AccessDeniedException"),
            ] {
                j.open();
                j.kv("attribute", attr);
                j.kv_open_arr("insight");
                j.open();
                j.kv("value", val);
                j.kv_raw("average", "4.2");
                j.close();
                j.close_arr();
                j.kv_open_arr("baseline");
                j.close_arr();
                j.close();
            }
            j.close_arr();
            j.close();
            j.close();
            j.kv("eventCategory", "Insight");
            j.close();
            out.push(GeneratedRecord {
                json: j.buf,
                event_time_ms: t,
                account: acct.clone(),
                region: "us-east-1",
                truth: RecordTruth::of(RecordClass::Insight),
            });
        }
        let end = out.pop();
        if let Some(e) = end {
            self.pending.push_back(e);
        }
        out.pop().unwrap_or_else(|| self.unique(1))
    }
}

impl Iterator for Generator {
    type Item = GeneratedRecord;

    fn next(&mut self) -> Option<GeneratedRecord> {
        if self.emitted >= self.total {
            return None;
        }
        let rec = match self.pending.pop_front() {
            Some(r) => r,
            None => {
                let remaining = self.total - self.emitted;
                self.step(remaining)
            }
        };
        self.emitted += 1;
        Some(rec)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.total - self.emitted).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_lambda_api_versions() {
        assert_eq!(
            strip_api_version("CreateFunction20150331"),
            "CreateFunction"
        );
        assert_eq!(strip_api_version("GetFunction20150331v2"), "GetFunction");
        assert_eq!(
            strip_api_version("AddPermission20150331v2"),
            "AddPermission"
        );
        assert_eq!(strip_api_version("GetObject"), "GetObject");
        assert_eq!(strip_api_version("Foo2"), "Foo2");
    }

    #[test]
    fn messages_have_aws_shapes() {
        let m = denial_message(
            "arn:aws:iam::123456789012:user/profiler-viewer",
            "codeguru-profiler:DescribeProfilingGroup",
            Some(
                "arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/my-example-profiling-group",
            ),
            &Tail::Implicit(Pol::Identity),
        );
        assert_eq!(
            m,
            "User: arn:aws:iam::123456789012:user/profiler-viewer is not authorized to perform: codeguru-profiler:DescribeProfilingGroup on resource: arn:aws:codeguru-profiler:us-east-1:123456789012:profilingGroup/my-example-profiling-group because no identity-based policy allows the codeguru-profiler:DescribeProfilingGroup action"
        );
        let m = denial_message("a", "x:Y", None, &Tail::Explicit(Pol::Identity, None));
        assert_eq!(
            m,
            "User: a is not authorized to perform: x:Y with an explicit deny in an identity-based policy"
        );
        let (cut, t) = limit_message("é".repeat(2000));
        assert!(t);
        assert_eq!(cut.chars().count(), 1024);
        assert!(cut.ends_with("..."));
    }
}
