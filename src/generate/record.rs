//! One CloudTrail record as the generator holds it before rendering, and its
//! rendering to compact JSON in CloudTrail's field order.

use std::sync::Arc;

use super::identity::Caller;
use super::json::JsonBuf;

/// Who made the call, as `userIdentity` will show it.
#[derive(Debug, Clone)]
pub(crate) enum Identity {
    /// An IAM user, role session or root.
    Caller(Caller),
    /// An AWS service acting on its own (`AWSService`).
    Service(&'static str),
    /// A caller from another account (`AWSAccount`).
    Account {
        account: Arc<str>,
        principal_id: String,
    },
    /// Credentials AWS could not resolve (`Unknown`).
    Unknown {
        account: Arc<str>,
        access_key: String,
    },
}

/// A record's fields before rendering.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) version: &'static str,
    pub(crate) identity: Identity,
    pub(crate) invoked_by: Option<&'static str>,
    pub(crate) time_ms: i64,
    pub(crate) session_created_ms: i64,
    pub(crate) source: &'static str,
    pub(crate) name: String,
    pub(crate) region: &'static str,
    pub(crate) ip: String,
    pub(crate) ua: String,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) error_message: Option<String>,
    /// Rendered JSON object, or `None` for `null`.
    pub(crate) request: Option<Vec<u8>>,
    /// Rendered JSON object, or `None` for `null`.
    pub(crate) response: Option<Vec<u8>>,
    pub(crate) additional: Option<Vec<u8>>,
    pub(crate) request_id: String,
    pub(crate) event_id: String,
    pub(crate) read_only: bool,
    /// Rendered JSON array.
    pub(crate) resources: Option<Vec<u8>>,
    /// Data event (`managementEvent: false`, `eventCategory: Data`).
    pub(crate) data_event: bool,
    pub(crate) recipient: Arc<str>,
    pub(crate) shared_event_id: Option<String>,
    pub(crate) vpc_endpoint_id: Option<String>,
    pub(crate) tls: bool,
}

impl Rec {
    /// Render compact JSON.
    pub(crate) fn render(&self) -> Vec<u8> {
        let mut j = JsonBuf::with_capacity(1536);
        j.open();
        j.kv("eventVersion", self.version);
        match &self.identity {
            Identity::Caller(c) => {
                c.write_identity(&mut j, self.session_created_ms, self.invoked_by)
            }
            Identity::Service(s) => {
                j.kv_open("userIdentity");
                j.kv("type", "AWSService");
                j.kv("invokedBy", s);
                j.close();
            }
            Identity::Account {
                account,
                principal_id,
            } => {
                j.kv_open("userIdentity");
                j.kv("type", "AWSAccount");
                j.kv("principalId", principal_id);
                j.kv("accountId", account);
                j.close();
            }
            Identity::Unknown {
                account,
                access_key,
            } => {
                j.kv_open("userIdentity");
                j.kv("type", "Unknown");
                j.kv("accountId", account);
                j.kv("accessKeyId", access_key);
                j.close();
            }
        }
        j.kv_time("eventTime", self.time_ms);
        j.kv("eventSource", self.source);
        j.kv("eventName", &self.name);
        j.kv("awsRegion", self.region);
        j.kv("sourceIPAddress", &self.ip);
        j.kv("userAgent", &self.ua);
        if let Some(code) = self.error_code {
            j.kv("errorCode", code);
        }
        if let Some(msg) = &self.error_message {
            j.kv("errorMessage", msg);
        }
        j.key("requestParameters");
        raw_or_null(&mut j, &self.request);
        j.key("responseElements");
        raw_or_null(&mut j, &self.response);
        if let Some(a) = &self.additional {
            j.key("additionalEventData");
            j.raw_bytes(a);
        }
        j.kv("requestID", &self.request_id);
        j.kv("eventID", &self.event_id);
        j.kv_bool("readOnly", self.read_only);
        if let Some(r) = &self.resources {
            j.key("resources");
            j.raw_bytes(r);
        }
        j.kv("eventType", "AwsApiCall");
        j.kv_bool("managementEvent", !self.data_event);
        j.kv("recipientAccountId", &self.recipient);
        if let Some(s) = &self.shared_event_id {
            j.kv("sharedEventID", s);
        }
        if let Some(v) = &self.vpc_endpoint_id {
            j.kv("vpcEndpointId", v);
        }
        j.kv(
            "eventCategory",
            if self.data_event {
                "Data"
            } else {
                "Management"
            },
        );
        if self.tls {
            j.kv_open("tlsDetails");
            j.kv(
                "tlsVersion",
                if self.time_ms % 3 == 0 {
                    "TLSv1.2"
                } else {
                    "TLSv1.3"
                },
            );
            j.kv(
                "cipherSuite",
                if self.time_ms % 3 == 0 {
                    "ECDHE-RSA-AES128-GCM-SHA256"
                } else {
                    "TLS_AES_128_GCM_SHA256"
                },
            );
            j.key("clientProvidedHostHeader");
            let svc = self
                .source
                .strip_suffix(".amazonaws.com")
                .unwrap_or(self.source);
            j.str(&format!("{svc}.{}.amazonaws.com", self.region));
            j.close();
        }
        if matches!(&self.identity, Identity::Caller(c) if c.console) {
            j.kv("sessionCredentialFromConsole", "true");
        }
        j.close();
        j.buf
    }
}

fn raw_or_null(j: &mut JsonBuf, v: &Option<Vec<u8>>) {
    match v {
        Some(b) => j.raw_bytes(b),
        None => j.raw("null"),
    }
}
