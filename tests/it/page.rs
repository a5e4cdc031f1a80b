//! The web page and the HTML report, in a real headless Chromium: what a
//! person sees (the top groups, the policy, a filter that narrows the
//! table, the copy button, a hostile principal shown as text), the live
//! page following new denials, and both pages with JavaScript off.
//! Screenshots are saved under `target/test-artefacts/page/`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::{Browser, artefacts, dom_without_js};
use crate::util::run;
use crate::watch::{Watch, append, denial_line, scp_denial_line};

/// A principal name that would run script if it were ever parsed as HTML.
const EVIL_IMG: &str = "<img src=x onerror=window.__pwned=1>";
/// And one that tries to open a script element.
const EVIL_SCRIPT: &str = "<script>window.__pwned=2;</script>";

const WAIT: Duration = Duration::from_secs(30);

/// `n` denials of `principal` on `action`, one a minute from `minute`.
fn lines(principal: &str, action: &str, n: u32, minute: u32, id: &str, scp: bool) -> String {
    (0..n)
        .map(|i| {
            let id = format!("{id}-{i}");
            let l = if scp {
                scp_denial_line(principal, action, &id)
            } else {
                denial_line(principal, action, &id)
            };
            l.replace(
                "2024-05-01T12:00:00Z",
                &format!("2024-05-01T12:{:02}:00Z", minute + i),
            )
        })
        .collect()
}

fn corpus() -> String {
    [
        lines("deployer", "iam:PassRole", 5, 0, "d", false),
        lines(
            "profiler",
            "codeguru-profiler:PostAgentProfile",
            3,
            2,
            "p",
            false,
        ),
        lines(
            "builder",
            "codeguru-profiler:ConfigureAgent",
            2,
            7,
            "b",
            true,
        ),
        lines(EVIL_IMG, "iam:PassRole", 1, 9, "e1", false),
        lines(EVIL_SCRIPT, "iam:PassRole", 1, 9, "e2", false),
    ]
    .concat()
}

fn json_report(path: &Path) -> Value {
    let out = run(&["replay", &path.display().to_string(), "--format", "json"]);
    serde_json::from_slice(&out.stdout).expect("replay --format json")
}

/// The rows shown (not hidden): principal, action, count.
fn shown_rows(b: &Browser) -> Vec<(String, String, u64)> {
    let v = b.exec(
        "return Array.from(document.querySelectorAll('#groups tbody.group:not([hidden]) tr.row'))
           .map(function (r) { return Array.from(r.cells).slice(0, 3).map(function (c) { return c.innerText.trim(); }); });",
        json!([]),
    );
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_string(),
                r[1].as_str().unwrap_or_default().to_string(),
                r[2].as_str().unwrap_or_default().parse().unwrap_or(0),
            )
        })
        .collect()
}

fn groups_of(report: &Value) -> Vec<(String, String, u64)> {
    report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["principal"].as_str().unwrap_or_default().to_string(),
                g["action"].as_str().unwrap_or_default().to_string(),
                g["count"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn wait_ready(b: &Browser) {
    b.wait(WAIT, "the page's script to start", || {
        (b.exec(
            "return document.documentElement.dataset.ready || ''",
            json!([]),
        ) == "1")
            .then_some(())
    });
}

/// Set a filter field as a person would: type into it, or pick the option.
fn set_filter(b: &Browser, name: &str, value: &str) {
    let field = b.find(&format!("form.filters [name=\"{name}\"]"));
    if name == "action" || name == "hint" {
        b.click(&field);
        let options = b.find_all(&format!("form.filters [name=\"{name}\"] option"));
        let o = options
            .iter()
            .find(|o| b.text(o) == value)
            .unwrap_or_else(|| panic!("no option {value} in {name}"));
        b.click(o);
    } else {
        b.clear(&field);
        b.type_into(&field, value);
    }
}

fn clear_filters(b: &Browser) {
    for name in ["principal", "q"] {
        b.clear(&b.find(&format!("form.filters [name=\"{name}\"]")));
    }
    for name in ["action", "hint"] {
        set_filter(b, name, "any");
    }
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn html_report_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("trail.jsonl");
    std::fs::write(&input, corpus()).unwrap();
    let html = dir.path().join("report.html");
    let out = run(&[
        "replay",
        &input.display().to_string(),
        "--format",
        "html",
        "--output",
        &html.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = json_report(&input);
    let want = groups_of(&truth);
    assert_eq!(want.len(), 5, "{truth}");
    assert_eq!(
        want[0],
        (crate::watch::role("deployer"), "iam:PassRole".into(), 5)
    );

    let b = Browser::start();
    let url = format!("file://{}", html.display());
    b.goto(&url);
    b.grant_clipboard();
    wait_ready(&b);

    // The table: every group, in the report's order, as the JSON has them.
    assert_eq!(shown_rows(&b), want);

    // The top group opens on its hint and its policy, as the JSON has them.
    let first = b.find("#groups tbody.group");
    b.click(&b.find_in(&first, "details summary"));
    let policy = b.text(&b.find_in(&first, "pre.policy"));
    let policy: Value = serde_json::from_str(&policy).expect("the policy shown is JSON");
    let first_policy = &truth["policies"][truth["groups"][0]["hint"]["policy"]
        .as_u64()
        .expect("the group names a policy") as usize];
    assert_eq!(&policy, first_policy);
    // The whole advice: the hint's text, then the notes it names.
    let report: denytrail::report::Report = serde_json::from_value(truth.clone()).unwrap();
    let advice = report.groups[0].hint.advice(&report.notes);
    assert!(!report.groups[0].hint.notes.is_empty());
    assert!(advice.contains("\nWho: "), "{advice}");
    assert_eq!(
        normalize(&b.text(&b.find_in(&first, ".hint-text p"))),
        normalize(&advice)
    );

    // The chart: bars, and a legend with each action's total.
    assert!(!b.find_all("#chart svg rect").is_empty(), "no bars drawn");
    let legend = b.text(&b.find("#chart .legend"));
    assert!(legend.contains("iam:PassRole ×7"), "{legend}");
    assert!(
        legend.contains("codeguru-profiler:PostAgentProfile ×3"),
        "{legend}"
    );
    b.screenshot(&artefacts().join("report.png"));

    // The copy button copies the policy text exactly.
    let copy = b.find_in(&first, "button.copy");
    assert_eq!(b.text(&copy), "Copy policy");
    b.click(&copy);
    b.wait(WAIT, "the copy button to say Copied", || {
        (b.text(&copy) == "Copied").then_some(())
    });
    let copied = b.exec_async(
        "var done = arguments[arguments.length - 1];
         navigator.clipboard.readText().then(done, function (e) { done('clipboard: ' + e); });",
    );
    let copied: Value = serde_json::from_str(copied.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("clipboard holds no JSON ({e}): {copied}"));
    assert_eq!(&copied, first_policy);

    // Filters narrow the table to the groups that match.
    set_filter(&b, "principal", "DEPLOY");
    assert_eq!(shown_rows(&b), want[..1].to_vec());
    assert_eq!(b.text(&b.find("#showing")), "Showing 1 of 5 groups.");
    clear_filters(&b);
    set_filter(&b, "action", "codeguru-profiler:ConfigureAgent");
    assert_eq!(shown_rows(&b), vec![want[2].clone()]);
    clear_filters(&b);
    set_filter(&b, "hint", "explicit-deny-scp");
    assert_eq!(shown_rows(&b), vec![want[2].clone()]);
    clear_filters(&b);
    // Free text finds a session name inside the folded-away details.
    set_filter(&b, "q", "session-p-1");
    assert_eq!(shown_rows(&b), vec![want[1].clone()]);
    b.screenshot(&artefacts().join("report-filtered.png"));
    clear_filters(&b);
    assert_eq!(shown_rows(&b).len(), 5);
    let empty = b.find("#empty");
    set_filter(&b, "q", "no such thing anywhere");
    assert!(shown_rows(&b).is_empty());
    assert!(b.text(&empty).contains("No denials"));
    clear_filters(&b);

    // Sortable: count ascending, then by principal.
    b.click(&b.find("#groups th[data-sort=\"count\"]"));
    let rows = shown_rows(&b);
    assert_eq!(rows.last(), want.first());
    assert!(rows.windows(2).all(|w| w[0].2 <= w[1].2), "{rows:?}");
    b.click(&b.find("#groups th[data-sort=\"principal\"]"));
    let rows = shown_rows(&b);
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0), "{rows:?}");

    // The hostile principals are text, and nothing of theirs ran.
    for evil in [EVIL_IMG, EVIL_SCRIPT] {
        let g = want
            .iter()
            .find(|g| g.0.contains(&evil[..8]))
            .unwrap_or_else(|| panic!("no group for {evil}: {want:?}"));
        assert!(
            rows.iter().any(|r| r.0 == g.0),
            "{} not shown as text in {rows:?}",
            g.0
        );
    }
    let clean = b.exec(
        "return [typeof window.__pwned, document.images.length, document.scripts.length]",
        json!([]),
    );
    assert_eq!(clean, json!(["undefined", 0, 2]), "script from a log ran");

    // Printable: Chromium prints it to PDF.
    let pdf = b.print_pdf();
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");
    std::fs::write(artefacts().join("report.pdf"), pdf).unwrap();

    // Without JavaScript: the same rows, server-rendered.
    let dom = dom_without_js(&url, &artefacts().join("report-nojs.png"));
    for (p, a, n) in &want {
        let cells = format!(
            "<span data-f=\"principal\">{}</span></td>\n<td class=\"action\"><code data-f=\"action\">{a}</code></td>\n<td class=\"count\" data-f=\"count\">{n}</td>",
            text_escape(p)
        );
        assert!(dom.contains(&cells), "no row for {p} {a} ×{n}");
    }
    assert!(dom.contains("class=\"nojs\""), "the script ran");
    assert!(!dom.contains("<img"), "a principal became an element");
}

/// A text node as Chromium serializes it.
fn text_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
fn live_page_follows_new_denials() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &lines("deployer", "iam:PassRole", 2, 0, "d", false));
    let glob = format!("app={}", dir.path().join("*.log").display());
    let w = Watch::start(&[
        "--file",
        &glob,
        "--from",
        "start",
        "--poll-interval",
        "50ms",
    ]);
    let deployer = crate::watch::role("deployer");
    let late = crate::watch::role("late-comer");
    let mut want = std::collections::BTreeMap::new();
    want.insert((deployer.clone(), "iam:PassRole".to_string()), 2);
    w.wait_report(&want);

    let b = Browser::start();
    let url = format!("http://{}/", w.addr);
    b.goto(&url);
    wait_ready(&b);
    b.wait(WAIT, "the first refresh", || {
        (b.exec(
            "return document.documentElement.dataset.updated || ''",
            json!([]),
        ) != "")
            .then_some(())
    });
    assert_eq!(
        shown_rows(&b),
        vec![(deployer.clone(), "iam:PassRole".into(), 2)]
    );
    // Open the group: it must stay open across refreshes.
    b.click(&b.find("#groups tbody.group details summary"));

    // New denials arrive: the page shows them without being reloaded.
    b.exec("window.__sameDocument = true", json!([]));
    append(
        &log,
        &lines("late-comer", "iam:PassRole", 3, 20, "l", false),
    );
    append(&log, &lines("deployer", "iam:PassRole", 1, 30, "d2", false));
    let rows = b.wait(WAIT, "the page to show the new denials", || {
        let rows = shown_rows(&b);
        (rows.len() == 2).then_some(rows)
    });
    assert_eq!(
        rows,
        vec![
            (deployer.clone(), "iam:PassRole".into(), 3),
            (late.clone(), "iam:PassRole".into(), 3),
        ]
    );
    assert_eq!(
        b.exec("return window.__sameDocument === true", json!([])),
        true
    );
    assert_eq!(b.text(&b.find("[data-s=\"denials\"]")), "6");
    assert_eq!(b.text(&b.find("[data-s=\"principals\"]")), "2");
    let sources = b.text(&b.find("#sources tbody"));
    assert!(sources.starts_with("app "), "{sources}");
    assert!(sources.contains(" ago)"), "{sources}");
    let legend = b.text(&b.find("#chart .legend"));
    assert!(legend.contains("iam:PassRole ×6"), "{legend}");
    let still_open = b.exec(
        "return document.querySelector('#groups tbody.group[data-principal$=\"/deployer\"] details').open",
        json!([]),
    );
    assert_eq!(still_open, true, "an open group closed on refresh");
    b.screenshot(&artefacts().join("live.png"));

    // The rows the script drew from /report read exactly as the ones the
    // server renders (the two views of one group cannot drift apart).
    let both = b.exec_async(
        "var done = arguments[arguments.length - 1];
         function rows(doc) {
           return Array.from(doc.querySelectorAll('#groups tbody.group')).map(function (t) {
             return [t.dataset.principal, t.dataset.action, t.dataset.hint, t.dataset.count,
               Array.from(t.querySelectorAll('[data-f]')).map(function (f) { return f.dataset.f + '=' + f.textContent; })];
           });
         }
         fetch('/').then(function (r) { return r.text(); }).then(function (html) {
           done([rows(document), rows(new DOMParser().parseFromString(html, 'text/html'))]);
         }, function (e) { done(String(e)); });",
    );
    assert_eq!(
        both[0], both[1],
        "the script's rows differ from the server's"
    );
    assert_eq!(both[0].as_array().map(Vec::len), Some(2));
    // Both show the whole advice: the shared notes joined to the text.
    let shown = both[0].to_string();
    assert!(
        shown.contains("\\nWho: the administrator of the principal") && shown.contains("\\nDocs: "),
        "the rows lack the hint's notes: {shown}"
    );

    // /report answers 304 while nothing changed.
    let etag = ureq::get(&format!("http://{}/report", w.addr))
        .call()
        .unwrap()
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("an ETag");
    let again = ureq::get(&format!("http://{}/report", w.addr))
        .header("If-None-Match", &etag)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);

    // Without JavaScript: the server renders the table, and applies the
    // filters of the query string.
    let dom = dom_without_js(&url, &artefacts().join("live-nojs.png"));
    assert!(dom.contains(&format!("<span data-f=\"principal\">{late}</span>")));
    assert!(dom.contains(&format!("<span data-f=\"principal\">{deployer}</span>")));
    let dom = dom_without_js(
        &format!("{url}?principal=late"),
        &artefacts().join("live-nojs-filtered.png"),
    );
    assert!(dom.contains(&format!("<span data-f=\"principal\">{late}</span>")));
    assert!(!dom.contains(&format!("<span data-f=\"principal\">{deployer}</span>")));
}
