//! Reading ARNs apart and building them from templates, for the hints.
//!
//! Pure string work: no I/O, no validation beyond the shape
//! `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.

/// ARNs are read apart by the classifier's parser: one reading for both.
pub(crate) use crate::classify::principal::Arn;

/// What an ARN is built with: values known from the group, or `None` when
/// the events did not say (the ARN then holds `*` there, which IAM and
/// policy checkers accept, and the hint says to narrow it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fill {
    /// `aws` unless the events say otherwise.
    pub partition: String,
    /// The one region the events came from, if only one.
    pub region: Option<String>,
    /// The account the resource is assumed to live in (a 12-digit one).
    pub account: Option<String>,
}

/// An ARN built from a format, and whether it still holds placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Built {
    /// The ARN text (`<ROLE_NAME_WITH_PATH>` for a name to fill in, `*`
    /// for an unknown region or account).
    pub arn: String,
    /// True when some part is a `<PLACEHOLDER>` or an unknown `*`.
    pub placeholder: bool,
}

/// Whether `account` is a real account ID: exactly 12 digits. Messages mask
/// them (`***`, `xxxx`, `acctNR`) or cut them (10 or 11 digits); such
/// accounts are never compared with others (`123456789012` is one,
/// `67211257` is not: the `accounts` test).
pub(crate) fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// `${RoleNameWithPath}` → `ROLE_NAME_WITH_PATH`.
fn placeholder_name(var: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in var.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Build an ARN from an ARN format of the IAM data
/// (`arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}`).
///
/// `name` (the resource's name from the events) replaces the format's
/// variables after the account, from the first to the last (so `b/k` fills
/// `${BucketName}/${ObjectName}`); `Some("*")` grants any. With no name each
/// variable becomes a `<PLACEHOLDER>`.
pub(crate) fn build(format: &str, fill: &Fill, name: Option<&str>) -> Built {
    let mut placeholder = false;
    // Split off the fixed variables first.
    let mut out = String::with_capacity(format.len() + 16);
    let mut rest = format;
    let mut names: Vec<(usize, usize)> = Vec::new(); // spans in `out` of name variables
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let var = &rest[i + 2..i + j];
        match var {
            "Partition" => out.push_str(&fill.partition),
            "Region" => match &fill.region {
                Some(r) => out.push_str(r),
                None => {
                    placeholder = true;
                    out.push('*');
                }
            },
            "Account" => match &fill.account {
                Some(a) => out.push_str(a),
                None => {
                    placeholder = true;
                    out.push('*');
                }
            },
            _ => {
                let start = out.len();
                out.push('<');
                out.push_str(&placeholder_name(var));
                out.push('>');
                names.push((start, out.len()));
            }
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    if let (Some(&(first, _)), Some(&(_, last))) = (names.first(), names.last()) {
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = strip_prefix(&out[..first], n);
                let n = n.to_string();
                out.replace_range(first..last, &n);
            }
            None => placeholder = true,
        }
    }
    Built {
        arn: out,
        placeholder,
    }
}

/// Drop what the format already writes before the name from a name that
/// carries it too (`profilingGroup/x` for `…:profilingGroup/${Name}`), and a
/// leading `/` where the format supplies one (`parameter/` with `/app/key`).
fn strip_prefix<'n>(before: &str, name: &'n str) -> &'n str {
    let head = before.rsplit(':').next().unwrap_or("");
    let name = if head.is_empty() {
        name
    } else {
        name.strip_prefix(head).unwrap_or(name)
    };
    if head.ends_with('/') {
        name.trim_start_matches('/')
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_shapes() {
        let a = Arn::parse("arn:aws:iam::111122223333:role/app").unwrap();
        assert_eq!(
            (a.service, a.region, a.account(), a.resource),
            ("iam", "", Some("111122223333"), "role/app")
        );
        let b = Arn::parse("arn:aws:s3:::bucket/key:with:colons").unwrap();
        assert_eq!((b.account(), b.resource), (None, "bucket/key:with:colons"));
        for bad in [
            "",
            "arn",
            "arn:aws:iam",
            "my-example-profiling-group",
            "arn::iam::1:x",
        ] {
            assert!(Arn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn build_fills_known_parts() {
        let f = "arn:${Partition}:codeguru-profiler:${Region}:${Account}:profilingGroup/${ProfilingGroupName}";
        let fill = Fill {
            partition: "aws".into(),
            region: Some("us-east-1".into()),
            account: None,
        };
        let b = build(f, &fill, Some("profilingGroup/g"));
        assert_eq!(
            b.arn,
            "arn:aws:codeguru-profiler:us-east-1:*:profilingGroup/g"
        );
        assert!(b.placeholder);
        let fill = Fill {
            account: Some("111122223333".into()),
            ..fill
        };
        let b = build(f, &fill, None);
        assert_eq!(
            b.arn,
            "arn:aws:codeguru-profiler:us-east-1:111122223333:profilingGroup/<PROFILING_GROUP_NAME>"
        );
        assert!(!build(f, &fill, Some("g")).placeholder);
        let s3 = "arn:${Partition}:s3:::${BucketName}/${ObjectName}";
        assert_eq!(build(s3, &fill, Some("b/k")).arn, "arn:aws:s3:::b/k");
        assert_eq!(
            build(s3, &fill, None).arn,
            "arn:aws:s3:::<BUCKET_NAME>/<OBJECT_NAME>"
        );
        let p = "arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}";
        assert_eq!(
            build(p, &fill, Some("/app/db")).arn,
            "arn:aws:ssm:us-east-1:111122223333:parameter/app/db"
        );
        assert_eq!(build("${X", &fill, None).arn, "${X");
    }

    #[test]
    fn accounts() {
        assert!(is_account_id("123456789012"));
        for bad in [
            "67211257",
            "***",
            "xxxx",
            "acctNR",
            "12345678901",
            "1234567890123",
            "",
        ] {
            assert!(!is_account_id(bad), "{bad}");
        }
    }
}
