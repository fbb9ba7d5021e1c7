"""The README quick start, the user guide's minimal example, and the basic contract of
registration, plain-function orchestrations and JSON round-tripping."""

import duroxide
from duroxide import Client, PyRuntimeOptions, Runtime, RuntimeOptions

from conftest import assert_completed, assert_failed, new_id


def test_readme_quick_start(provider):
    # The README's quick start, on the parametrised provider instead of in_memory().
    runtime = Runtime(provider)
    try:
        @runtime.register_activity("greet")
        def greet(ctx, input):
            return f"Hello, {input['name']}!"

        @runtime.register_orchestration("GreetWorkflow")
        def greet_workflow(ctx, input):
            result = yield ctx.schedule_activity("greet", input)
            return result

        runtime.start()

        client = Client(provider)
        iid = new_id("greet")
        client.start_orchestration(iid, "GreetWorkflow", {"name": "World"})
        status = client.wait_for_orchestration(iid, 10000)
        assert status.status == "Completed"
        assert status.output == "Hello, World!"
    finally:
        runtime.shutdown()


def test_user_guide_minimal_example(provider, make_runtime, client):
    runtime = make_runtime()

    @runtime.register_activity("SayHello")
    def say_hello(ctx, name):
        return f"Hello, {name}!"

    @runtime.register_orchestration("HelloWorkflow")
    def hello_workflow(ctx, input):
        greeting = yield ctx.schedule_activity("SayHello", input["name"])
        return greeting

    runtime.start()
    iid = new_id("hello")
    client.start_orchestration(iid, "HelloWorkflow", {"name": "World"})
    result = client.wait_for_orchestration(iid)
    assert result.status == "Completed"
    assert result.output == "Hello, World!"
    assert result.error is None


def test_plain_call_registration_forms(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Double", lambda ctx, x: x * 2)

    def orch(ctx, input):
        a = yield ctx.schedule_activity("Double", input)
        b = yield ctx.schedule_activity("Double", a)
        return [a, b]

    runtime.register_orchestration("Quad", orch)
    runtime.start()
    assert_completed(run_orchestration("Quad", 5), [10, 20])


def test_plain_function_orchestration_completes_without_yielding(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("Plain")
    def plain(ctx, input):
        return {"echo": input, "instance": ctx.instance_id.split("-")[0]}

    runtime.start()
    result = run_orchestration("Plain", {"x": [1, 2]}, instance_id=new_id("plainid"))
    assert_completed(result, {"echo": {"x": [1, 2]}, "instance": "plainid"})


def test_plain_function_orchestration_that_raises_fails(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_orchestration("PlainBoom")
    def plain_boom(ctx, input):
        raise ValueError(f"rejected input {input}")

    runtime.start()
    assert_failed(run_orchestration("PlainBoom", 7), "rejected input 7")


JSON_VALUES = [
    None,
    0,
    -17,
    3.25,
    True,
    "plain text",
    "unicode: h\u00e9llo \u2603 \U0001f600",
    "",
    [],
    {},
    [1, "two", None, False, [3.5]],
    {"nested": {"list": [1, {"deep": None}], "flag": True}, "n": 12345678901},
]


def test_json_values_round_trip_through_orchestration_and_activity(make_runtime, client):
    runtime = make_runtime()
    seen_by_activity = {}

    @runtime.register_activity("EchoActivity")
    def echo_activity(ctx, value):
        seen_by_activity[ctx.instance_id] = value
        return value

    @runtime.register_orchestration("EchoOrch")
    def echo_orch(ctx, value):
        back = yield ctx.schedule_activity("EchoActivity", value)
        return {"orch_input": value, "activity_output": back}

    runtime.start()
    ids = []
    for value in JSON_VALUES:
        iid = new_id("json")
        ids.append(iid)
        client.start_orchestration(iid, "EchoOrch", value)
    for iid, value in zip(ids, JSON_VALUES):
        result = client.wait_for_orchestration(iid, 30000)
        assert_completed(result, {"orch_input": value, "activity_output": value})
        assert seen_by_activity[iid] == value
        assert type(seen_by_activity[iid]) is type(value)


def test_start_orchestration_input_defaults_to_none(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("WhatInput")
    def what_input(ctx, input):
        return {"is_none": input is None}

    runtime.start()
    iid = new_id("noinput")
    client.start_orchestration(iid, "WhatInput")
    assert_completed(client.wait_for_orchestration(iid), {"is_none": True})


def test_instance_started_before_runtime_runs_once_runtime_starts(make_runtime, client):
    iid = new_id("early")
    client.start_orchestration(iid, "Late", "queued")
    assert client.get_status(iid).status != "Completed"

    runtime = make_runtime()

    @runtime.register_orchestration("Late")
    def late(ctx, input):
        return f"ran with {input}"

    runtime.start()
    assert_completed(client.wait_for_orchestration(iid), "ran with queued")


def test_get_status_of_unknown_instance_is_not_found(client):
    result = client.get_status(new_id("missing"))
    assert result.status == "NotFound"
    assert result.output is None


def test_runtime_options_alias_is_the_same_class():
    assert PyRuntimeOptions is RuntimeOptions


def test_exception_hierarchy():
    assert issubclass(duroxide.TaskFailedError, duroxide.DuroxideError)
    assert issubclass(duroxide.DuroxideTimeoutError, duroxide.DuroxideError)
    assert issubclass(duroxide.DuroxideTimeoutError, TimeoutError)
    assert issubclass(duroxide.NotRegisteredError, duroxide.DuroxideError)
    assert issubclass(duroxide.NotRegisteredError, ValueError)
    assert issubclass(duroxide.ClosedError, duroxide.DuroxideError)
    assert issubclass(duroxide.ClosedError, RuntimeError)
    assert issubclass(duroxide.RuntimeStateError, duroxide.DuroxideError)
    assert issubclass(duroxide.RuntimeStateError, RuntimeError)
    assert issubclass(duroxide.ProviderError, duroxide.DuroxideError)
    assert issubclass(duroxide.DuroxideError, Exception)
