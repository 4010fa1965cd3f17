"""prefect.yaml on a real `prefect server` (SQLite, 127.0.0.1): `vit deploy`, the nightly
schedule seen through the API, a triggered refresh run to Completed by `vit worker`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from vit.ports import free_port
from vit.records import Dataset

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def server(tmp_path):
    """`prefect server start` on a free 127.0.0.1 port with its own PREFECT_HOME (SQLite)."""
    from flows.runtime import healthy

    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while not healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"prefect server did not start:\n{(tmp_path / 'server.log').read_text()}"
                )
            time.sleep(0.3)
        yield url, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _vit(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [str(BIN / "vit"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, f"vit {args}:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.mark.slow
def test_deploy_schedule_and_a_worker_run(server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from vit.sources.scenes import make_scene

    url, env = server
    deployed = json.loads(_vit(["deploy"], env).stdout)
    assert set(deployed["deployments"]) == {
        "pipeline/vitflow-pipeline",
        "refresh/nightly-refresh",
        "active-learning/active-learning",
    }
    assert deployed["work_pools_created"] == ["vitflow-process"]

    # A tiny drop (one new scene) in a temporary data folder; the repo's data/ is not touched.
    (tmp_path / "incoming").mkdir()
    make_scene(seed=5, index=0, size=64)[1].save(tmp_path / "incoming/a.png")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dedup"]["cache_root"] = str(tmp_path / "embcache")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    parameters = {
        "incoming": str(tmp_path / "incoming"),
        "dataset": str(tmp_path / "ds"),
        "seen": [],
        "state": str(tmp_path / "state"),
        "threshold": 1,  # one new record makes retraining due: the pipeline is triggered
        "retrain_deployment": "pipeline/vitflow-pipeline",
        "params_path": str(tmp_path / "params.yaml"),
    }
    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        refresh = client.read_deployment_by_name("refresh/nightly-refresh")
        pipeline = client.read_deployment_by_name("pipeline/vitflow-pipeline")
        [schedule] = refresh.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "UTC")
        assert schedule.active and not pipeline.schedules
        assert refresh.work_pool_name == pipeline.work_pool_name == "vitflow-process"
        [step] = refresh.pull_steps
        assert step["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
        assert client.read_concurrency_limit_by_tag("llm").concurrency_limit == 1
        run = run_deployment("refresh/nightly-refresh", parameters=parameters, timeout=0)

    worker = _vit(["worker", "--run-once", "--limit", "1"], env)

    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
        assert state.is_completed(), f"{state}\n{worker.stdout}\n{worker.stderr}"
        by_pipeline = DeploymentFilter(id=DeploymentFilterId(any_=[pipeline.id]))
        triggered = client.read_flow_runs(deployment_filter=by_pipeline)
    assert Dataset.open(tmp_path / "ds").count == 1  # the run did the work, in the checkout
    assert len(triggered) == 1  # and, retraining being due, started the pipeline deployment
    last = json.loads((tmp_path / "state/state.json").read_text())
    assert last["since_training"] == 0 and last["last_training"]["flow_run"] == str(triggered[0].id)


def test_serve_builds_the_deployments_of_prefect_yaml():
    from flows.deploy import runner_deployments

    deps = {d.name: d for d in runner_deployments(ROOT / "prefect.yaml")}
    assert set(deps) == {"vitflow-pipeline", "nightly-refresh", "active-learning"}
    [schedule] = deps["nightly-refresh"].schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "UTC")
    assert deps["vitflow-pipeline"].parameters["through"] == "evaluate"
