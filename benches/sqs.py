#!/usr/bin/env python3
"""`denytrail watch --sqs` figures for the README, against moto on loopback.

    python3 benches/sqs.py [--bin target/release/denytrail] latency [--samples 100]
    python3 benches/sqs.py [--bin …] catchup [--objects 2000] [--records 1000] [--replicas 2]

latency: one replica follows a queue that moto's bucket notifications feed;
each sample uploads one CloudTrail object holding one new denial and polls
/metrics (every 2 ms) until it is counted. It prints the delay from the
notification's delivery (moto queues it while it answers PutObject, the
notification) to the count on /metrics: moto delivers the notification
inside PutObject, so the delay from the end of PutObject bounds it.

catchup: `denytrail generate` writes OBJECTS CloudTrail files of RECORDS
records, uploaded (with notifications) before any replica runs; then
REPLICAS replicas share the queue until every message is deleted. It prints
the JSON bytes scanned per second (what the replicas' records and bytes
scanned counters say, summed), checked against the generator's truth
through /report, and, for the ceiling, how fast one client downloads the
same objects from moto with nothing counted.

Needs moto[server] (and the boto3 it brings). Every server binds
127.0.0.1 and is stopped at the end.
"""

import argparse
import concurrent.futures
import gzip
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

ORG = "o-benchorg01"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    p = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return p, url
        except Exception:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("moto did not start")


def clients(url):
    kw = dict(
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return boto3.client("s3", **kw), boto3.client("sqs", **kw)


def trail(s3, sqs, name):
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


class Replica:
    def __init__(self, binary, moto_url, queue, state, extra=()):
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            DENYTRAIL_LOG="warn",
        )
        self.p = subprocess.Popen(
            [binary, "watch", "--sqs", queue, "--endpoint-url", moto_url,
             "--state-dir", state, "--listen", f"127.0.0.1:{self.port}", *extra],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit("denytrail watch did not start")

    def metrics(self):
        return urllib.request.urlopen(self.base + "/metrics", timeout=5).read().decode()

    def report(self):
        return json.loads(urllib.request.urlopen(self.base + "/report", timeout=30).read())

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()


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


def latency(args, moto_url):
    s3, sqs = clients(moto_url)
    q = trail(s3, sqs, "latency")
    state = tempfile.mkdtemp(prefix="denytrail-sqs-bench-")
    r = Replica(args.bin, moto_url, q, state)
    total = "denytrail_records_scanned_total{source_kind=\"s3\"}"
    # The test event S3 sends, and one warm-up object.
    from_put = []
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
        # moto puts the notification on the queue inside PutObject: the
        # delay from its delivery is at most this.
        from_put.append(seen - put_done)
    want = args.samples
    got = sample(r.metrics(), "denytrail_denials_total{principal=\"__other__\"}")  # not folded
    assert got == 0
    counted = sum(
        float(l.rsplit(" ", 1)[1])
        for l in r.metrics().splitlines()
        if l.startswith("denytrail_denials_total{")
    )
    assert counted == want + 1, (counted, want)
    r.stop()
    shutil.rmtree(state, ignore_errors=True)
    ms = [x * 1000 for x in from_put]
    print(f"| new object → counted on /metrics (from PutObject's end, moto notifying on loopback) "
          f"| p50 {pct(ms, 0.5):.1f} ms, p90 {pct(ms, 0.9):.1f} ms, max {max(ms):.1f} ms ({len(ms)} samples) |")


def catchup(args, moto_url):
    s3, sqs = clients(moto_url)
    q = trail(s3, sqs, "catchup")
    work = tempfile.mkdtemp(prefix="denytrail-sqs-bench-")
    # `generate --out -` streams the records as JSON Lines (its truth on
    # stderr); they are cut into {"Records":[…]} documents of RECORDS
    # records, gzipped, as CloudTrail writes them.
    t0 = time.time()
    gen = subprocess.run(
        [args.bin, "generate", "--seed", "5", "--records", str(args.objects * args.records),
         "--denial-rate", "0.01", "--out", "-"],
        check=True, capture_output=True,
    )
    truth = json.loads(gen.stderr)
    lines = gen.stdout.splitlines()
    files = []
    inflated = 0
    for i in range(args.objects):
        doc = b'{"Records":[' + b",".join(lines[i * args.records:(i + 1) * args.records]) + b"]}"
        inflated += len(doc)
        f = os.path.join(work, f"{i:05}.json.gz")
        with open(f, "wb") as fh:
            fh.write(gzip.compress(doc, 6))
        files.append(f)
    del lines, gen
    print(f"generated {len(files)} log files in {time.time() - t0:.1f} s", file=sys.stderr)

    def put(f):
        n = os.path.basename(f).split(".")[0]
        key = (f"AWSLogs/{ORG}/123456789012/CloudTrail/us-east-1/2024/05/01/"
               f"123456789012_CloudTrail_us-east-1_20240501T0000Z_{n}.json.gz")
        with open(f, "rb") as fh:
            s3.put_object(Bucket="catchup", Key=key, Body=fh.read())
        return key

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        keys = list(ex.map(put, files))
    stored = sum(os.path.getsize(f) for f in files)
    print(f"uploaded {len(keys)} objects ({stored / 1e6:.0f} MB stored) in {time.time() - t0:.1f} s",
          file=sys.stderr)

    # The ceiling: one client downloading every object, nothing counted.
    def get(k):
        return len(s3.get_object(Bucket="catchup", Key=k)["Body"].read())

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = sum(ex.map(get, keys))
    raw = time.time() - t0
    assert got == stored

    states = [tempfile.mkdtemp(dir=work) for _ in range(args.replicas)]
    t0 = time.time()
    reps = [Replica(args.bin, moto_url, q, s) for s in states]
    want = len(files)
    name = "catchup"
    while True:
        texts = [r.metrics() for r in reps]
        deleted = sum(sample(t, f"denytrail_sqs_messages_deleted_total{{queue=\"{name}\"}}") for t in texts)
        read = sum(sample(t, f"denytrail_sqs_objects_read_total{{queue=\"{name}\"}}") for t in texts)
        if read >= want and deleted >= want:
            break
        if time.time() - t0 > 1800:
            raise SystemExit(f"not caught up: {read} objects read")
        time.sleep(0.05)
    took = time.time() - t0
    texts = [r.metrics() for r in reps]
    scanned = sum(sample(t, "denytrail_bytes_scanned_total{source_kind=\"s3\"}") for t in texts)
    records = sum(sample(t, "denytrail_records_scanned_total{source_kind=\"s3\"}") for t in texts)
    denials = sum(r.report()["summary"]["denials"] for r in reps)
    assert records == truth["records"], (records, truth["records"])
    # Each replica drops repeated deliveries among what it reads: a repeat
    # cut into another object that the other replica read counts twice.
    between = denials - truth["denials_default_scope"]
    assert 0 <= between <= truth["classes"].get("duplicate", 0), (denials, truth)
    per = [sample(t, f"denytrail_sqs_objects_read_total{{queue=\"{name}\"}}") for t in texts]
    for r in reps:
        r.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"| catch-up: {want} objects of {args.records} records ({scanned / 1e6:.0f} MB of JSON, "
          f"{stored / 1e6:.0f} MB stored), {args.replicas} replicas (objects each: {per}) "
          f"| {took:.1f} s, {scanned / 1e6 / took:.0f} MB/s of JSON ({records:.0f} records; "
          f"denials {denials} = truth {truth['denials_default_scope']} + {between} repeats read by both) |")
    print(f"| the ceiling: one boto3 client, 8 threads, downloading the same objects from moto "
          f"| {raw:.1f} s, {stored / 1e6 / raw:.0f} MB/s stored = {inflated / 1e6 / raw:.0f} MB/s of JSON |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "denytrail"))
    sub = ap.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--samples", type=int, default=100)
    cu = sub.add_parser("catchup")
    cu.add_argument("--objects", type=int, default=2000)
    cu.add_argument("--records", type=int, default=1000)
    cu.add_argument("--replicas", type=int, default=2)
    args = ap.parse_args()
    moto, url = start_moto()
    try:
        (latency if args.what == "latency" else catchup)(args, url)
    finally:
        moto.kill()
        moto.wait()


if __name__ == "__main__":
    main()
