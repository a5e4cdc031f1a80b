//! Who makes the calls: accounts, IAM users and roles (derived from their
//! index, so millions cost nothing), root, AWS services, callers from other
//! accounts; and how each appears in `userIdentity`.

use std::sync::Arc;

use super::json::JsonBuf;
use super::random::{Rand, splitmix64};

/// Regions and their weights.
pub(crate) const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "us-west-2", "ap-northeast-1"];
const REGION_WEIGHTS: [u32; 4] = [55, 20, 15, 10];

/// Named principals first (index 0, 1, …), so small corpora read well.
/// `(is_role, path, name)`.
const NAMED: [(bool, &str, &str); 10] = [
    (true, "", "ProfilerRole"),
    (false, "", "profiler-viewer"),
    (true, "service-role/", "codeguru-profiler-orders"),
    (false, "", "deploy-bot"),
    (
        true,
        "aws-reserved/sso.amazonaws.com/eu-west-1/",
        "AWSReservedSSO_Developer_3f2a9c1d7e8b6a50",
    ),
    (false, "", "jürgen"),
    (true, "", "orders-api-task"),
    (false, "engineering/", "日本-ops"),
    (true, "application/payments/", "lambda-exec"),
    (false, "", "ci-runner"),
];

const USER_BASES: [&str; 10] = [
    "alice",
    "bob",
    "carol",
    "dev",
    "svc-etl",
    "müller",
    "analyst",
    "terraform",
    "東京-admin",
    "ops",
];
const ROLE_BASES: [&str; 10] = [
    "AppRole",
    "ecsTaskExecutionRole",
    "lambda-exec",
    "CodeBuildServiceRole",
    "ProfilerAgentRole",
    "data-pipeline",
    "GitHubActionsDeploy",
    "ReadOnly",
    "batch-worker",
    "EKSNodeRole",
];
const ROLE_PATHS: [&str; 4] = [
    "service-role/",
    "application/orders/",
    "aws-reserved/sso.amazonaws.com/",
    "teams/platform/",
];

/// What kind of IAM principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Role,
    Root,
}

/// One IAM principal of the pool.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub(crate) kind: Kind,
    pub(crate) account: Arc<str>,
    /// IAM path, ending in `/`, or empty.
    pub(crate) path: String,
    pub(crate) name: String,
    /// IAM unique ID (`AIDA…`, `AROA…`).
    pub(crate) unique_id: String,
}

impl Principal {
    /// The principal as grouped: the role ARN for a role, else the caller's ARN.
    pub(crate) fn grouped_arn(&self) -> String {
        match self.kind {
            Kind::User => format!(
                "arn:aws:iam::{}:user/{}{}",
                self.account, self.path, self.name
            ),
            Kind::Role => format!(
                "arn:aws:iam::{}:role/{}{}",
                self.account, self.path, self.name
            ),
            Kind::Root => format!("arn:aws:iam::{}:root", self.account),
        }
    }
}

/// A principal making one call: for a role, with its session name.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) p: Principal,
    /// Role session name (roles only).
    pub(crate) session: String,
    pub(crate) access_key: String,
    pub(crate) console: bool,
}

impl Caller {
    /// The ARN AWS names in messages (`User: <arn> is not authorized …`).
    pub(crate) fn message_arn(&self) -> String {
        match self.p.kind {
            Kind::Role => format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                self.p.account, self.p.name, self.session
            ),
            _ => self.p.grouped_arn(),
        }
    }

    /// `userIdentity`, as CloudTrail writes it.
    pub(crate) fn write_identity(
        &self,
        j: &mut JsonBuf,
        creation_ms: i64,
        invoked_by: Option<&str>,
    ) {
        let p = &self.p;
        j.kv_open("userIdentity");
        match p.kind {
            Kind::User => {
                j.kv("type", "IAMUser");
                j.kv("principalId", &p.unique_id);
                j.kv("arn", &p.grouped_arn());
                j.kv("accountId", &p.account);
                j.kv("accessKeyId", &self.access_key);
                j.kv("userName", &p.name);
                if self.console {
                    j.kv_open("sessionContext");
                    j.kv_raw("sessionIssuer", "{}");
                    j.kv_raw("webIdFederationData", "{}");
                    write_attributes(j, creation_ms, true);
                    j.close();
                }
            }
            Kind::Role => {
                j.kv("type", "AssumedRole");
                j.key("principalId");
                j.str(&format!("{}:{}", p.unique_id, self.session));
                j.kv("arn", &self.message_arn());
                j.kv("accountId", &p.account);
                j.kv("accessKeyId", &self.access_key);
                j.kv_open("sessionContext");
                j.kv_open("sessionIssuer");
                j.kv("type", "Role");
                j.kv("principalId", &p.unique_id);
                j.kv("arn", &p.grouped_arn());
                j.kv("accountId", &p.account);
                j.kv("userName", &p.name);
                j.close();
                j.kv_raw("webIdFederationData", "{}");
                write_attributes(j, creation_ms, false);
                if self.session.starts_with("i-") {
                    j.kv("ec2RoleDelivery", "2.0");
                }
                j.close();
            }
            Kind::Root => {
                j.kv("type", "Root");
                j.kv("principalId", &p.account);
                j.kv("arn", &p.grouped_arn());
                j.kv("accountId", &p.account);
                j.kv("accessKeyId", &self.access_key);
                j.kv_open("sessionContext");
                j.kv_raw("sessionIssuer", "{}");
                j.kv_raw("webIdFederationData", "{}");
                write_attributes(j, creation_ms, true);
                j.close();
            }
        }
        if let Some(by) = invoked_by {
            j.kv("invokedBy", by);
        }
        j.close();
    }
}

fn write_attributes(j: &mut JsonBuf, creation_ms: i64, mfa: bool) {
    j.kv_open("attributes");
    j.kv_time("creationDate", creation_ms);
    j.kv("mfaAuthenticated", if mfa { "true" } else { "false" });
    j.close();
}

/// The accounts and principals of one corpus.
#[derive(Debug)]
pub(crate) struct World {
    seed: u64,
    pub(crate) accounts: Vec<Arc<str>>,
    /// Accounts outside the organization (cross-account callers and targets).
    pub(crate) external: Vec<Arc<str>>,
    /// The organization's management account and ID (SCP/RCP ARNs).
    pub(crate) org_mgmt: String,
    pub(crate) org_id: String,
    principals: u64,
}

fn account_id(h: u64) -> Arc<str> {
    Arc::from(format!("{:012}", 100_000_000_000 + h % 899_999_999_999).as_str())
}

impl World {
    pub(crate) fn new(seed: u64, accounts: u32, principals: u64) -> World {
        let mut st = seed ^ 0x5EED_ACC0_u64;
        let mut list: Vec<Arc<str>> = Vec::with_capacity(accounts as usize);
        list.push(Arc::from("123456789012"));
        while list.len() < accounts as usize {
            let a = account_id(splitmix64(&mut st));
            if !list.contains(&a) {
                list.push(a);
            }
        }
        let mut external: Vec<Arc<str>> =
            vec![Arc::from("444455556666"), Arc::from("999988887777")];
        external.retain(|e| !list.contains(e));
        if external.is_empty() {
            external.push(Arc::from("000011112222"));
        }
        let mut r = Rand::new(seed, 0x0126);
        World {
            seed,
            accounts: list,
            external,
            org_mgmt: "111122223333".to_string(),
            org_id: format!("o-{}", r.alnum(10).to_lowercase()),
            principals,
        }
    }

    /// Principal number `i` (`0 ≤ i < principals`), the same every time.
    pub(crate) fn principal(&self, i: u64) -> Principal {
        let mut st = self.seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x9121_C1A1;
        let h1 = splitmix64(&mut st);
        let h2 = splitmix64(&mut st);
        let h3 = splitmix64(&mut st);
        let n_acc = self.accounts.len() as u64;
        let (is_role, path, name, acc) = if (i as usize) < NAMED.len() {
            let (r, p, n) = NAMED[i as usize];
            // The first named principals live in the first account.
            (r, p.to_string(), n.to_string(), (i / 4) % n_acc)
        } else {
            let is_role = (h2 >> 32) % 100 < 50;
            let acc = h2 % n_acc;
            if is_role {
                let base = ROLE_BASES[(h3 % ROLE_BASES.len() as u64) as usize];
                let path = if (h1 >> 8) % 100 < 30 {
                    ROLE_PATHS[((h1 >> 16) % ROLE_PATHS.len() as u64) as usize].to_string()
                } else {
                    String::new()
                };
                (true, path, format!("{base}-{i}"), acc)
            } else {
                let base = USER_BASES[(h3 % USER_BASES.len() as u64) as usize];
                (false, String::new(), format!("{base}-{i}"), acc)
            }
        };
        let mut id = String::with_capacity(21);
        id.push_str(if is_role { "AROA" } else { "AIDA" });
        for k in 0..17u32 {
            // 5 bits per character: 12 from h1, 5 from h3.
            let bits = if k < 12 {
                h1 >> (5 * k)
            } else {
                h3 >> (5 * (k - 12))
            };
            id.push(char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(bits % 32) as usize],
            ));
        }
        Principal {
            kind: if is_role { Kind::Role } else { Kind::User },
            account: self.accounts[acc as usize].clone(),
            path,
            name,
            unique_id: id,
        }
    }

    /// A principal index: half the calls come from a small busy set.
    pub(crate) fn pick_index(&self, r: &mut Rand) -> u64 {
        let hot = self.principals.min(16);
        if r.chance(0.5) {
            r.below(hot)
        } else {
            r.below(self.principals)
        }
    }

    /// A random pool principal making a call now.
    pub(crate) fn caller(&self, r: &mut Rand) -> Caller {
        let p = self.principal(self.pick_index(r));
        self.caller_for(p, r)
    }

    /// A random pool role making a call now (falls back to any principal
    /// after a few tries when the pool has few roles).
    pub(crate) fn role_caller(&self, r: &mut Rand) -> Caller {
        for _ in 0..8 {
            let p = self.principal(self.pick_index(r));
            if p.kind == Kind::Role {
                return self.caller_for(p, r);
            }
        }
        self.caller(r)
    }

    /// The root user of an account.
    pub(crate) fn root(&self, account: &Arc<str>, r: &mut Rand) -> Caller {
        let p = Principal {
            kind: Kind::Root,
            account: account.clone(),
            path: String::new(),
            name: "root".to_string(),
            unique_id: account.to_string(),
        };
        self.caller_for(p, r)
    }

    /// `p` making a call: a session name for roles, an access key.
    pub(crate) fn caller_for(&self, p: Principal, r: &mut Rand) -> Caller {
        let session = if p.kind == Kind::Role {
            session_name(r)
        } else {
            String::new()
        };
        let console = p.kind != Kind::Role && r.chance(0.15);
        let prefix = if p.kind == Kind::Role || console {
            "ASIA"
        } else {
            "AKIA"
        };
        let access_key = format!("{prefix}{}", r.b32(16));
        Caller {
            p,
            session,
            access_key,
            console,
        }
    }

    /// A region, weighted toward us-east-1.
    pub(crate) fn region(&self, r: &mut Rand) -> &'static str {
        REGIONS[r.weighted(&REGION_WEIGHTS)]
    }

    /// An account other than `not` (another of ours, or an external one).
    pub(crate) fn other_account(&self, not: &str, r: &mut Rand) -> Arc<str> {
        if self.accounts.len() > 1 && r.chance(0.7) {
            loop {
                let a = r.pick(&self.accounts);
                if &**a != not {
                    return a.clone();
                }
            }
        }
        r.pick(&self.external).clone()
    }
}

fn session_name(r: &mut Rand) -> String {
    match r.weighted(&[30, 15, 12, 10, 8, 8, 7, 5, 5]) {
        0 => format!("i-0{}", r.hex(16)),
        1 => format!("botocore-session-{}", r.digits(10)),
        2 => format!("aws-go-sdk-{}", r.digits(19)),
        3 => "jürgen@example.com".to_string(),
        4 => "GitHubActions".to_string(),
        5 => format!("AWSCodeBuild-{}", r.uuid()),
        6 => format!("日本-セッション-{}", r.below(100)),
        7 => format!("ProfilerAgent-{}", r.hex(8)),
        _ => r.digits(13),
    }
}

/// A user agent string of a common client, weighted like real traffic.
pub(crate) fn user_agent(r: &mut Rand) -> &'static str {
    const UA: [(&str, u32); 9] = [
        ("AWS Internal", 15),
        ("console.amazonaws.com", 10),
        (
            "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.215 md/arch#x86_64 lang/python#3.12.2 Botocore/1.34.84",
            20,
        ),
        (
            "aws-cli/2.15.40 Python/3.11.8 Linux/6.5.0-1018-aws exe/x86_64.ubuntu.22",
            15,
        ),
        (
            "aws-sdk-java/2.25.31 Linux/5.10.214 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10",
            10,
        ),
        (
            "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.6",
            10,
        ),
        (
            "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.46.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64",
            5,
        ),
        (
            "aws-sdk-nodejs/2.1600.0 linux/v20.12.2 exec-env/AWS_Lambda_nodejs20.x promise",
            10,
        ),
        (PROFILER_AGENT_UA, 5),
    ];
    let weights = UA.map(|(_, w)| w);
    UA[r.weighted(&weights)].0
}

/// The CodeGuru Profiler Java agent's user agent.
pub(crate) const PROFILER_AGENT_UA: &str = "aws-sdk-java/1.12.705 Linux/5.10.214 OpenJDK_64-Bit_Server_VM/11.0.22+7-LTS java/11.0.22 CodeGuruProfilerJavaAgent/1.2.3";

/// A source IP (private, public-looking, or `AWS Internal`).
pub(crate) fn source_ip(r: &mut Rand) -> String {
    match r.weighted(&[50, 40, 10]) {
        0 => format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254)),
        1 => format!(
            "{}.{}.{}.{}",
            [3u64, 18, 34, 52, 54, 198][r.below(6) as usize],
            r.below(256),
            r.below(256),
            1 + r.below(254)
        ),
        _ => "AWS Internal".to_string(),
    }
}
