#!/usr/bin/env python3
"""`denytrail watch --sqs` figures for the README, on loopback.

    python3 benches/sqs.py [--bin target/release/denytrail] latency [--samples 100]
    python3 benches/sqs.py [--bin …] catchup [--store nginx|moto] [--objects 2000]
                           [--records 1000] [--replicas 2] [--work DIR]

latency: one replica follows a queue that moto's bucket notifications feed;
each sample uploads one CloudTrail object holding one new denial and polls
/metrics (every 2 ms) until it is counted. It prints the delay from the
notification's delivery to the count on /metrics: moto queues the
notification while it answers PutObject, so the delay from the end of
PutObject bounds it.

catchup: OBJECTS CloudTrail files of RECORDS records each (`denytrail
generate --out -`, cut into gzipped {"Records":[…]} documents, as
CloudTrail writes them) are announced on an SQS queue on moto before any
replica runs; then REPLICAS replicas share the queue until every message is
deleted. Where the objects are read from:

- `--store nginx` (the default): nginx serves them from disk as path-style
  S3 GetObject answers (`GET /BUCKET/KEY`), and the queue holds the S3
  event notifications, sent by the script; the replicas are pointed at the
  two with `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_S3`. This measures
  denytrail: nginx serves hundreds of MB/s on a fraction of a core.
- `--store moto`: the objects are uploaded to moto's S3, whose bucket
  notifications fill the queue, and read back from it. moto answers a
  few GetObject per second from one Python process: this measures moto,
  the ceiling of any reader of that store (the script also times one
  boto3 client downloading the same objects with nothing counted).

Before printing a figure it checks the replicas' totals against the
generator's truth: records scanned equal to the records written (no object
lost, none counted twice), and `denytrail merge` of the replicas' /report
equal to the truth's groups. It prints the wall time from the replicas'
start to the last record counted and to the last message deleted, MB/s of
JSON (inflated bytes scanned), and the CPU time of each process.

moto's queue and more than one replica: moto's ReceiveMessage and
DeleteMessage take no lock, so two replicas polling it at once can be
handed the same message (both count its object), and a delete can undo
another made at the same moment. The run then stops with "counted twice"
or stalls short of the truth: a figure is only printed when the counts are
exact. One replica on moto is exact; SQS itself serialises receives (and
promises at least once: a rare second delivery to another replica is
counted by both, as README says).

Needs moto[server] (and the boto3 it brings) and, for the nginx store,
nginx (`apt-get install -y nginx`; the script installs nothing). Every
server binds 127.0.0.1 and is stopped at the end.
"""

import argparse
import concurrent.futures
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ORG = "o-benchorg01"
BUCKET = "catchup"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, what, proc):
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{what} did not start")


def start_moto():
    port = free_port()
    p = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/moto-api/", "moto", p)
    return p, url


def start_nginx(root, conf_dir):
    """nginx serving ROOT/BUCKET/KEY at /BUCKET/KEY on a free loopback port."""
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is not installed (apt-get install -y nginx)")
    port = free_port()
    conf = os.path.join(conf_dir, "nginx.conf")
    temp = lambda n: os.path.join(conf_dir, n)  # noqa: E731
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
daemon off;
pid {temp("nginx.pid")};
error_log {temp("error.log")} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {temp("body")};
    proxy_temp_path {temp("proxy")};
    fastcgi_temp_path {temp("fastcgi")};
    uwsgi_temp_path {temp("uwsgi")};
    scgi_temp_path {temp("scgi")};
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-e", temp("error.log"), "-p", conf_dir, "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/", "nginx", p)
    return p, url


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def clients(url):
    kw = dict(
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return boto3.client("s3", **kw), boto3.client("sqs", **kw)


def notifying_bucket(s3, sqs, name):
    """A bucket on moto whose new objects are announced on a queue."""
    s3.create_bucket(Bucket=name)
    q = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return q


def cpu_seconds(pids):
    """CPU time (user + system) of the processes PIDS, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / TICK


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return out


class Replica:
    def __init__(self, binary, env_extra, queue, state, extra=()):
        self.port = free_port()
        env = dict(os.environ)
        for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
            env.pop(k, None)
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            DENYTRAIL_LOG="warn",
        )
        env.update(env_extra)
        self.p = subprocess.Popen(
            [binary, "watch", "--sqs", queue, "--state-dir", state,
             "--listen", f"127.0.0.1:{self.port}", *extra],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/healthz", "denytrail watch", self.p)

    def metrics(self):
        return urllib.request.urlopen(self.base + "/metrics", timeout=10).read().decode()

    def report(self):
        return urllib.request.urlopen(self.base + "/report", timeout=60).read()

    def stop(self):
        stop(self.p)


def sample(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def denial(i):
    a = "123456789012"
    p = f"role-{i % 7}"
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{a}:assumed-role/{p}/s",
                         "accountId": a,
                         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{a}:role/{p}", "accountId": a}}},
        "eventTime": "2024-05-01T12:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "PassRole",
        "awsRegion": "us-east-1", "errorCode": "AccessDenied",
        "errorMessage": f"User: arn:aws:sts::{a}:assumed-role/{p}/s is not authorized to perform: iam:PassRole on resource: arn:aws:iam::{a}:role/x because no identity-based policy allows the iam:PassRole action",
        "eventID": f"latency-{i:08}", "recipientAccountId": a,
    }


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def latency(args):
    moto, moto_url = start_moto()
    try:
        s3, sqs = clients(moto_url)
        q = notifying_bucket(s3, sqs, "latency")
        state = tempfile.mkdtemp(prefix="denytrail-sqs-bench-")
        r = Replica(args.bin, {"AWS_ENDPOINT_URL": moto_url}, q, state)
        total = "denytrail_records_scanned_total{source_kind=\"s3\"}"
        from_put = []
        # One warm-up object, then the samples.
        for i in range(args.samples + 1):
            body = gzip.compress(json.dumps({"Records": [denial(i)]}).encode())
            key = f"AWSLogs/{ORG}/123456789012/CloudTrail/us-east-1/2024/05/01/lat-{i:06}.json.gz"
            before = sample(r.metrics(), total)
            s3.put_object(Bucket="latency", Key=key, Body=body)
            put_done = time.time()
            deadline = put_done + 30
            while sample(r.metrics(), total) <= before:
                if time.time() > deadline:
                    raise SystemExit(f"object {i} not counted within 30 s")
                time.sleep(0.002)
            seen = time.time()
            if i == 0:
                continue
            from_put.append(seen - put_done)
        counted = sum(
            float(l.rsplit(" ", 1)[1])
            for l in r.metrics().splitlines()
            if l.startswith("denytrail_denials_total{")
        )
        assert counted == args.samples + 1, (counted, args.samples + 1)
        r.stop()
        shutil.rmtree(state, ignore_errors=True)
    finally:
        stop(moto)
    ms = [x * 1000 for x in from_put]
    print(f"| new object → counted on /metrics (from PutObject's end, moto notifying on loopback) "
          f"| p50 {pct(ms, 0.5):.1f} ms, p90 {pct(ms, 0.9):.1f} ms, max {max(ms):.1f} ms ({len(ms)} samples) |")


def is_insight(record):
    return b"AwsCloudTrailInsight" in record or b'"insightDetails"' in record


def key_of(i):
    return (f"AWSLogs/{ORG}/123456789012/CloudTrail/us-east-1/2024/05/01/"
            f"123456789012_CloudTrail_us-east-1_20240501T0000Z_{i:05}.json.gz")


def corpus(args, work):
    """OBJECTS gzipped Records documents of RECORDS records under
    WORK/store/BUCKET/KEY, and the generator's truth; reused when WORK
    already holds the same corpus."""
    manifest = os.path.join(work, "manifest.json")
    want = {"seed": 5, "objects": args.objects, "records": args.records, "rate": 0.01,
            "layout": 2}
    if os.path.exists(manifest):
        with open(manifest) as f:
            m = json.load(f)
        if m["corpus"] == want:
            print("reusing the corpus in", work, file=sys.stderr)
            return m
    t0 = time.time()
    # The truth goes to stderr at the end: into a file, so that a large
    # one cannot fill a pipe nobody reads yet.
    truth_file = open(os.path.join(work, "truth.json"), "w+b")
    gen = subprocess.Popen(
        [args.bin, "generate", "--seed", "5", "--records", str(args.objects * args.records),
         "--denial-rate", "0.01", "--out", "-"],
        stdout=subprocess.PIPE, stderr=truth_file, bufsize=1 << 20,
    )
    files = []

    def write(i, doc):
        path = os.path.join(work, "store", BUCKET, key_of(i))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        body = gzip.compress(doc, 6)
        with open(path, "wb") as fh:
            fh.write(body)
        return {"key": key_of(i), "size": len(body), "json": len(doc),
                "etag": hashlib.md5(body).hexdigest()}

    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futures = []
        batch = []
        for line in gen.stdout:
            batch.append(line.rstrip(b"\n"))
            if len(batch) == args.records:
                # CloudTrail writes Insight events to files of their own,
                # which denytrail skips (by key here, by their first record
                # in replay); the generator mixes a few into its stream. A
                # log file that starts with one would be taken for an
                # Insight file: start it with an ordinary record.
                first = next((i for i, r in enumerate(batch) if not is_insight(r)), 0)
                batch[0], batch[first] = batch[first], batch[0]
                doc = b'{"Records":[' + b",".join(batch) + b"]}"
                futures.append(ex.submit(write, len(futures), doc))
                batch = []
        files = [f.result() for f in futures]
    if gen.wait() != 0 or batch or len(files) != args.objects:
        raise SystemExit("generate failed")
    truth_file.seek(0)
    truth = json.loads(truth_file.read())
    truth_file.close()
    m = {"corpus": want, "truth": truth, "files": files}
    with open(manifest, "w") as f:
        json.dump(m, f)
    print(f"generated {len(files)} log files in {time.time() - t0:.1f} s", file=sys.stderr)
    return m


def notification(f, i):
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T00:05:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "bench",
               "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
               "object": {"key": f["key"], "size": f["size"], "eTag": f["etag"],
                          "sequencer": f"{i:016X}"}}}]})


def catchup(args):
    work = args.work or tempfile.mkdtemp(prefix="denytrail-sqs-bench-")
    os.makedirs(work, exist_ok=True)
    m = corpus(args, work)
    truth, files = m["truth"], m["files"]
    stored = sum(f["size"] for f in files)
    inflated = sum(f["json"] for f in files)
    run = tempfile.mkdtemp(prefix="denytrail-sqs-run-")
    servers, reps = [], []
    try:
        moto, moto_url = start_moto()
        servers.append(moto)
        s3, sqs = clients(moto_url)
        ceiling = None
        if args.store == "nginx":
            # Readable by nginx's workers (they drop root).
            for d, _, _ in os.walk(work):
                os.chmod(d, 0o755)
            os.chmod(work, 0o755)
            nginx, s3_url = start_nginx(os.path.join(work, "store"), run)
            servers.append(nginx)
            q = sqs.create_queue(QueueName=BUCKET)["QueueUrl"]
            t0 = time.time()
            for at in range(0, len(files), 10):
                entries = [{"Id": str(j), "MessageBody": notification(f, at + j)}
                           for j, f in enumerate(files[at:at + 10])]
                out = sqs.send_message_batch(QueueUrl=q, Entries=entries)
                assert not out.get("Failed"), out
            print(f"announced {len(files)} objects in {time.time() - t0:.1f} s", file=sys.stderr)
            env = {"AWS_ENDPOINT_URL_SQS": moto_url, "AWS_ENDPOINT_URL_S3": s3_url}
            store_pids = lambda: children(nginx.pid)  # noqa: E731
            messages = len(files)
        else:
            q = notifying_bucket(s3, sqs, BUCKET)

            def put(f):
                with open(os.path.join(work, "store", BUCKET, f["key"]), "rb") as fh:
                    s3.put_object(Bucket=BUCKET, Key=f["key"], Body=fh.read())

            t0 = time.time()
            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                list(ex.map(put, files))
            print(f"uploaded {len(files)} objects ({stored / 1e6:.0f} MB) in "
                  f"{time.time() - t0:.1f} s", file=sys.stderr)

            # The ceiling: one client downloading every object, nothing counted.
            def get(f):
                return len(s3.get_object(Bucket=BUCKET, Key=f["key"])["Body"].read())

            t0 = time.time()
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                assert sum(ex.map(get, files)) == stored
            ceiling = time.time() - t0
            env = {"AWS_ENDPOINT_URL": moto_url}
            store_pids = lambda: [moto.pid]  # noqa: E731
            # S3's test event, sent when the notification was configured.
            messages = len(files) + 1

        states = [os.path.join(run, f"state-{i}") for i in range(args.replicas)]
        store_cpu0 = cpu_seconds(store_pids())
        moto_cpu0 = cpu_seconds([moto.pid])
        t0 = time.time()
        reps.extend(Replica(args.bin, env, q, s) for s in states)
        series = {
            "records": 'denytrail_records_scanned_total{source_kind="s3"}',
            "bytes": 'denytrail_bytes_scanned_total{source_kind="s3"}',
            "deleted": f'denytrail_sqs_messages_deleted_total{{queue="{BUCKET}"}}',
            "objects": f'denytrail_sqs_objects_read_total{{queue="{BUCKET}"}}',
            "failed": f'denytrail_sqs_messages_failed_total{{queue="{BUCKET}"}}',
            "again": f'denytrail_sqs_skipped_total{{queue="{BUCKET}",reason="already_counted"}}',
        }

        def totals():
            texts = [r.metrics() for r in reps]
            return texts, {k: sum(sample(t, s) for t in texts) for k, s in series.items()}

        counted_at = deleted_at = None
        last, last_change, shown = None, time.time(), time.time()
        while True:
            texts, now = totals()
            if time.time() - shown > 5:
                shown = time.time()
                print(f"{shown - t0:.0f} s: {now}", file=sys.stderr)
            if now["records"] > truth["records"]:
                raise SystemExit(
                    f"counted twice: {now['records']:.0f} records scanned of "
                    f"{truth['records']} written ({now}). With more than one replica on "
                    "moto, see the note on moto's queue at the top of this script")
            if counted_at is None and now["records"] == truth["records"]:
                counted_at = time.time()
            if deleted_at is None and now["deleted"] >= messages:
                deleted_at = time.time()
            if counted_at and deleted_at:
                break
            progress = (now["records"], now["deleted"])
            if progress != last:
                last, last_change = progress, time.time()
            elif time.time() - last_change > 120:
                depth = sqs.get_queue_attributes(
                    QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages",
                                                "ApproximateNumberOfMessagesNotVisible"])
                raise SystemExit(f"no progress for 120 s: {now}, queue {depth['Attributes']}")
            time.sleep(0.05)
        cpu = [cpu_seconds([r.p.pid]) for r in reps]
        store_cpu = cpu_seconds(store_pids()) - store_cpu0
        moto_cpu = cpu_seconds([moto.pid]) - moto_cpu0
        per = [sample(t, series["objects"]) for t in texts]
        # Nothing left behind on the queue, nothing failed.
        attrs = sqs.get_queue_attributes(
            QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages",
                                        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        assert all(v == "0" for v in attrs.values()), attrs
        assert now["failed"] == 0, now
        assert now["records"] == truth["records"], (now, truth["records"])
        scanned = now["bytes"]
        assert scanned == inflated, (scanned, inflated)
        # merge of the replicas' /report is the truth.
        paths = []
        for i, r in enumerate(reps):
            p = os.path.join(run, f"report-{i}.json")
            with open(p, "wb") as fh:
                fh.write(r.report())
            paths.append(p)
        merged = json.loads(subprocess.run([args.bin, "merge", "--format", "json", *paths],
                                           check=True, capture_output=True).stdout)
        got = sorted((g["principal"], g["action"], g["count"]) for g in merged["groups"])
        want = sorted((g["principal"], g["action"], g["count"]) for g in truth["groups_default_scope"])
        if got != want:
            diff = sorted(set(got) ^ set(want))
            raise SystemExit(f"merge of the replicas' reports differs from the truth: "
                             f"{merged['summary']['denials']} denials, truth "
                             f"{truth['denials_default_scope']}; groups that differ: {diff[:10]}")
        assert merged["summary"]["denials"] == truth["denials_default_scope"]
    finally:
        for r in reps:
            r.stop()
        for p in servers:
            stop(p)
        shutil.rmtree(run, ignore_errors=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    took = counted_at - t0
    store = ("nginx serving the objects, moto the queue" if args.store == "nginx"
             else "moto serving the objects and the queue")
    print(f"| catch-up, {store}: {len(files)} objects of {args.records} records "
          f"({inflated / 1e6:.0f} MB of JSON, {stored / 1e6:.0f} MB stored), "
          f"{args.replicas} replicas (objects each: {[int(x) for x in per]}) "
          f"| {took:.1f} s to the last record counted ({deleted_at - t0:.1f} s to the last "
          f"message deleted): {inflated / 1e6 / took:.0f} MB/s of JSON; CPU: replicas "
          f"{', '.join(f'{c:.1f} s' for c in cpu)}, "
          + (f"nginx {store_cpu:.1f} s, moto {moto_cpu:.1f} s" if args.store == "nginx"
             else f"moto {moto_cpu:.1f} s")
          + f" ({truth['records']} records, {truth['denials_default_scope']} denials: "
          f"checked against the truth) |")
    if ceiling is not None:
        print(f"| the store's ceiling: one boto3 client, 8 threads, downloading the same objects "
              f"from moto, nothing counted | {ceiling:.1f} s, {stored / 1e6 / ceiling:.1f} MB/s stored "
              f"= {inflated / 1e6 / ceiling:.0f} MB/s of JSON |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "denytrail"))
    sub = ap.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--samples", type=int, default=100)
    cu = sub.add_parser("catchup")
    cu.add_argument("--store", choices=["nginx", "moto"], default="nginx")
    cu.add_argument("--objects", type=int, default=2000)
    cu.add_argument("--records", type=int, default=1000)
    cu.add_argument("--replicas", type=int, default=2)
    cu.add_argument("--work", help="keep the generated corpus here and reuse it")
    args = ap.parse_args()
    # A SIGTERM (timeout, Ctrl-C's cousin) unwinds, so the servers and the
    # replicas started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    (latency if args.what == "latency" else catchup)(args)


if __name__ == "__main__":
    main()
