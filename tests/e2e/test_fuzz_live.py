"""Schemathesis' command line against the backend as it is deployed (`tokenlq serve`, gunicorn)
with Label Studio down: every operation of /openapi.json, valid and invalid cases, its coverage,
fuzzing and stateful phases; no answer may be a 5xx. Prints the number of cases tried."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .live import free_port, serve


def test_schemathesis_finds_no_server_error_in_the_running_backend(tmp_path):
    env = dict(os.environ, LABEL_STUDIO_URL=f"http://127.0.0.1:{free_port()}",  # nobody there
               LABEL_STUDIO_API_KEY="live-fuzz-key", BASIC_AUTH_USER="u", BASIC_AUTH_PASS="live-pass",
               TOKENLQ_WEBHOOK_SECRET="live-secret", TOKENLQ_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "backend.log"
    base, backend = serve(env, log)
    try:
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        done = subprocess.run([st, "run", f"{base}/openapi.json", "--checks", "not_a_server_error",
                               "--max-examples", "60", "--auth", "u:live-pass", "--seed", "7",
                               "--header", "X-Tokenlq-Webhook-Secret: live-secret"],
                              capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, NO_COLOR="1"))
    finally:
        backend.terminate()
        backend.wait(timeout=30)
    summary = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    print(summary.group(0) if summary else done.stdout[-2000:])
    assert done.returncode == 0 and summary, done.stdout[-5000:]
    assert int(summary.group(1)) == int(summary.group(2)) > 500
    assert "unexpected error" not in log.read_text()  # what backend/errors.py logs for a 500
