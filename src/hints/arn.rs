//! Reading ARNs apart and building them from templates, for the hints.
//!
//! Pure string work: no I/O, no validation beyond the shape
//! `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.

use super::tables::ArnTemplate;

/// ARNs are read apart by the classifier's parser: one reading for both.
pub(crate) use crate::classify::principal::Arn;

/// What an ARN is built with: values known from the group, or `None` for a
/// placeholder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fill {
    /// `aws` unless the events say otherwise.
    pub partition: String,
    /// The one region the events came from, if only one.
    pub region: Option<String>,
    /// The account the resource is assumed to live in.
    pub account: Option<String>,
}

/// An ARN built from a template, and whether it still holds placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Built {
    /// The ARN text (placeholders look like `<REGION>`).
    pub arn: String,
    /// True when some part is a `<PLACEHOLDER>`.
    pub placeholder: bool,
}

/// Build an ARN from `template`, with `name` as the resource name when the
/// events gave one. `service` stands in for a template without a service
/// (the generic one).
pub(crate) fn build(
    template: &ArnTemplate,
    service: &str,
    fill: &Fill,
    name: Option<&str>,
) -> Built {
    let service = if template.service.is_empty() {
        service
    } else {
        template.service
    };
    let mut placeholder = false;
    let region = if template.regional {
        fill.region.clone().unwrap_or_else(|| {
            placeholder = true;
            "<REGION>".to_string()
        })
    } else {
        String::new()
    };
    let account = if template.in_account {
        fill.account.clone().unwrap_or_else(|| {
            placeholder = true;
            "<ACCOUNT>".to_string()
        })
    } else {
        String::new()
    };
    let name = match name.map(|n| strip_prefix(template.path, n)) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            placeholder = true;
            format!("<{}>", template.name)
        }
    };
    let resource = template.path.replacen("{}", &name, 1);
    Built {
        arn: format!(
            "arn:{}:{}:{}:{}:{}",
            fill.partition, service, region, account, resource
        ),
        placeholder,
    }
}

/// Drop the template's own prefix from a name that already carries it
/// (`profilingGroup/x` for `profilingGroup/{}`), and a leading `/` where the
/// template supplies one (`parameter/{}` with `/app/key`).
fn strip_prefix<'n>(path: &str, name: &'n str) -> &'n str {
    let name = name.trim();
    let prefix = path.split("{}").next().unwrap_or("");
    let name = if prefix.is_empty() {
        name
    } else {
        name.strip_prefix(prefix).unwrap_or(name)
    };
    if prefix.ends_with('/') {
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
        let t = ArnTemplate {
            service: "codeguru-profiler",
            regional: true,
            in_account: true,
            path: "profilingGroup/{}",
            name: "PROFILING_GROUP_NAME",
        };
        let fill = Fill {
            partition: "aws".into(),
            region: Some("us-east-1".into()),
            account: None,
        };
        let b = build(&t, "x", &fill, Some("profilingGroup/g"));
        assert_eq!(
            b.arn,
            "arn:aws:codeguru-profiler:us-east-1:<ACCOUNT>:profilingGroup/g"
        );
        assert!(b.placeholder);
        let fill = Fill {
            account: Some("1".into()),
            ..fill
        };
        let b = build(&t, "x", &fill, None);
        assert_eq!(
            b.arn,
            "arn:aws:codeguru-profiler:us-east-1:1:profilingGroup/<PROFILING_GROUP_NAME>"
        );
        assert!(build(&t, "x", &fill, Some("g")).placeholder.eq(&false));
    }
}
