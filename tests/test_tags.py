"""Activity tags: ActivityTask.with_tag routes an activity to runtimes whose
worker_tag_filter (TagFilter) accepts the tag; bad tags and filters are refused."""

import threading

import pytest

import duroxide
import duroxide.converter
from duroxide import RuntimeOptions, TagFilter

from conftest import assert_completed, new_id, wait_until_custom_status

FAN = 6


class Recorder:
    """What the activities registered on one runtime ran (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.runs = []

    def add(self, ctx, value):
        with self.lock:
            self.runs.append({
                "instance": ctx.instance_id,
                "activity": ctx.activity_name,
                "worker_id": ctx.worker_id,
                "tag": ctx.tag,
                "value": value,
            })

    def of(self, instance_id):
        with self.lock:
            return [r for r in self.runs if r["instance"] == instance_id]


def _gpu(recorder):
    def gpu(ctx, x):
        recorder.add(ctx, x)
        return {"gpu": x, "tag": ctx.tag}
    return gpu


def _cpu(recorder):
    def cpu(ctx, x):
        recorder.add(ctx, x)
        return {"cpu": x, "tag": ctx.tag}
    return cpu


def _fan_out(ctx, n):
    tasks = [ctx.schedule_activity("Gpu", i).with_tag("gpu") for i in range(n)]
    tasks += [ctx.schedule_activity("Cpu", i) for i in range(n)]
    return (yield ctx.all(tasks))


EXPECTED_FAN_OUT = ([{"gpu": i, "tag": "gpu"} for i in range(FAN)]
                    + [{"cpu": i, "tag": None} for i in range(FAN)])


def test_with_tag_reaches_activity_context(make_runtime, client):
    runtime = make_runtime(worker_tag_filter=TagFilter.default_and("gpu"))

    @runtime.register_activity("GpuTagged")
    def gpu(ctx, x):
        return {"tag": ctx.tag, "session_id": ctx.session_id, "x": x}

    @runtime.register_orchestration("TagReachesCtx")
    def orch(ctx, input):
        return (yield ctx.schedule_activity("GpuTagged", input).with_tag("gpu"))

    runtime.start()
    iid = new_id("tag-ctx")
    client.start_orchestration(iid, "TagReachesCtx", 5)
    assert_completed(client.wait_for_orchestration(iid, 30000), {"tag": "gpu", "session_id": None, "x": 5})


def test_tagged_activities_run_only_on_the_tag_runtime(make_runtime, client):
    on_a, on_b = Recorder(), Recorder()

    # Runtime A takes untagged activities, runtime B only "gpu" ones. Both register the
    # same orchestrations and activities, as every runtime of a deployment should: a
    # runtime lacking the orchestration still fetches its turns and abandons them with
    # the unregistered back-off (on PostgreSQL the other runtime then only sees the
    # turn again after its 30 s long poll), and a runtime running a turn refuses to
    # schedule an untagged activity it has not registered. The recorders below show
    # that registering an activity does not make a runtime run it.
    a = make_runtime(worker_tag_filter=TagFilter.default_only(), worker_node_id="tags-node-a")
    a.register_activity("Gpu", _gpu(on_a))
    a.register_activity("Cpu", _cpu(on_a))
    a.register_orchestration("TagFanOut", _fan_out)

    b = make_runtime(worker_tag_filter=TagFilter.tags("gpu"), worker_node_id="tags-node-b")
    b.register_activity("Gpu", _gpu(on_b))
    b.register_activity("Cpu", _cpu(on_b))
    b.register_orchestration("TagFanOut", _fan_out)

    a.start()
    b.start()
    iid = new_id("tag-route")
    client.start_orchestration(iid, "TagFanOut", FAN)
    assert_completed(client.wait_for_orchestration(iid, 60000), EXPECTED_FAN_OUT)

    ran_a, ran_b = on_a.of(iid), on_b.of(iid)
    # Every tagged activity ran on B, every untagged one on A.
    assert sorted(r["value"] for r in ran_b) == list(range(FAN))
    assert {(r["activity"], r["tag"]) for r in ran_b} == {("Gpu", "gpu")}
    assert all(r["worker_id"].endswith("tags-node-b") for r in ran_b), ran_b
    assert sorted(r["value"] for r in ran_a) == list(range(FAN))
    assert {(r["activity"], r["tag"]) for r in ran_a} == {("Cpu", None)}
    assert all(r["worker_id"].endswith("tags-node-a") for r in ran_a), ran_a


def test_untagged_activity_needs_no_registration_for_tagged_work(make_runtime, client):
    # The orchestration runtime schedules a tagged activity it has not registered
    # (only the tag runtime has it); untagged activities must be registered locally.
    on_a, on_b = Recorder(), Recorder()
    a = make_runtime(worker_tag_filter=TagFilter.default_only())
    a.register_activity("Cpu", _cpu(on_a))
    a.register_orchestration("TagFanOutSplit", _fan_out)
    b = make_runtime(worker_tag_filter=TagFilter.tags("gpu"))
    b.register_activity("Gpu", _gpu(on_b))
    b.register_activity("Cpu", _cpu(on_b))
    b.register_orchestration("TagFanOutSplit", _fan_out)
    a.start()
    b.start()
    iid = new_id("tag-split")
    client.start_orchestration(iid, "TagFanOutSplit", 2)
    assert_completed(client.wait_for_orchestration(iid, 60000),
                     [{"gpu": 0, "tag": "gpu"}, {"gpu": 1, "tag": "gpu"},
                      {"cpu": 0, "tag": None}, {"cpu": 1, "tag": None}])
    assert sorted((r["activity"], r["value"]) for r in on_b.of(iid)) == [("Gpu", 0), ("Gpu", 1)]
    assert sorted((r["activity"], r["value"]) for r in on_a.of(iid)) == [("Cpu", 0), ("Cpu", 1)]


@pytest.mark.parametrize("tag_filter", [TagFilter.default_and("gpu"), TagFilter.any()],
                         ids=["default_and", "any"])
def test_one_runtime_takes_tagged_and_untagged(tag_filter, make_runtime, client):
    rec = Recorder()
    runtime = make_runtime(worker_tag_filter=tag_filter)
    runtime.register_activity("Gpu", _gpu(rec))
    runtime.register_activity("Cpu", _cpu(rec))
    runtime.register_orchestration("TagFanOutOne", _fan_out)
    runtime.start()
    iid = new_id(f"tag-{tag_filter.kind}")
    client.start_orchestration(iid, "TagFanOutOne", FAN)
    assert_completed(client.wait_for_orchestration(iid, 60000), EXPECTED_FAN_OUT)
    runs = rec.of(iid)
    assert sorted((r["activity"], r["tag"], r["value"]) for r in runs) == sorted(
        [("Gpu", "gpu", i) for i in range(FAN)] + [("Cpu", None, i) for i in range(FAN)]
    )


def test_any_filter_takes_other_tags_too(make_runtime, client):
    runtime = make_runtime(worker_tag_filter=TagFilter.any())

    @runtime.register_activity("Anything")
    def anything(ctx, x):
        return ctx.tag

    @runtime.register_orchestration("AnyTags")
    def orch(ctx, input):
        return (yield ctx.all([
            ctx.schedule_activity("Anything", 1).with_tag("fpga"),
            ctx.schedule_activity("Anything", 2).with_tag("tpu-v5"),
            ctx.schedule_activity("Anything", 3),
        ]))

    runtime.start()
    iid = new_id("tag-anyof")
    client.start_orchestration(iid, "AnyTags")
    assert_completed(client.wait_for_orchestration(iid, 30000), ["fpga", "tpu-v5", None])


def test_none_filter_runtime_runs_orchestrations_but_no_activities(make_runtime, client):
    on_orch_only, on_worker = Recorder(), Recorder()

    def orch(ctx, n):
        ctx.set_custom_status("scheduling")
        return (yield ctx.all(
            [ctx.schedule_activity("Gpu", i).with_tag("gpu") for i in range(n)]
            + [ctx.schedule_activity("Cpu", i) for i in range(n)]
        ))

    # Orchestration-only runtime: registers everything, runs no activity.
    orch_only = make_runtime(worker_tag_filter=TagFilter.none(), worker_node_id="tags-orch-only")
    orch_only.register_activity("Gpu", _gpu(on_orch_only))
    orch_only.register_activity("Cpu", _cpu(on_orch_only))
    orch_only.register_orchestration("TagNoneOrch", orch)

    # The activity worker takes every activity; it registers the orchestration as well
    # (every runtime of a deployment registers the same orchestrations).
    worker = make_runtime(worker_tag_filter=TagFilter.any(), worker_node_id="tags-worker")
    worker.register_activity("Gpu", _gpu(on_worker))
    worker.register_activity("Cpu", _cpu(on_worker))
    worker.register_orchestration("TagNoneOrch", orch)

    orch_only.start()
    iid = new_id("tag-none")
    client.start_orchestration(iid, "TagNoneOrch", FAN)
    # Only the orchestration-only runtime is running: it ran the first turn.
    wait_until_custom_status(client, iid, "scheduling")
    worker.start()
    assert_completed(client.wait_for_orchestration(iid, 60000), EXPECTED_FAN_OUT)

    assert on_orch_only.of(iid) == []
    runs = on_worker.of(iid)
    assert len(runs) == 2 * FAN
    assert all(r["worker_id"].endswith("tags-worker") for r in runs), runs


# --------------------------------------------------------------------------- validation


def test_limits():
    assert duroxide.MAX_WORKER_TAGS == 5
    assert duroxide.MAX_TAG_NAME_BYTES == 256


class _Ctx:
    """Building a task needs no running orchestration: a bare context stand-in."""

    _converter = duroxide.converter.DEFAULT_CONVERTER
    _trace_in = _trace_out = None  # started without a trace context
    _encode = duroxide.OrchestrationContext._encode


def _task():
    return duroxide.OrchestrationContext.schedule_activity(_Ctx(), "Gpu", 1)


@pytest.mark.parametrize("bad", ["", 123, None, "x" * (duroxide.MAX_TAG_NAME_BYTES + 1),
                                 "é" * (duroxide.MAX_TAG_NAME_BYTES // 2 + 1)],
                         ids=["empty", "int", "none", "too-long", "too-many-utf8-bytes"])
def test_bad_tag_raises_value_error(bad):
    with pytest.raises(ValueError):
        _task().with_tag(bad)


def test_tag_at_the_byte_limit_is_accepted():
    task = _task().with_tag("g" * duroxide.MAX_TAG_NAME_BYTES)
    assert isinstance(task, duroxide.ActivityTask)


def test_bad_tag_in_orchestration_fails_the_instance(make_runtime, client):
    runtime = make_runtime()
    runtime.register_activity("Gpu", lambda ctx, x: x)

    @runtime.register_orchestration("BadTagOrch")
    def orch(ctx, input):
        return (yield ctx.schedule_activity("Gpu", 1).with_tag(""))

    runtime.start()
    iid = new_id("badtag")
    client.start_orchestration(iid, "BadTagOrch")
    result = client.wait_for_orchestration(iid, 30000)
    assert result.status == "Failed"
    assert "tag" in result.error


@pytest.mark.parametrize("make", [
    lambda: TagFilter.tags(),
    lambda: TagFilter.default_and(),
    lambda: TagFilter.tags(*[f"t{i}" for i in range(duroxide.MAX_WORKER_TAGS + 1)]),
    lambda: TagFilter.default_and(*[f"t{i}" for i in range(duroxide.MAX_WORKER_TAGS + 1)]),
    lambda: TagFilter.tags(""),
    lambda: TagFilter.tags("x" * (duroxide.MAX_TAG_NAME_BYTES + 1)),
    lambda: TagFilter("bogus"),
], ids=["tags-empty", "default_and-empty", "tags-too-many", "default_and-too-many",
        "tags-empty-name", "tags-too-long", "bogus-kind"])
def test_bad_tag_filter_raises_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_max_worker_tags_is_accepted():
    tags = [f"t{i}" for i in range(duroxide.MAX_WORKER_TAGS)]
    assert TagFilter.tags(*tags).names == tuple(tags)
    assert TagFilter.tags(tags).names == tuple(tags)


def test_worker_tag_filter_must_be_a_tag_filter():
    with pytest.raises(TypeError):
        RuntimeOptions(worker_tag_filter="gpu")
    with pytest.raises(TypeError):
        RuntimeOptions(worker_tag_filter=["gpu"])
