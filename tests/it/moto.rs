//! A moto server (the local AWS endpoint) on a free loopback port, started
//! by the test and killed on drop, plus SDK clients pointed at it.
//!
//! Tested with moto 5.2.1 (`.ci/setup` installs it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fake credentials: moto accepts anything; nothing real is ever used.
pub const ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", SECRET),
    ("AWS_SESSION_TOKEN", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/denytrail-test-aws-config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/denytrail-test-aws-credentials",
    ),
];

/// The fake secret key: it must never show in denytrail's output.
pub const SECRET: &str = "dtSECRETnotForLogs0123456789";

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT` (`https://localhost:PORT` with TLS).
    pub url: String,
    /// Its address.
    pub addr: SocketAddr,
}

impl Moto {
    /// Start moto and wait (bounded) until it answers HTTP.
    pub fn start() -> Moto {
        Self::launch(&[], &[], "http://127.0.0.1", &|m: &Moto| m.answers_http())
    }

    /// Start moto serving HTTPS with `cert` and `key` (PEM files), its
    /// `url` being `https://localhost:PORT`; `ready` (given the URL) says
    /// when it answers. S3 is path-style whatever the host name (moto would
    /// read a bucket from the first label of a dotted one).
    pub fn start_tls(cert: &Path, key: &Path, ready: &dyn Fn(&str) -> bool) -> Moto {
        let args = [
            "--ssl-cert".to_string(),
            cert.display().to_string(),
            "--ssl-key".to_string(),
            key.display().to_string(),
        ];
        let env = [("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")];
        Self::launch(&args, &env, "https://localhost", &|m: &Moto| ready(&m.url))
    }

    fn launch(
        extra: &[String],
        env: &[(&str, &str)],
        base: &str,
        ready: &dyn Fn(&Moto) -> bool,
    ) -> Moto {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = Command::new("python3")
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
                .args(extra)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto is not installed: run `bash .ci/setup` (pip install 'moto[server]==5.2.1')");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut m = Moto {
                child,
                url: format!("{base}:{port}"),
                addr,
            };
            if m.wait_ready(ready) {
                return m;
            }
            // Lost the port race or failed to start: try another port.
            drop(m);
        }
        panic!("moto did not start: check `python3 -m moto.server --help` (run `bash .ci/setup`)");
    }

    fn wait_ready(&mut self, ready: &dyn Fn(&Moto) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if ready(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Whether a plain HTTP request gets an HTTP answer.
    fn answers_http(&self) -> bool {
        if let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
            let mut buf = [0u8; 12];
            return s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut buf).is_ok()
                && buf.starts_with(b"HTTP/1.");
        }
        false
    }

    /// SDK clients on `endpoint` (moto itself or a proxy in front of it).
    pub async fn clients(endpoint: &str) -> (aws_sdk_s3::Client, aws_sdk_cloudwatchlogs::Client) {
        let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(endpoint)
            // denytrail retries and counts attempts itself.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        (s3, aws_sdk_cloudwatchlogs::Client::new(&sdk))
    }

    /// An SQS client on `endpoint`.
    pub async fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
        let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(endpoint)
            .load()
            .await;
        aws_sdk_sqs::Client::new(&sdk)
    }

    /// A denytrail command with the fake credentials and this endpoint.
    pub fn denytrail(&self, endpoint: &str) -> Command {
        let mut c = Command::new(crate::util::bin());
        for (k, v) in ENV {
            c.env(k, v);
        }
        c.env("AWS_ENDPOINT_URL", endpoint);
        c.env_remove("AWS_PROFILE");
        c
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tokio runtime the AWS SDK clients of a test run on.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
