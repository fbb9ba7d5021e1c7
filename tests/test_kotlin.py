"""The same Rust core from Kotlin: bindings/kotlin (the generated bindings, the hand-written
layer and its example) compiled and run on the JVM against the library this suite tests.

A Kotlin orchestration (two activities in sequence, a caught activity failure, a timer, an
external event) runs on a Kotlin runtime on a SQLite file; Python then reads that
instance, a Kotlin client reads an instance a Python runtime completed, and a Python
runtime runs an instance a Kotlin client started. Outside CI the test skips (saying why)
when java or the Kotlin compiler cannot be had; under CI (CI=true) it fails instead.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from duroxide import Client, Runtime, RuntimeOptions, SqliteProvider

ROOT = Path(__file__).resolve().parent.parent
KOTLIN = ROOT / "bindings" / "kotlin"
ORDER_OUTPUT = {
    "item": "book",
    "reservation": "reserved:book",
    "charge": "charged 42 for reserved:book",
    "recovered": "caught: out of stock: book",
    "approved_by": "kotlin",
}


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the Kotlin test must run under CI: {reason}")
    print(f"test_kotlin skipped: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _native_library() -> Path:
    import duroxide._ffi as ffi  # the library this suite loads

    return Path(ffi.__file__).parent / "libduroxide_ffi.so"


@pytest.fixture(scope="session")
def kotlin_example():
    """Runs the example's commands in a JVM; returns (exit code, stdout, stderr). Builds
    the jar once per session (bindings/kotlin/build.sh caches it by source hash)."""
    if shutil.which("java") is None:
        _unavailable("no java on PATH")
    home = os.environ.get("KOTLIN_HOME")
    if not home:
        found = subprocess.run([str(ROOT / "scripts" / "ensure_kotlin.sh")], capture_output=True, text=True)
        if found.returncode != 0:
            _unavailable(f"no Kotlin compiler: {found.stderr.strip()}")
        home = found.stdout.strip()
    lib = _native_library()
    env = {**os.environ, "KOTLIN_HOME": home, "LIB": str(lib)}
    built = subprocess.run([str(KOTLIN / "build.sh")], capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0, f"bindings/kotlin/build.sh failed:\n{built.stderr}"
    jar = built.stdout.strip().splitlines()[-1]
    jna = os.environ.get("JNA_JAR", "/usr/share/java/jna.jar")
    classpath = os.pathsep.join([jar, jna, f"{home}/lib/kotlin-stdlib.jar", f"{home}/lib/kotlinx-coroutines-core-jvm.jar"])

    def run(*args: str):
        done = subprocess.run(
            ["java", f"-Djna.library.path={lib.parent}", "-cp", classpath, "duroxide.example.ExampleKt", *args],
            capture_output=True, text=True, timeout=120, env=env,
        )
        return done.returncode, done.stdout, done.stderr

    return run


def _greeter_runtime(provider) -> Runtime:
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=20))

    @runtime.register_activity("Greet")
    def greet(ctx, name):
        return f"Hello, {name}!"

    @runtime.register_orchestration("PyGreeter")
    def greeter(ctx, input):
        greeting = yield ctx.schedule_activity("Greet", input["name"])
        yield ctx.schedule_timer(10)
        return greeting

    return runtime


def test_kotlin_workflow_completes_and_python_reads_it(kotlin_example, tmp_path):
    db = tmp_path / "kotlin.db"
    code, out, err = kotlin_example("workflow", str(db))
    assert code == 0, f"the Kotlin program failed ({code}):\n{out}\n{err}"
    line = next(line for line in out.splitlines() if line.startswith(("OK workflow", "FAIL workflow")))
    assert line.startswith("OK workflow kotlin-order-1 Completed ")
    assert json.loads(line.split(" Completed ", 1)[1]) == ORDER_OUTPUT

    # The instance a Kotlin runtime completed, read from Python on the same file.
    client = Client(SqliteProvider.open(str(db)))
    state = client.get_status("kotlin-order-1")
    assert state.status == "Completed"
    assert state.output == ORDER_OUTPUT
    assert state.custom_status == "awaiting approval"
    kinds = [e.kind for e in client.read_execution_history("kotlin-order-1", 1)]
    assert kinds.count("ActivityScheduled") == 3
    assert kinds.count("ActivityCompleted") == 2 and kinds.count("ActivityFailed") == 1
    assert "TimerFired" in kinds and "ExternalEvent" in kinds
    assert kinds[-1] == "OrchestrationCompleted"
    info = client.get_instance_info("kotlin-order-1")
    assert info.orchestration_name == "KotlinOrder"


def test_python_and_kotlin_clients_share_one_database(kotlin_example, tmp_path):
    db = tmp_path / "shared.db"
    provider = SqliteProvider.open(str(db))
    runtime = _greeter_runtime(provider)
    runtime.start()
    try:
        client = Client(provider)
        client.start_orchestration("py-greet", "PyGreeter", {"name": "Ada"})
        assert client.wait_for_orchestration("py-greet", 30_000).output == "Hello, Ada!"

        # Kotlin reads what the Python runtime completed, and starts an instance of the
        # Python orchestration, which this process's runtime then runs.
        code, out, err = kotlin_example(
            "read", str(db), "py-greet", json.dumps("Hello, Ada!"),
            "start", str(db), "kotlin-started", "PyGreeter", json.dumps({"name": "Kotlin"}),
        )
        assert code == 0, f"the Kotlin program failed ({code}):\n{out}\n{err}"
        assert 'OK read py-greet Completed "Hello, Ada!"' in out
        assert "OK start kotlin-started PyGreeter" in out

        state = client.wait_for_orchestration("kotlin-started", 30_000)
        assert state.status == "Completed"
        assert state.output == "Hello, Kotlin!"
    finally:
        runtime.shutdown()


def test_kotlin_reports_a_mismatch_and_a_missing_instance(kotlin_example, tmp_path):
    # The checks are real: a wrong expectation and an unknown instance fail the run.
    db = tmp_path / "empty.db"
    SqliteProvider.open(str(db))
    code, out, _ = kotlin_example("read", str(db), "nobody", json.dumps("x"))
    assert code == 1
    assert "FAIL read nobody NotFound" in out


def test_swift_bindings_generate_cleanly(tmp_path):
    # No Swift toolchain here: what is checked is that bindings/generate.sh's Swift output
    # comes out of the same library, complete, with the language-neutral names.
    bindgen = ROOT / "target" / "debug" / "uniffi-bindgen"
    if not bindgen.exists():
        _unavailable("target/debug/uniffi-bindgen is not built (maturin develop builds it)")
    done = subprocess.run(
        [str(bindgen), "generate", "--language", "swift", "--no-format", "--out-dir", str(tmp_path),
         "--library", str(_native_library())],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duroxide.swift", "duroxideFFI.h", "duroxideFFI.modulemap"]
    assert 'header "duroxideFFI.h"' in (tmp_path / "duroxideFFI.modulemap").read_text()
    swift = (tmp_path / "duroxide.swift").read_text()
    assert "case InvalidInput(reason: String" in swift
    assert "open func shutdown()" in swift and "func close()" not in swift
    assert "public protocol OrchestrationStepper" in swift and "public protocol ActivityInvoker" in swift
