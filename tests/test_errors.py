"""Errors: the exception types the API raises, bad inputs rejected before anything
is stored, and misbehaving orchestrations/activities failing only their instance."""

import re

import pytest

import duroxide
from duroxide import Client, SqliteProvider

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status


# ------------------------------------------------------------------ client-side errors


def test_wait_for_orchestration_timeout_raises(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Stuck")
    def stuck(ctx, input):
        ctx.set_custom_status("stuck")
        yield ctx.wait_for_event("never")

    runtime.start()
    iid = new_id("stuck")
    client.start_orchestration(iid, "Stuck")
    wait_until_custom_status(client, iid, "stuck")
    with pytest.raises(duroxide.DuroxideTimeoutError) as info:
        client.wait_for_orchestration(iid, timeout_ms=200)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, duroxide.DuroxideError)
    # The instance is unaffected by the client giving up.
    assert client.get_status(iid).status == "Running"


def test_start_unregistered_orchestration_raises_not_registered(make_runtime, client):
    runtime = make_runtime()
    runtime.register_orchestration("Known", lambda ctx, x: x)
    runtime.start()
    iid = new_id("unknown")
    with pytest.raises(duroxide.NotRegisteredError) as info:
        client.start_orchestration(iid, "DoesNotExist", {"a": 1})
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, duroxide.DuroxideError)
    assert "DoesNotExist" in str(info.value)
    assert client.get_status(iid).status == "NotFound"
    # The registered one still starts fine.
    kid = new_id("known")
    client.start_orchestration(kid, "Known", 5)
    assert_completed(client.wait_for_orchestration(kid, 30000), 5)


def test_closed_client_raises_closed_error(provider):
    c = Client(provider)
    c.close()
    with pytest.raises(duroxide.ClosedError) as info:
        c.get_status(new_id("x"))
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(duroxide.ClosedError):
        c.start_orchestration(new_id("x"), "Anything", None)


def test_shut_down_runtime_rejects_register_and_start(make_runtime):
    runtime = make_runtime()
    runtime.register_activity("A", lambda ctx, x: x)
    runtime.start()
    runtime.shutdown(1000)
    with pytest.raises(duroxide.ClosedError) as info:
        runtime.register_activity("B", lambda ctx, x: x)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(duroxide.ClosedError):
        runtime.start()


def test_shutdown_before_start_then_start_raises_closed(make_runtime):
    runtime = make_runtime()
    runtime.shutdown(1000)
    with pytest.raises(duroxide.ClosedError):
        runtime.start()


def test_start_twice_raises_runtime_state_error(make_runtime):
    runtime = make_runtime()
    runtime.register_orchestration("O", lambda ctx, x: x)
    runtime.start()
    with pytest.raises(duroxide.RuntimeStateError) as info:
        runtime.start()
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, duroxide.DuroxideError)


def test_register_after_start_raises_runtime_state_error(make_runtime):
    runtime = make_runtime()
    runtime.start()
    with pytest.raises(duroxide.RuntimeStateError):
        runtime.register_activity("Late", lambda ctx, x: x)
    with pytest.raises(duroxide.RuntimeStateError):
        runtime.register_orchestration("LateOrch", lambda ctx, x: x)
    with pytest.raises(duroxide.RuntimeStateError):
        runtime.register_orchestration_versioned("LateOrch", "2.0.0", lambda ctx, x: x)


def test_sqlite_open_in_missing_directory_raises_provider_error():
    with pytest.raises(duroxide.ProviderError) as info:
        SqliteProvider.open("/nonexistent-dir/x/y.db")
    assert isinstance(info.value, duroxide.DuroxideError)


@pytest.mark.parametrize(
    "bad_input, type_name",
    # bytes are payloads now (base64 text, duroxide.converter); a complex number is not.
    [(object(), "object"), ({1, 2}, "set"), ({"nested": [1 + 2j]}, "complex")],
    ids=["object", "set", "nested-complex"],
)
def test_unencodable_input_raises_type_error_before_storing(bad_input, type_name, make_runtime, client):
    runtime = make_runtime()
    runtime.register_orchestration("Echo", lambda ctx, x: x)
    runtime.start()
    iid = new_id("badinput")
    with pytest.raises(TypeError) as info:
        client.start_orchestration(iid, "Echo", bad_input)
    assert type_name in str(info.value)
    assert client.get_status(iid).status == "NotFound"
    with pytest.raises(TypeError):
        client.start_orchestration_versioned(iid, "Echo", bad_input, "1.0.0")
    assert client.get_status(iid).status == "NotFound"


def test_unencodable_event_data_raises_type_error(make_runtime, client):
    runtime = make_runtime()

    @runtime.register_orchestration("Waiter")
    def waiter(ctx, input):
        ctx.set_custom_status("waiting")
        return (yield ctx.wait_for_event("e"))

    runtime.start()
    iid = new_id("waiter")
    client.start_orchestration(iid, "Waiter")
    wait_until_custom_status(client, iid, "waiting")
    with pytest.raises(TypeError) as info:
        client.raise_event(iid, "e", {1, 2, 3})
    assert "set" in str(info.value)
    with pytest.raises(TypeError):
        client.enqueue_event(iid, "q", object())
    # The instance is still waiting and accepts a valid event.
    client.raise_event(iid, "e", [1, 2, 3])
    assert_completed(client.wait_for_orchestration(iid, 30000), [1, 2, 3])


# ------------------------------------------------------------------ registration errors


def test_registering_non_callable_raises_type_error(make_runtime):
    runtime = make_runtime()
    with pytest.raises(TypeError):
        runtime.register_activity("NotCallable", 42)
    with pytest.raises(TypeError):
        runtime.register_orchestration("NotCallableOrch", "not a function")
    with pytest.raises(TypeError):
        runtime.register_orchestration_versioned("NotCallableV", "1.0.1", 3.5)


def test_registering_an_async_generator_orchestration_names_both_styles(make_runtime):
    runtime = make_runtime()

    async def async_gen_orch(ctx, input):
        yield 1

    with pytest.raises(TypeError, match="async generator") as info:
        runtime.register_orchestration("AsyncGenOrch", async_gen_orch)
    assert "`await ctx.*`" in str(info.value) and "`yield ctx.*`" in str(info.value)
    with pytest.raises(TypeError, match="async generator"):
        @runtime.register_orchestration("AsyncGenDecorated")
        async def decorated(ctx, input):
            yield input

    async def coroutine_orch(ctx, input):  # a coroutine orchestration is welcome
        return input

    assert runtime.register_orchestration("AsyncOrch", coroutine_orch) is coroutine_orch


def test_duplicate_registration_raises_value_error(make_runtime):
    runtime = make_runtime()
    runtime.register_activity("Dup", lambda ctx, x: x)
    with pytest.raises(ValueError) as info:
        runtime.register_activity("Dup", lambda ctx, x: x)
    assert "Dup" in str(info.value)

    runtime.register_orchestration("DupOrch", lambda ctx, x: x)
    with pytest.raises(ValueError) as info:
        runtime.register_orchestration("DupOrch", lambda ctx, x: x)
    assert "DupOrch" in str(info.value)

    runtime.register_orchestration_versioned("DupV", "2.0.0", lambda ctx, x: x)
    with pytest.raises(ValueError):
        runtime.register_orchestration_versioned("DupV", "2.0.0", lambda ctx, x: x)


def test_rejected_registrations_leave_runtime_usable(make_runtime, run_orchestration):
    runtime = make_runtime()
    runtime.register_activity("Inc", lambda ctx, x: x + 1)
    with pytest.raises(ValueError):
        runtime.register_activity("Inc", lambda ctx, x: x + 100)
    with pytest.raises(TypeError):
        runtime.register_activity("Broken", 7)

    @runtime.register_orchestration("UsesInc")
    def uses_inc(ctx, x):
        return (yield ctx.schedule_activity("Inc", x))

    runtime.start()
    # The first registration is the one that runs.
    assert_completed(run_orchestration("UsesInc", 1), 2)


# ------------------------------------------------------------------ misbehaving instances


def _register_good(runtime):
    runtime.register_activity("GoodAct", lambda ctx, x: f"good:{x}")

    @runtime.register_orchestration("Good")
    def good(ctx, x):
        return (yield ctx.schedule_activity("GoodAct", x))


def test_yielding_a_non_task_fails_instance_and_runtime_keeps_serving(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_good(runtime)

    @runtime.register_orchestration("YieldsJunk")
    def yields_junk(ctx, input):
        yield 42
        return "unreachable"

    runtime.start()
    error = assert_failed(run_orchestration("YieldsJunk"), "YieldsJunk", "42")
    assert error
    assert_completed(run_orchestration("Good", 1), "good:1")


def test_activity_returning_unencodable_value_raises_in_orchestration(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_good(runtime)

    @runtime.register_activity("ReturnsObject")
    def returns_object(ctx, input):
        return object()

    @runtime.register_orchestration("CatchesBadReturn")
    def catches(ctx, input):
        try:
            yield ctx.schedule_activity("ReturnsObject", None)
        except duroxide.TaskFailedError as e:
            return {"caught": str(e)}
        return "no exception"

    @runtime.register_orchestration("UncaughtBadReturn")
    def uncaught(ctx, input):
        return (yield ctx.schedule_activity("ReturnsObject", None))

    runtime.start()
    out = assert_completed(run_orchestration("CatchesBadReturn"))
    assert re.search(r"json|serializ", out["caught"], re.I), out
    result = run_orchestration("UncaughtBadReturn")
    assert result.status == "Failed"
    assert re.search(r"json|serializ", result.error, re.I), result.error
    assert_completed(run_orchestration("Good", 3), "good:3")


def test_orchestration_returning_unencodable_value_fails(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_good(runtime)

    @runtime.register_orchestration("ReturnsSet")
    def returns_set(ctx, input):
        yield ctx.schedule_activity("GoodAct", 0)
        return {1, 2}

    runtime.start()
    result = run_orchestration("ReturnsSet")
    assert result.status == "Failed"
    assert re.search(r"json|serializ", result.error, re.I), result.error
    assert_completed(run_orchestration("Good", 4), "good:4")


def test_scheduling_unregistered_activity_fails_with_its_name(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_good(runtime)

    @runtime.register_orchestration("CallsGhost")
    def calls_ghost(ctx, input):
        return (yield ctx.schedule_activity("GhostActivity", input))

    runtime.start()
    assert_failed(run_orchestration("CallsGhost", 1), "GhostActivity")
    assert_completed(run_orchestration("Good", 5), "good:5")


def test_orchestration_exception_message_and_type_in_error(make_runtime, run_orchestration):
    runtime = make_runtime()
    _register_good(runtime)

    @runtime.register_orchestration("Validates")
    def validates(ctx, input):
        if not input.get("email"):
            raise ValueError("email is required")
        return (yield ctx.schedule_activity("GoodAct", input["email"]))

    runtime.start()
    assert_failed(run_orchestration("Validates", {}), "email is required")
    assert_completed(run_orchestration("Validates", {"email": "a@b"}), "good:a@b")


def test_activity_exception_types_keep_message(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("Raiser")
    def raiser(ctx, kind):
        exc = {"value": ValueError, "key": KeyError, "runtime": RuntimeError, "custom": type("MyErr", (Exception,), {})}[kind]
        raise exc(f"{kind} problem")

    @runtime.register_orchestration("CatchAll")
    def catch_all(ctx, kinds):
        out = []
        for k in kinds:
            try:
                yield ctx.schedule_activity("Raiser", k)
            except duroxide.TaskFailedError as e:
                out.append(f"{k} problem" in str(e))
        return out

    runtime.start()
    assert_completed(run_orchestration("CatchAll", ["value", "key", "runtime", "custom"]), [True] * 4)


def test_orchestration_can_raise_after_catching_task_failure(make_runtime, run_orchestration):
    runtime = make_runtime()

    @runtime.register_activity("Fails")
    def fails(ctx, x):
        raise Exception("root cause")

    @runtime.register_orchestration("Rethrows")
    def rethrows(ctx, input):
        try:
            yield ctx.schedule_activity("Fails", None)
        except duroxide.TaskFailedError as e:
            raise RuntimeError(f"wrapped: {e}")

    runtime.start()
    assert_failed(run_orchestration("Rethrows"), "wrapped:", "root cause")
