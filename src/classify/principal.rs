//! Who a denial counts toward.
//!
//! An assumed-role session (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`)
//! counts toward its role (`arn:aws:iam::ACCT:role/ROLE`, or the session
//! issuer's ARN when the record carries it, which keeps the role's path);
//! everything else counts toward the caller's own ARN, or a synthetic name
//! (`service:lambda.amazonaws.com`, `anonymous`, `unknown`) when there is none.
//!
//! Pure string work on ARNs; knows nothing of records or messages.

use super::PrincipalKind;

/// A principal after folding sessions into their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The principal the denial counts toward.
    pub principal: String,
    /// What kind of principal.
    pub kind: PrincipalKind,
    /// The principal's account, when known.
    pub account: Option<String>,
    /// The session ARN, for assumed-role sessions.
    pub session: Option<String>,
}

impl Principal {
    /// A principal nobody could name.
    pub fn unknown() -> Principal {
        Principal {
            principal: "unknown".to_string(),
            kind: PrincipalKind::Other,
            account: None,
            session: None,
        }
    }
}

/// The parts of an ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// `iam`, `sts`, `s3`, …
    pub service: &'a str,
    /// May be empty.
    pub region: &'a str,
    /// May be empty.
    pub account: &'a str,
    /// Everything after the fifth colon (`role/path/Name`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Split an ARN; `None` when `s` is not one.
    ///
    /// ```
    /// use denytrail::classify::principal::Arn;
    /// let a = Arn::parse("arn:aws:iam::123456789012:role/service-role/R").unwrap();
    /// assert_eq!((a.service, a.account, a.resource), ("iam", "123456789012", "role/service-role/R"));
    /// assert!(Arn::parse("role/R").is_none());
    /// ```
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        let rest = s.strip_prefix("arn:")?;
        // The four colons after `arn:` are near the start: a byte loop
        // finds them sooner than a searcher is set up.
        let mut cut = [0usize; 4];
        let mut found = 0;
        for (i, &b) in rest.as_bytes().iter().enumerate() {
            if b == b':' {
                cut[found] = i;
                found += 1;
                if found == 4 {
                    break;
                }
            }
        }
        if found < 4 {
            return None;
        }
        // Colons are ASCII: every cut is a char boundary.
        let partition = &rest[..cut[0]];
        let service = &rest[cut[0] + 1..cut[1]];
        let region = &rest[cut[1] + 1..cut[2]];
        let account = &rest[cut[2] + 1..cut[3]];
        let resource = &rest[cut[3] + 1..];
        if partition.is_empty() || service.is_empty() {
            return None;
        }
        Some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }
}

impl<'a> Arn<'a> {
    /// The account, when the ARN carries one (S3 ARNs do not).
    pub fn account(&self) -> Option<&'a str> {
        Some(self.account).filter(|a| !a.is_empty())
    }
}

/// The account in an ARN, when it has one.
///
/// ```
/// use denytrail::classify::principal::arn_account;
/// assert_eq!(arn_account("arn:aws:iam::123456789012:user/x"), Some("123456789012"));
/// assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
/// ```
pub fn arn_account(arn: &str) -> Option<&str> {
    Arn::parse(arn).and_then(|a| a.account())
}

/// Fold a caller ARN: an assumed-role session becomes its role.
///
/// `issuer_arn` is `userIdentity.sessionContext.sessionIssuer.arn`; it is used
/// (keeping the role's path) when it names the same role as the session.
///
/// ```
/// use denytrail::classify::{principal::fold_arn, PrincipalKind};
/// let p = fold_arn("arn:aws:sts::123456789012:assumed-role/DeployRole/s1", None);
/// assert_eq!(p.principal, "arn:aws:iam::123456789012:role/DeployRole");
/// assert_eq!(p.kind, PrincipalKind::Role);
/// assert_eq!(p.session.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/DeployRole/s1"));
/// ```
pub fn fold_arn(arn: &str, issuer_arn: Option<&str>) -> Principal {
    let arn = arn.trim();
    let Some(a) = Arn::parse(arn) else {
        return Principal {
            principal: arn.to_string(),
            kind: PrincipalKind::Other,
            account: None,
            session: None,
        };
    };
    let account = (!a.account.is_empty()).then(|| a.account.to_string());
    let (principal, kind, session) = match a.service {
        "sts" => {
            if let Some(rest) = a.resource.strip_prefix("assumed-role/") {
                let role = rest.split_once('/').map_or(rest, |(r, _)| r);
                let from_issuer = issuer_arn.filter(|i| {
                    Arn::parse(i).is_some_and(|ia| {
                        ia.service == "iam"
                            && ia.account == a.account
                            && ia.resource.starts_with("role/")
                            && ia.resource.rsplit('/').next() == Some(role)
                    })
                });
                let principal = match from_issuer {
                    Some(i) => i.to_string(),
                    None => format!("arn:{}:iam::{}:role/{}", a.partition, a.account, role),
                };
                (principal, PrincipalKind::Role, Some(arn.to_string()))
            } else if a.resource.starts_with("federated-user/") {
                (arn.to_string(), PrincipalKind::FederatedUser, None)
            } else {
                (arn.to_string(), PrincipalKind::Other, None)
            }
        }
        "iam" => {
            let kind = if a.resource == "root" {
                PrincipalKind::Root
            } else if a.resource.starts_with("user/") {
                PrincipalKind::IamUser
            } else if a.resource.starts_with("role/") {
                PrincipalKind::Role
            } else {
                PrincipalKind::Other
            };
            (arn.to_string(), kind, None)
        }
        _ => (arn.to_string(), PrincipalKind::Other, None),
    };
    Principal {
        principal,
        kind,
        account,
        session,
    }
}

/// The fields of `userIdentity` the principal is built from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// `type`.
    pub kind: Option<&'a str>,
    /// `arn`.
    pub arn: Option<&'a str>,
    /// `accountId`.
    pub account_id: Option<&'a str>,
    /// `invokedBy`.
    pub invoked_by: Option<&'a str>,
    /// `sessionContext.sessionIssuer.arn`.
    pub issuer_arn: Option<&'a str>,
    /// `identityProvider` (SAML / web identity users).
    pub identity_provider: Option<&'a str>,
    /// `onBehalfOf.userId` (IAM Identity Center users).
    pub on_behalf_of: Option<&'a str>,
    /// `principalId`.
    pub principal_id: Option<&'a str>,
}

/// The principal of a record: from `userIdentity`, else from the ARN the
/// message names (`User: arn:…`), else `unknown`.
///
/// ```
/// use denytrail::classify::{principal::{resolve, Identity}, PrincipalKind};
/// let id = Identity { kind: Some("AWSService"), invoked_by: Some("lambda.amazonaws.com"), ..Identity::default() };
/// let p = resolve(&id, None);
/// assert_eq!(p.principal, "service:lambda.amazonaws.com");
/// assert_eq!(p.kind, PrincipalKind::AwsService);
/// ```
pub fn resolve(id: &Identity<'_>, message_principal: Option<&str>) -> Principal {
    let account_id = nonempty(id.account_id);
    let kind = nonempty(id.kind);
    match kind {
        Some("AWSService") => {
            return Principal {
                principal: format!("service:{}", nonempty(id.invoked_by).unwrap_or("unknown")),
                kind: PrincipalKind::AwsService,
                account: account_id.map(str::to_string),
                session: None,
            };
        }
        Some("AWSAccount") => {
            if account_id == Some("ANONYMOUS_PRINCIPAL") {
                return anonymous();
            }
            let mut p = match nonempty(id.arn) {
                Some(arn) => fold_arn(arn, nonempty(id.issuer_arn)),
                None => match account_id {
                    Some(acct) => Principal {
                        principal: format!("arn:aws:iam::{acct}:root"),
                        kind: PrincipalKind::AwsAccount,
                        account: Some(acct.to_string()),
                        session: None,
                    },
                    None => Principal::unknown(),
                },
            };
            p.kind = PrincipalKind::AwsAccount;
            if p.account.is_none() {
                p.account = account_id.map(str::to_string);
            }
            return p;
        }
        _ => {}
    }
    if let Some(arn) = nonempty(id.arn) {
        let mut p = fold_arn(arn, nonempty(id.issuer_arn));
        if p.account.is_none() {
            p.account = account_id.map(str::to_string);
        }
        return p;
    }
    if let Some(arn) = nonempty(message_principal) {
        if arn == "anonymous" {
            return anonymous();
        }
        let mut p = fold_arn(arn, None);
        if p.account.is_none() {
            p.account = account_id.map(str::to_string);
        }
        return p;
    }
    match kind {
        Some("SAMLUser") | Some("WebIdentityUser") => Principal {
            principal: format!(
                "federated:{}",
                nonempty(id.identity_provider).unwrap_or("unknown")
            ),
            kind: PrincipalKind::FederatedUser,
            account: account_id.map(str::to_string),
            session: None,
        },
        Some("IdentityCenterUser") if nonempty(id.on_behalf_of).is_some() => Principal {
            principal: format!(
                "identity-center:{}",
                nonempty(id.on_behalf_of).unwrap_or_default()
            ),
            kind: PrincipalKind::Other,
            account: account_id.map(str::to_string),
            session: None,
        },
        Some("Root") => match account_id {
            Some(acct) => Principal {
                principal: format!("arn:aws:iam::{acct}:root"),
                kind: PrincipalKind::Root,
                account: Some(acct.to_string()),
                session: None,
            },
            None => Principal::unknown(),
        },
        _ => {
            let mut p = Principal::unknown();
            p.account = account_id.map(str::to_string);
            p
        }
    }
}

/// A present, non-blank string.
fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn anonymous() -> Principal {
    Principal {
        principal: "anonymous".to_string(),
        kind: PrincipalKind::Other,
        account: None,
        session: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_arn_table() {
        use PrincipalKind::*;
        // (arn, issuer, principal, kind, account, has session)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a str,
            PrincipalKind,
            Option<&'a str>,
            bool,
        );
        let cases: &[Case<'_>] = &[
            (
                "arn:aws:sts::123456789012:assumed-role/DeployRole/session-1",
                None,
                "arn:aws:iam::123456789012:role/DeployRole",
                Role,
                Some("123456789012"),
                true,
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/R/s",
                Some("arn:aws:iam::123456789012:role/service-role/R"),
                "arn:aws:iam::123456789012:role/service-role/R",
                Role,
                Some("123456789012"),
                true,
            ),
            // An issuer naming another role is not trusted.
            (
                "arn:aws:sts::123456789012:assumed-role/R/s",
                Some("arn:aws:iam::123456789012:role/Other"),
                "arn:aws:iam::123456789012:role/R",
                Role,
                Some("123456789012"),
                true,
            ),
            (
                "arn:aws-cn:sts::123456789012:assumed-role/R/s",
                None,
                "arn:aws-cn:iam::123456789012:role/R",
                Role,
                Some("123456789012"),
                true,
            ),
            // No session part.
            (
                "arn:aws:sts::123456789012:assumed-role/R",
                None,
                "arn:aws:iam::123456789012:role/R",
                Role,
                Some("123456789012"),
                true,
            ),
            (
                "arn:aws:iam::123456789012:root",
                None,
                "arn:aws:iam::123456789012:root",
                Root,
                Some("123456789012"),
                false,
            ),
            (
                "arn:aws:iam::123456789012:user/ci-deployer",
                None,
                "arn:aws:iam::123456789012:user/ci-deployer",
                IamUser,
                Some("123456789012"),
                false,
            ),
            (
                "arn:aws:sts::123456789012:federated-user/bob",
                None,
                "arn:aws:sts::123456789012:federated-user/bob",
                FederatedUser,
                Some("123456789012"),
                false,
            ),
            ("anonymous", None, "anonymous", Other, None, false),
            ("arn:", None, "arn:", Other, None, false),
            ("arn:aws:sts::", None, "arn:aws:sts::", Other, None, false),
        ];
        for (arn, issuer, want, kind, acct, session) in cases {
            let p = fold_arn(arn, *issuer);
            assert_eq!(p.principal, *want, "{arn}");
            assert_eq!(p.kind, *kind, "{arn}");
            assert_eq!(p.account.as_deref(), *acct, "{arn}");
            assert_eq!(p.session.is_some(), *session, "{arn}");
        }
    }

    #[test]
    fn resolve_table() {
        use PrincipalKind::*;
        let cross = Identity {
            kind: Some("AWSAccount"),
            account_id: Some("111122223333"),
            principal_id: Some("AIDAEXAMPLE"),
            ..Identity::default()
        };
        let anon = Identity {
            kind: Some("AWSAccount"),
            account_id: Some("ANONYMOUS_PRINCIPAL"),
            ..Identity::default()
        };
        let svc = Identity {
            kind: Some("AWSService"),
            invoked_by: Some("lambda.amazonaws.com"),
            ..Identity::default()
        };
        let root = Identity {
            kind: Some("Root"),
            arn: Some("arn:aws:iam::123456789012:root"),
            account_id: Some("123456789012"),
            ..Identity::default()
        };
        let none = Identity::default();
        let web = Identity {
            kind: Some("WebIdentityUser"),
            identity_provider: Some("accounts.google.com"),
            ..Identity::default()
        };
        // (identity, message principal, principal, kind, account)
        type Case<'a> = (
            &'a Identity<'a>,
            Option<&'a str>,
            &'a str,
            PrincipalKind,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            (
                &cross,
                None,
                "arn:aws:iam::111122223333:root",
                AwsAccount,
                Some("111122223333"),
            ),
            (&anon, None, "anonymous", Other, None),
            (&svc, None, "service:lambda.amazonaws.com", AwsService, None),
            (
                &root,
                None,
                "arn:aws:iam::123456789012:root",
                Root,
                Some("123456789012"),
            ),
            (&none, None, "unknown", Other, None),
            (
                &none,
                Some("arn:aws:sts::123456789012:assumed-role/R/s"),
                "arn:aws:iam::123456789012:role/R",
                Role,
                Some("123456789012"),
            ),
            (
                &web,
                None,
                "federated:accounts.google.com",
                FederatedUser,
                None,
            ),
        ];
        for (id, msg, want, kind, acct) in cases {
            let p = resolve(id, *msg);
            assert_eq!(p.principal, *want, "{id:?}");
            assert_eq!(p.kind, *kind, "{id:?}");
            assert_eq!(p.account.as_deref(), *acct, "{id:?}");
        }
    }
}
