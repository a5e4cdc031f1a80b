use super::*;
use crate::aggregate::Aggregator;
use crate::report::{Report, Run};
use crate::scan::{ScanEvent, Scanner};

/// A CloudTrail record of `principal` (an IAM user name, any bytes) denied
/// `iam:PassRole`.
fn line(user: &str, id: &str, time: &str) -> String {
    let arn = format!("arn:aws:iam::123456789012:user/{user}");
    let rec = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": "123456789012"},
        "eventTime": time,
        "eventSource": "iam.amazonaws.com",
        "eventName": "PassRole",
        "awsRegion": "us-east-1",
        "errorCode": "AccessDenied",
        "errorMessage": format!("User: {arn} is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/x-{id} because no identity-based policy allows the iam:PassRole action"),
        "eventID": id,
        "recipientAccountId": "123456789012",
    });
    format!("{rec}\n")
}

fn report(lines: &str) -> Report {
    let scanner = Scanner::builder().build().unwrap();
    let mut agg = Aggregator::builder().build();
    scanner.scan_lines(lines.as_bytes(), "t", 0, &mut |ev| {
        if let ScanEvent::Denial(d) = ev {
            agg.add(&d);
        }
    });
    Run::new(agg.finish(), "default".into(), None).report()
}

fn opts() -> PageOptions {
    PageOptions {
        now: 1_714_564_800.0,
        ..PageOptions::file()
    }
}

#[test]
fn values_from_logs_are_escaped() {
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let r = report(&line(evil, "e1", "2024-05-01T12:00:00Z"));
    assert_eq!(r.groups.len(), 1);
    let html = render(&r, &opts()).unwrap();
    assert!(!html.contains("<script>alert"), "raw script in the page");
    assert!(!html.contains("<img src=x"), "raw img in the page");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the principal is shown as text"
    );
    // The only <script> elements are the page's own two.
    assert_eq!(html.matches("<script").count(), 2);
}

#[test]
fn json_in_the_page_cannot_close_its_script() {
    let mut r = report(&line("u", "e1", "2024-05-01T12:00:00Z"));
    r.timeline = Some(crate::aggregate::timeline::Timeline::default());
    if let Some(t) = r.timeline.as_mut() {
        t.add("x:</script><!--\u{2028}&", 1_714_564_800, 1);
    }
    let html = render(&r, &opts()).unwrap();
    let start = html
        .find(r#"<script type="application/json" id="denytrail-data">"#)
        .unwrap();
    let body = &html[start..];
    let end = body.find("</script>").unwrap();
    let json = &body[body.find('>').unwrap() + 1..end];
    assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
    assert!(!json.contains('\u{2028}'));
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        v["timeline"]["series"][0]["action"],
        "x:</script><!--\u{2028}&"
    );
}

#[test]
fn shows_groups_policies_and_filters() {
    let mut text = String::new();
    for i in 0..3 {
        text += &line("alice", &format!("a{i}"), "2024-05-01T12:00:00Z");
    }
    text += &line("bob", "b0", "2024-05-01T12:05:00Z");
    let r = report(&text);
    assert_eq!(r.groups.len(), 2);
    let html = render(&r, &opts()).unwrap();
    assert!(html.contains("arn:aws:iam::123456789012:user/alice"));
    assert!(html.contains(r#"data-count="3""#));
    assert!(html.contains("Copy policy"));
    assert!(html.contains("&#34;Action&#34;") || html.contains("&quot;Action&quot;"));
    assert_eq!(html.matches(r#"<tbody class="group""#).count(), 3); // 2 + template

    let only_bob = PageOptions {
        filter: Filter {
            principal: "BOB".into(),
            ..Filter::default()
        },
        ..opts()
    };
    let html = render(&r, &only_bob).unwrap();
    assert_eq!(html.matches(r#"<tbody class="group""#).count(), 2);
    assert!(html.contains("Showing <span data-s=\"shown\">1</span> of"));
    let by_text = PageOptions {
        filter: Filter {
            q: "role/x-a1".into(),
            ..Filter::default()
        },
        ..opts()
    };
    let html = render(&r, &by_text).unwrap();
    assert!(html.contains(r#"data-principal="arn:aws:iam::123456789012:user/alice""#));
    assert!(!html.contains(r#"data-principal="arn:aws:iam::123456789012:user/bob""#));
}

#[test]
fn a_file_makes_no_request() {
    let html = render(&report(&line("u", "e1", "2024-05-01T12:00:00Z")), &opts()).unwrap();
    // URLs may be read (a hint's documentation links are text); nothing may
    // be fetched: no attribute or stylesheet pointing off the page.
    for attr in ["src=", "href=", "action=", "poster=", "data=", "srcset="] {
        for (i, _) in html.match_indices(attr) {
            let value = html[i + attr.len()..].trim_start_matches(['"', '\'']);
            let external = ["http:", "https:", "//", "ftp:"]
                .iter()
                .any(|p| value.starts_with(p));
            let ctx = &html[i.saturating_sub(40)..(i + 60).min(html.len())];
            assert!(!external || ctx.contains("www.w3.org/2000/svg"), "{ctx}");
        }
    }
    for needle in ["@import", "url(http", "url(//", "//cdn"] {
        assert!(!html.contains(needle), "{needle}");
    }
    assert!(html.contains("connect-src 'none'"));
}
