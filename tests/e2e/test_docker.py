"""The Docker deployment without a Docker engine: the compose file validated by Debian's
docker-compose, the Dockerfile linted by hadolint, and the very commands the containers run,
run here against a real Label Studio and a real Redis."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import close, connect
from tokenlq.synthetic import make_ner_corpus

from .live import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "docker-compose.yml"
EXAMPLE = ROOT / "docker" / ".env.example"


def example_env():
    pairs = [line.split("=", 1) for line in EXAMPLE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {k: v for k, v in pairs}


def compose_config(env):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is needed: apt-get install docker-compose (scripts/test.sh does)")
    return subprocess.run([binary, "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **env}, timeout=60)


@pytest.fixture(scope="module")
def config():
    done = compose_config(example_env())
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_the_compose_file_is_valid_and_wires_every_setting(config):
    services = config["services"]
    assert set(services) == {"labelstudio", "backend", "worker", "redis", "postgres"}
    assert services["labelstudio"]["image"] == "heartexlabs/label-studio:1.23.2"
    ls_env = services["labelstudio"]["environment"]
    assert ls_env["ML_BLOCK_LOCAL_IP"] == "false" and ls_env["SSRF_PROTECTION_ENABLED"] == "false"
    assert ls_env["LABEL_STUDIO_USER_TOKEN"] == example_env()["LABEL_STUDIO_API_KEY"]
    wanted = {"LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_PUBLIC_URL",
              "LABEL_STUDIO_TIMEOUT", "BASIC_AUTH_USER", "BASIC_AUTH_PASS", "TOKENLQ_WEBHOOK_SECRET",
              "TOKENLQ_PROBS", "TOKENLQ_REFIT_FRACTION", "TOKENLQ_WRITES_PER_RUN",
              "TOKENLQ_DATA_DIR", "REDIS_URL", "DATABASE_URL", "WORKERS", "THREADS", "LOG_LEVEL",
              "PORT"}
    password = example_env()["TOKENLQ_DB_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    for name in ("backend", "worker"):
        env = services[name]["environment"]
        assert wanted <= set(env), wanted - set(env)
        assert env["LABEL_STUDIO_URL"] == "http://labelstudio:8080"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"] == f"postgresql://tokenlq:{password}@postgres:5432/tokenlq"
        assert {"redis", "postgres"} <= set(services[name]["depends_on"])
    assert "volumes" not in services["worker"]  # no shared disk: the state is in PostgreSQL
    assert services["worker"]["command"] == ["tokenlq", "worker"]
    # The image's default is the pretrained model's extra; the example file says how to drop it.
    assert services["backend"]["build"]["args"] == {"TOKENLQ_EXTRAS": "backend,encoder"}


@pytest.mark.parametrize("secret", ["LABEL_STUDIO_API_KEY", "TOKENLQ_DB_PASSWORD"])
def test_a_missing_secret_is_refused_with_its_name(secret):
    env = example_env()
    del env[secret]
    done = compose_config(env)
    assert done.returncode != 0 and f"set {secret}" in done.stderr


def test_the_dockerfile_passes_hadolint():
    done = subprocess.run([str(Path(sys.executable).parent / "hadolint"),
                           str(ROOT / "docker" / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_containers_commands_run_here(config, labelstudio, redis_url, database_url, tmp_path):
    """`tokenlq serve` and `tokenlq worker`, as the compose file runs them, with its
    environment pointed at this machine's Label Studio, Redis and PostgreSQL, each with a data
    folder of its own (the compose file gives the workers none in common)."""
    url, token = labelstudio
    port = free_port()
    env = dict(os.environ)
    env.update({k: str(v) for k, v in config["services"]["backend"]["environment"].items()})
    env.update(LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token,
               REDIS_URL=redis_url.rsplit("/", 1)[0] + "/2",  # a database of its own
               DATABASE_URL=database_url, PORT=str(port), TOKENLQ_PROBS="crf",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker")}

    def start(name, service):
        with logs[name].open("wb") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(config["services"][service]["command"], stdout=log,
                                    env=dict(env, TOKENLQ_DATA_DIR=str(tmp_path / name)),
                                    stderr=subprocess.STDOUT)

    web, worker = start("web", "backend"), start("worker", "worker")
    client = connect(url, token)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, web)
        corpus = make_ner_corpus(40, error_rate=0.05, seed=71)
        project = client.projects.create(title="tokenlq e2e compose commands",
                                         label_config=label_config(corpus))
        client.projects.import_tasks(id=project.id, request=corpus_tasks(corpus))
        job = requests.post(f"{base}/projects/{project.id}/rescore", timeout=5).json()["job"]
        deadline = time.time() + 180
        while (status := requests.get(f"{base}/jobs/{job}", timeout=5).json())["status"] != "done":
            assert status["status"] != "failed" and time.time() < deadline, status
            time.sleep(1)
        assert status["summary"]["scored"] == 40
    finally:
        close(client)
        for name, process in (("web", web), ("worker", worker)):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{name} did not stop within 30 s of SIGTERM; its log ends:\n"
                            + logs[name].read_text(errors="replace")[-3000:])
