"""Before you deploy a change, replay last week's histories.

Runs a few Checkout instances with the deployed code (workflows_v1) on a SQLite file,
exports their histories, then replays them against the deployed code (clean) and
against the change under review (workflows_v2: it diverges at step 2). The same check
from the command line:

    duroxide export --db app.db --name Checkout --out histories/
    duroxide replay --history histories/*.json --module workflows_v1   # exit 0
    duroxide replay --history histories/*.json --module workflows_v2   # exit 1

Run it: python examples/replay_before_deploy/run.py
"""

import json
import pathlib
import sys
import tempfile
from types import ModuleType

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workflows_v1  # noqa: E402
import workflows_v2  # noqa: E402

from duroxide import Client, Runtime, RuntimeOptions, SqliteProvider  # noqa: E402
from duroxide.replay import Replayer  # noqa: E402


def main() -> int:
    db = HERE / "app.db"
    for suffix in ("", "-shm", "-wal"):
        pathlib.Path(f"{db}{suffix}").unlink(missing_ok=True)
    provider = SqliteProvider.open(str(db))

    # 1. Last week, in production: the deployed code ran some orders.
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=5))
    workflows_v1.register(runtime)
    runtime.start()
    client = Client(provider)
    ids = [f"order-{n}" for n in range(3)]
    for n, iid in enumerate(ids):
        client.start_orchestration(iid, "Checkout", {"item": f"book {n}", "amount": 10 + n})
    for iid in ids:
        assert client.wait_for_orchestration(iid, 30_000).status == "Completed"
    runtime.shutdown()

    # 2. Export their histories (in CI: `duroxide export --db ... --out histories/`).
    out = pathlib.Path(tempfile.mkdtemp(prefix="histories-"))
    for iid in ids:
        (out / f"{iid}.json").write_text(json.dumps(client.export_history(iid)))
    files = sorted(out.iterdir())

    # 3. Replay them against the deployed code and against the change.
    deployed = Replayer(runtime=_registered(workflows_v1))
    change = Replayer(runtime=_registered(workflows_v2))
    clean = [r for r in deployed.replay_files(files) if r.ok]
    diverged = [r for r in change.replay_files(files) if r.status == "diverged"]
    print(f"deployed code: {len(clean)}/{len(files)} histories replay cleanly")
    print(f"the change:    {len(diverged)}/{len(files)} histories diverge, e.g.\n  {diverged[0].message}")
    client.close()
    ok = len(clean) == len(files) and len(diverged) == len(files)
    print("=> ship it only as a new version (register_orchestration_versioned)" if ok else "unexpected result")
    return 0 if ok else 1


def _registered(module: ModuleType) -> Runtime:
    """A never-started runtime holding the module's registrations."""
    runtime = Runtime(SqliteProvider.in_memory())
    module.register(runtime)
    return runtime


if __name__ == "__main__":
    sys.exit(main())
