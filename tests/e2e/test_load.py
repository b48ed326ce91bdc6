"""bench/load.py against the real Label Studio of the tests: a storm of 1,000 webhook events in
10 s, forged and replayed events, /predict from 10 concurrent clients. The script checks the
state it leaves in Label Studio and exits 1 on any failed check; its latencies are figures
(printed, and in bench/results/load.md), not assertions."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_webhook_storm_forged_events_and_concurrent_predict(labelstudio, tmp_path):
    url, token = labelstudio
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--events", "1000",
                           "--seconds", "10", "--batches", "10", "--json", str(out)],
                          env=dict(os.environ, LS_URL=url, LS_TOKEN=token), capture_output=True,
                          text=True, timeout=900)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["checks"] and all(report["checks"].values()), report["checks"]
    storm = report["figures"]["storm"]
    # Coalesced: a run takes seconds, so 1,000 events in 10 s make a handful of runs, not hundreds.
    assert storm["events"] == 1000 and 1 <= storm["runs"] <= 50
    assert report["figures"]["predict"]["requests"] == 100
