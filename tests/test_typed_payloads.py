"""Typed payloads (duroxide.converter), end to end on SQLite and PostgreSQL.

A dataclass and a pydantic model travel through an activity, a sub-orchestration, an
external event, custom status and KV, decoded by the functions' annotations; the
registered functions themselves can be scheduled and started; the client returns the
model it is asked for; a payload that cannot become its annotated type fails with the
field and the type named, before user code runs; histories written as plain JSON still
read the same.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import subprocess
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Generator, List, Optional

import pytest

from conftest import assert_completed, assert_failed, new_id, wait_until_custom_status
from duroxide import Client, PayloadError, Runtime, RuntimeOptions
from duroxide.converter import CODEC_MARK, DEFAULT_CONVERTER, JsonConverter, PayloadCodec

try:
    import pydantic
except ImportError:  # optional for the SDK; scripts/test.sh installs it, CI must have it
    import os

    if os.environ.get("CI", "").lower() == "true":
        raise
    pydantic = None


class Size(enum.Enum):
    SMALL = "S"
    LARGE = "L"


@dataclass
class Line:
    sku: str
    price: decimal.Decimal
    qty: int = 1


@dataclass
class Order:
    id: uuid.UUID
    lines: List[Line]
    size: Size
    placed: dt.datetime
    note: Optional[str] = None
    tags: tuple = ()
    blob: bytes = b""


@dataclass
class Receipt:
    order_id: uuid.UUID
    total: decimal.Decimal
    lines: int
    meta: Dict[str, Any] = field(default_factory=dict)


def _order() -> Order:
    return Order(
        id=uuid.uuid4(),
        lines=[Line("book", decimal.Decimal("12.50"), 2), Line("pen", decimal.Decimal("1.25"))],
        size=Size.LARGE,
        placed=dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.timezone.utc),
        tags=("gift", "rush"),
        blob=b"\x00\xffbinary",
    )


def charge(ctx, order: Order) -> Receipt:
    assert isinstance(order, Order) and isinstance(order.lines[0], Line) and order.size is Size.LARGE
    total = sum((line.price * line.qty for line in order.lines), decimal.Decimal(0))
    return Receipt(order.id, total, len(order.lines), {"blob": order.blob.hex()})


def ship(ctx, receipt: Receipt) -> Generator[Any, Any, Dict[str, Any]]:
    assert isinstance(receipt, Receipt)
    yield ctx.schedule_timer(1)
    return {"shipped": str(receipt.order_id), "total": receipt.total}


def checkout(ctx, order: Order) -> Generator[Any, Any, Receipt]:
    receipt = yield ctx.schedule_activity(charge, order)  # the function, not its name
    assert isinstance(receipt, Receipt) and isinstance(receipt.total, decimal.Decimal)
    shipped = yield ctx.schedule_sub_orchestration(ship, receipt)
    ctx.set_custom_status(receipt)  # a dataclass as custom status: its JSON
    ctx.set_kv_value("receipt", receipt)
    approval = yield ctx.wait_for_event("approval")
    return Receipt(receipt.order_id, receipt.total, receipt.lines, {"shipped": shipped, "approval": approval})


if pydantic is not None:

    class Address(pydantic.BaseModel):
        city: str
        zip: str

    class Customer(pydantic.BaseModel):
        name: str
        vip: bool = False
        address: Address


class Celsius:
    """A type the default converter does not know (see test_a_custom_converter...)."""

    def __init__(self, degrees: float) -> None:
        self.degrees = degrees


def register(runtime):
    runtime.register_activity("Charge", charge)
    runtime.register_orchestration("Ship", ship)
    runtime.register_orchestration("Checkout", checkout)
    return runtime


def test_a_dataclass_round_trips_through_activity_sub_orchestration_event_status_and_kv(make_runtime, client):
    register(make_runtime()).start()
    order = _order()
    iid = new_id("typed")
    client.start_orchestration(iid, checkout, order)  # the function again
    wait_until_custom_status(client, iid, DEFAULT_CONVERTER.to_payload(
        Receipt(order.id, decimal.Decimal("26.25"), 2, {"blob": order.blob.hex()}), "x"))
    client.raise_event(iid, "approval", {"by": "ops", "at": dt.date(2026, 12, 3)})
    result = client.wait_for_orchestration(iid, 30_000, result_type=Receipt)
    receipt = assert_completed(result)
    assert isinstance(receipt, Receipt) and receipt.order_id == order.id
    assert receipt.total == decimal.Decimal("26.25") and receipt.lines == 2
    assert receipt.meta["shipped"] == {"shipped": str(order.id), "total": "26.25"}
    assert receipt.meta["approval"] == {"by": "ops", "at": "2026-12-03"}
    assert DEFAULT_CONVERTER.from_payload(client.get_kv_value(iid, "receipt"), Receipt).total == decimal.Decimal("26.25")
    plain = client.wait_for_orchestration(iid, 1_000)  # no result_type: the JSON as it is
    assert plain.output["order_id"] == str(order.id) and plain.output["total"] == "26.25"


@pytest.mark.skipif(pydantic is None, reason="pydantic is not installed")
def test_a_pydantic_model_round_trips(make_runtime, client):
    runtime = make_runtime()

    def welcome(ctx, customer: Customer) -> Customer:
        assert isinstance(customer, Customer) and isinstance(customer.address, Address)
        return customer.model_copy(update={"vip": True})

    def onboard(ctx, customer: Customer) -> Generator[Any, Any, Customer]:
        welcomed = yield ctx.schedule_activity(welcome, customer)
        assert isinstance(welcomed, Customer) and welcomed.vip
        ctx.set_kv_value("customer", welcomed)
        note = yield ctx.wait_for_event("note")
        return welcomed.model_copy(update={"name": f"{welcomed.name} ({note['text']})"})

    runtime.register_activity("Welcome", welcome)
    runtime.register_orchestration("Onboard", onboard)
    runtime.start()
    iid = new_id("pydantic")
    client.start_orchestration(iid, "Onboard", Customer(name="Ada", address=Address(city="Paris", zip="75001")))
    deadline_kv = client.wait_for_kv_value(iid, "customer", 30_000)
    assert Customer.model_validate_json(deadline_kv).vip
    client.raise_event(iid, "note", {"text": "first"})
    out = assert_completed(client.wait_for_orchestration(iid, 30_000, result_type=Customer))
    assert out == Customer(name="Ada (first)", vip=True, address=Address(city="Paris", zip="75001"))


def test_a_payload_that_cannot_become_its_type_fails_naming_the_field(make_runtime, client):
    runtime = make_runtime()
    ran = []

    def strict(ctx, order: Order) -> int:
        ran.append(order)
        return 1

    def calls_strict(ctx, x):
        return (yield ctx.schedule_activity("Strict", x))

    runtime.register_activity("Strict", strict)
    runtime.register_orchestration("CallsStrict", calls_strict)
    def takes_order(ctx, order: Order) -> Generator[Any, Any, int]:
        ran.append(order)
        return 1
        yield

    runtime.register_orchestration("TakesOrder", takes_order)
    runtime.start()

    bad = {"id": str(uuid.uuid4()), "lines": [{"sku": "x", "price": "not-a-number"}], "size": "L",
           "placed": "2026-12-02T18:00:00+00:00"}
    iid = new_id("bad-activity-input")
    client.start_orchestration(iid, "CallsStrict", bad)
    assert_failed(client.wait_for_orchestration(iid, 30_000), "activity 'Strict' cannot take its input",
                  "input.lines[0].price: expected Decimal, got 'not-a-number'")
    assert ran == []  # the activity's code never ran

    iid = new_id("bad-orch-input")
    client.start_orchestration(iid, "TakesOrder", {**bad, "lines": [], "size": "XL"})
    assert_failed(client.wait_for_orchestration(iid, 30_000), "orchestration 'TakesOrder@1.0.0' cannot take its input",
                  "input.size: expected one of ['S', 'L'], got 'XL'")


def test_an_object_the_converter_cannot_encode_raises_type_error_at_the_call(make_runtime, client):
    class Opaque:
        pass

    register(make_runtime()).start()
    with pytest.raises(TypeError, match="Opaque"):
        client.start_orchestration(new_id("opaque"), checkout, Opaque())
    with pytest.raises(TypeError, match="not registered as an orchestration"):
        client.start_orchestration(new_id("unregistered"), lambda ctx, x: x, 1)


def test_plain_json_payloads_are_written_byte_for_byte_as_before(make_runtime, client):
    """The default converter leaves JSON values as they were: old histories replay and
    old payloads decode the same."""
    for value in ({"a": [1, 2.5, None, True]}, "text", 7, [], {"nested": {"é": "😀"}}):
        assert DEFAULT_CONVERTER.to_payload(value, "x") == __import__("json").dumps(
            value, separators=(",", ":"), ensure_ascii=True)
    runtime = make_runtime()
    runtime.register_activity("Echo", lambda ctx, x: x)

    @runtime.register_orchestration("Plain")
    def plain(ctx, x):
        return (yield ctx.schedule_activity("Echo", x))

    runtime.start()
    iid = new_id("plain")
    client.start_orchestration(iid, "Plain", {"k": [1, "two"]})
    assert_completed(client.wait_for_orchestration(iid, 30_000), {"k": [1, "two"]})
    stored = next(e for e in client.export_history(iid)["executions"][0]["events"] if e["type"] == "ActivityScheduled")
    assert stored["input"] == '{"k":[1,"two"]}'


def test_a_custom_converter_is_used_on_both_sides(provider):
    class Temperatures(JsonConverter):
        def encode_object(self, value):
            if isinstance(value, Celsius):
                return {"celsius": value.degrees}
            return super().encode_object(value)

        def from_json(self, value, hint, path="payload"):
            if hint is Celsius:
                return Celsius(value["celsius"])
            return super().from_json(value, hint, path)

    converter = Temperatures()
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10), data_converter=converter)

    def warmer(ctx, t: Celsius) -> Celsius:
        assert isinstance(t, Celsius)
        return Celsius(t.degrees + 1.5)

    def heat(ctx, t: Celsius) -> Generator[Any, Any, Celsius]:
        return (yield ctx.schedule_activity(warmer, t))

    runtime.register_activity("Warmer", warmer)
    runtime.register_orchestration("Heat", heat)
    runtime.start()
    try:
        client = Client(provider, data_converter=converter)
        iid = new_id("celsius")
        client.start_orchestration(iid, heat, Celsius(20.0))
        out = assert_completed(client.wait_for_orchestration(iid, 30_000, result_type=Celsius))
        assert isinstance(out, Celsius) and out.degrees == 21.5
        assert Client(provider).wait_for_orchestration(iid, 1_000).output == {"celsius": 21.5}
        with pytest.raises(TypeError, match="Celsius"):  # the default converter does not know it
            Client(provider).start_orchestration(new_id("celsius"), heat, Celsius(1.0))
    finally:
        runtime.shutdown(1000)


def test_the_converter_directly_names_paths_and_types():
    with pytest.raises(PayloadError, match=r"payload.lines\[1\].qty: expected int, got 'two'"):
        DEFAULT_CONVERTER.from_json({"id": str(uuid.uuid4()), "lines": [{"sku": "a", "price": "1"}, {"sku": "b", "price": "2", "qty": "two"}],
                                     "size": "S", "placed": "2026-01-01T00:00:00"}, Order)
    with pytest.raises(PayloadError, match="payload.id: missing"):
        DEFAULT_CONVERTER.from_json({}, Order)
    order = _order()
    assert DEFAULT_CONVERTER.from_payload(DEFAULT_CONVERTER.to_payload(order, "x"), Order) == order
    assert DEFAULT_CONVERTER.from_json([1, "a"], tuple) == (1, "a")
    assert DEFAULT_CONVERTER.from_json(None, Optional[int]) is None
    with pytest.raises(TypeError, match="set"):
        DEFAULT_CONVERTER.to_payload({1, 2}, "a set")


class _XorZlib(PayloadCodec):
    """Compression and a toy cipher: enough that no plaintext reaches the store."""

    KEY = b"duroxide-test-key"

    def encode(self, data: bytes) -> bytes:
        packed = zlib.compress(data)
        return bytes(b ^ self.KEY[i % len(self.KEY)] for i, b in enumerate(packed))

    def decode(self, data: bytes) -> bytes:
        return zlib.decompress(bytes(b ^ self.KEY[i % len(self.KEY)] for i, b in enumerate(data)))


def _raw_store_bytes(handle) -> bytes:
    """Everything the store holds, as bytes: the SQLite file and its WAL, or a dump of
    the PostgreSQL schema."""
    if handle.kind == "sqlite":
        data = b""
        for suffix in ("", "-wal"):
            try:
                with open(handle.sqlite_path + suffix, "rb") as f:
                    data += f.read()
            except FileNotFoundError:
                pass
        return data
    dump = subprocess.run(["pg_dump", handle.pg_url, "--data-only", "--schema", handle.pg_schema],
                          capture_output=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    return dump.stdout


def test_a_payload_codec_keeps_every_stored_payload_off_the_disk_in_plaintext(provider_factory):
    converter = JsonConverter(codec=_XorZlib())
    provider = provider_factory.provider
    runtime = Runtime(provider, RuntimeOptions(dispatcher_poll_interval_ms=10), data_converter=converter)

    @runtime.register_activity("Reveal")
    def reveal(ctx, secret):
        return {"revealed": secret["input"] + "-RESULT"}

    @runtime.register_orchestration("Secretive")
    def secretive(ctx, secret):
        revealed = yield ctx.schedule_activity("Reveal", secret)
        ctx.set_custom_status("TOPSECRET-STATUS")
        ctx.set_kv_value("plain", "TOPSECRET-KV")
        ctx.set_kv_value("typed", {"v": "TOPSECRET-KVJSON"})
        assert ctx.get_custom_status() == "TOPSECRET-STATUS" and ctx.get_kv_value("plain") == "TOPSECRET-KV"
        event = yield ctx.wait_for_event("go")
        return {"revealed": revealed, "event": event}

    runtime.start()
    try:
        client = Client(provider, data_converter=converter)
        iid = new_id("secret")
        client.start_orchestration(iid, "Secretive", {"input": "TOPSECRET-INPUT"})
        wait_until_custom_status(client, iid, "TOPSECRET-STATUS")  # read back through the codec
        client.raise_event(iid, "go", "TOPSECRET-EVENT")
        out = assert_completed(client.wait_for_orchestration(iid, 30_000))
        assert out == {"revealed": {"revealed": "TOPSECRET-INPUT-RESULT"}, "event": "TOPSECRET-EVENT"}
        assert client.get_kv_value(iid, "plain") == "TOPSECRET-KV"
        assert client.get_kv_all_values(iid)["typed"] == '{"v":"TOPSECRET-KVJSON"}'
        assert client.wait_for_kv_value(iid, "plain", 1_000) == "TOPSECRET-KV"

        stored = _raw_store_bytes(provider_factory)
        assert b"TOPSECRET" not in stored, "a payload reached the store in plaintext"
        assert CODEC_MARK.encode() in stored  # the codec's payloads are there

        with pytest.raises(PayloadError, match="written with a payload codec"):
            Client(provider).wait_for_orchestration(iid, 1_000)  # no codec: a clear error
    finally:
        runtime.shutdown(1000)
