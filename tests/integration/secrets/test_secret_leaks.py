"""Secrets never leak, on every path (SPEC §7, issue 7): logs, exceptions, reprs, the audit trail and
``thunes config show``. Every provider is loaded for real (files, an encrypted file, the Vault
stand-in, moto's AWS server), the keys are used against the simulated venue, and each failure is
provoked; then the captured text is searched for every secret value, the Vault token, the Fernet
key and the AWS secret access key.

The control API is covered on a running session by tests/integration/paper/test_control_api_leaks.py;
a whole ``thunes trade --live`` session (checks, trading, summary, its data dir) by the last test here.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from tests.integration.secrets.vault_server import VaultServer
from tests.integration.simserver.live import TIMEOUT, LiveVenue
from tests.unit.risk import T0, VENUE, buy, make_engine
from thunes.adapters.secrets import SecretsError, SecretsProvider, open_provider
from thunes.adapters.secrets.fernet import KEY_ENV, encrypt_document, generate_key
from thunes.adapters.secrets.secret import Secret
from thunes.adapters.storage.audit_jsonl import AuditLog
from thunes.adapters.storage.audit_sql import SqlAuditSink
from thunes.adapters.venues.binance import BinanceClient, BinanceConfig
from thunes.app.audit_setup import audit_context
from thunes.app.cli.main import app
from thunes.app.config import LoggingSettings, load_settings, render_settings
from thunes.app.logging import configure_logging
from thunes.domain import ClientOrderId, DenialReason
from thunes.domain.messages import OrderDenied, OrderSubmitted
from thunes.domain.venue import VenueError
from thunes.engine.bus import InMemoryBus
from thunes.governance import AuditEvent, AuditRecorder
from thunes.governance.audit_schema import AuditRecordError
from thunes.preflight.live_safety import live_credentials
from thunes.preflight.live_start import LiveStart, live_session, live_venue
from thunes.session.paper import Credentials, PaperConfig

API_KEY = "leakkey" + "K" * 57  # the simulated venue wants Binance's 64-character format
API_SECRET = "leaksecret" + "S" * 54
VAULT_TOKEN = "hvs.LEAK-vault-token-5150"
AWS_SECRET_ACCESS_KEY = "LEAK-aws-secret-access-key-4242"
WRONG_SECRET = "leakwrong" + "W" * 55
DOCUMENT = {"binance_api_key": API_KEY, "binance_api_secret": API_SECRET}


@dataclass
class World:
    """Every provider, loaded from a real store, plus the values that must never show."""

    providers: dict[str, SecretsProvider]
    fernet_key: Secret
    forbidden: tuple[str, ...]
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("leaks")
    plain = tmp / "secrets.json"
    plain.write_text(json.dumps(DOCUMENT))
    plain.chmod(0o600)
    key = generate_key()
    (tmp / "secrets.enc").write_bytes(encrypt_document({k: Secret(v) for k, v in DOCUMENT.items()}, key))
    vault = VaultServer(VAULT_TOKEN)
    vault.put("thunes", DOCUMENT)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("AWS_CONFIG_FILE", str(tmp / "absent"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "absent"))
        boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=moto_url).create_secret(
            Name="thunes/binance", SecretString=json.dumps(DOCUMENT)
        )
        environ = {"THUNES_BINANCE_API_KEY": API_KEY, "THUNES_BINANCE_API_SECRET": API_SECRET,
                   KEY_ENV: key.reveal(), "VAULT_TOKEN": VAULT_TOKEN}  # fmt: skip
        providers = {
            "env": open_provider("env:", environ),
            "file": open_provider(f"file:{plain}", environ),
            "fernet": open_provider(f"fernet:{tmp / 'secrets.enc'}", environ),
            "vault": open_provider(f"vault:{vault.url('thunes')}", environ),
            "aws": open_provider(f"aws:thunes/binance?region=eu-west-1&endpoint_url={moto_url}", environ),
        }
        for provider in providers.values():
            provider.names()  # loaded: each now holds the secrets in memory
        yield World(providers, key, (API_KEY, API_SECRET, VAULT_TOKEN, AWS_SECRET_ACCESS_KEY, key.reveal()), tmp)
    moto.stop()
    vault.stop()


@pytest.fixture(scope="module")
def venue() -> Iterator[LiveVenue]:
    live = LiveVenue()

    async def register() -> None:
        live.state.venue.deposit("leaks", "USDT", 1000)
        live.state.add_api_key("leaks", key=API_KEY, secret=API_SECRET)

    asyncio.run_coroutine_threadsafe(register(), live.loop).result(TIMEOUT)
    yield live
    live.stop()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", json_output=True), stream=stream)
    yield stream
    structlog.reset_defaults()


def assert_clean(text: str, world: World) -> None:
    leaked = [value[:12] + "..." for value in world.forbidden if value in text]
    assert not leaked, f"secret values found: {leaked}"


def provoked_errors(world: World) -> list[BaseException]:
    """A failure from every provider, each with the secrets at hand when it failed."""
    tmp = world.tmp
    open_file = tmp / "open.json"
    open_file.write_text(json.dumps(DOCUMENT))
    open_file.chmod(0o644)
    broken = tmp / "broken.json"
    broken.write_text('{"binance_api_key": "' + API_KEY + '", ')
    broken.chmod(0o600)
    vault_url = world.providers["vault"].source.removeprefix("vault ")
    aws_source = world.providers["aws"]
    assert hasattr(aws_source, "endpoint_url")
    attempts = [
        lambda: open_provider(f"file:{open_file}").names(),
        lambda: open_provider(f"file:{broken}").names(),
        lambda: open_provider(f"fernet:{tmp / 'secrets.enc'}", {KEY_ENV: generate_key().reveal()}).names(),
        lambda: open_provider(f"fernet:{tmp / 'secrets.enc'}", {KEY_ENV: world.fernet_key.reveal()[:-4]}).names(),
        lambda: open_provider(f"vault:{vault_url}", {"VAULT_TOKEN": VAULT_TOKEN + "x"}).names(),
        lambda: open_provider(f"vault:{vault_url.replace('/thunes', '/absent')}", {"VAULT_TOKEN": VAULT_TOKEN}).names(),
        lambda: open_provider(f"aws:thunes/absent?region=eu-west-1&endpoint_url={aws_source.endpoint_url}").names(),
        lambda: world.providers["vault"].get("binance_api_passphrase"),
        lambda: open_provider(f"vault:{vault_url}?token={VAULT_TOKEN}"),
    ]
    errors: list[BaseException] = []
    for attempt in attempts:
        with pytest.raises(SecretsError) as caught:
            attempt()
        errors.append(caught.value)
    return errors


def load_use_and_fail(world: World, venue: LiveVenue) -> None:
    """Load every provider, log what an app would, fail every way, and sign venue calls with the keys."""
    log = structlog.get_logger("leaks")

    for name, provider in world.providers.items():
        credentials = live_credentials(provider)
        log.info("secrets_loaded", provider=provider, source=provider.source, names=provider.names(),
                 api_key=provider.get("binance_api_key"), credentials=credentials,
                 value=provider.get("binance_api_secret"), values=[provider.get("binance_api_key")])  # fmt: skip
        with structlog.contextvars.bound_contextvars(secret=provider.get("binance_api_secret"), provider_name=name):
            log.debug("using", everything=vars(provider) if hasattr(provider, "__dict__") else provider)
    for error in provoked_errors(world):
        try:
            raise error
        except SecretsError:
            log.exception("secrets_failed")

    async def use_keys() -> None:  # a signed call that works, then one the venue refuses
        config = BinanceConfig("paper", venue.base_url, venue.ws_url)
        credentials = live_credentials(world.providers["fernet"])
        async with BinanceClient(config, credentials.api_key, credentials.api_secret) as client:
            await client.balances()
            log.info("client", client=client)
        async with BinanceClient(config, API_KEY, WRONG_SECRET) as client:
            with pytest.raises(VenueError):
                await client.balances()

    asyncio.run(use_keys())


def test_logs_when_secrets_loaded_used_and_failing_then_no_value_in_any_log(
    world: World, venue: LiveVenue, logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # aiohttp, urllib, botocore: everything the libraries log

    load_use_and_fail(world, venue)

    output = logs.getvalue()
    libraries = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("ccxt"))
    assert output.count('"event": "secrets_loaded"') == 5
    assert output.count('"event": "secrets_failed"') == 9
    assert "venue_call_failed" in output  # the refused call was logged...
    assert_clean(output, world)  # ...and nothing secret was, by us
    assert "botocore" in {r.name.split(".")[0] for r in caplog.records}
    assert_clean(libraries, world)  # nor by a library (ccxt: next test)
    assert WRONG_SECRET not in output + libraries


def test_logs_when_stdlib_debug_on_then_ccxt_request_lines_carry_no_key(
    world: World, venue: LiveVenue, logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    load_use_and_fail(world, venue)

    ccxt_lines = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ccxt"))
    assert_clean(ccxt_lines, world)  # configure_logging keeps the ccxt logger above DEBUG


def test_exceptions_when_any_provider_fails_then_no_value_in_the_whole_chain(world: World, venue: LiveVenue) -> None:
    errors = provoked_errors(world)

    async def refused() -> BaseException:
        config = BinanceConfig("paper", venue.base_url, venue.ws_url)
        async with BinanceClient(config, API_KEY, WRONG_SECRET) as client:
            with pytest.raises(VenueError) as caught:
                await client.balances()
        return caught.value

    errors.append(asyncio.run(refused()))

    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error) + repr(getattr(error, "__dict__", {}))
        assert_clean(text, world)
        assert WRONG_SECRET not in text


def test_reprs_when_settings_credentials_providers_and_secrets_printed_then_masked(
    world: World, venue: LiveVenue
) -> None:
    settings = load_settings(env={"THUNES_VENUE__API_KEY": API_KEY, "THUNES_VENUE__API_SECRET": API_SECRET})
    credentials = live_credentials(world.providers["aws"])
    client = BinanceClient(BinanceConfig("paper", venue.base_url, venue.ws_url), API_KEY, API_SECRET)
    start = LiveStart(settings, credentials, live_venue(settings.live), Path("data/live"), resumed=True)
    objects: list[Any] = [settings, settings.venue, credentials, PaperConfig(credentials=credentials), client,
                          Secret(API_SECRET), start, live_session(start, PaperConfig()),
                          *world.providers.values()]  # fmt: skip
    objects += [vars(p) for p in world.providers.values() if hasattr(p, "__dict__")]

    texts = [repr(o) + str(o) for o in objects] + [settings.model_dump_json(), json.dumps(render_settings(settings))]
    asyncio.run(client.close())

    for text in texts:
        assert_clean(text, world)
    assert settings.venue.api_key is not None
    assert settings.venue.api_key.get_secret_value() == API_KEY  # the value is there, only hidden


def test_audit_trail_when_records_written_with_secrets_around_then_no_value_in_its_files(
    world: World, tmp_path: Path
) -> None:
    settings = load_settings(env={"THUNES_VENUE__API_KEY": API_KEY, "THUNES_VENUE__API_SECRET": API_SECRET})
    context = audit_context(settings)
    directory = tmp_path / "audit"
    sink = SqlAuditSink(f"sqlite:///{tmp_path / 'audit.db'}")
    log = AuditLog(directory, sinks=[sink])
    risk, clock, _ = make_engine()
    bus = InMemoryBus()
    AuditRecorder(log, context, risk.snapshot, clock).attach(bus)
    request = buy("BTCUSDT", "leak1")

    with structlog.contextvars.bound_contextvars(api_key=API_KEY, api_secret=Secret(API_SECRET)):
        bus.publish(OrderSubmitted(T0, VENUE, request.client_order_id, request))
        bus.publish(OrderDenied(T0, VENUE, ClientOrderId("leak2"), DenialReason.KILL_SWITCH, "kill-switch on"))
        log.append(
            context.record(AuditEvent.PARAMETER_UPDATED, T0, metadata={"venue": render_settings(settings)["venue"]})
        )
        with pytest.raises(AuditRecordError) as refused:  # a Secret is not audit data: refused, by name
            context.record(AuditEvent.PARAMETER_UPDATED, T0, metadata={"key": Secret(API_KEY)})
    log.close()
    sink.close()

    files = sorted(directory.iterdir())
    text = b"".join(p.read_bytes() for p in files if p.is_file()).decode()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = " ".join(str(row) for row in db.execute("SELECT * FROM audit_records"))
    assert text.count("\n") == 4  # TRADE_APPROVED, ORDER_SUBMITTED, TRADE_REJECTED, PARAMETER_UPDATED
    assert "PARAMETER_UPDATED" in text
    assert "**********" in text  # the masked settings were recorded
    assert "PARAMETER_UPDATED" in rows
    assert_clean(text + rows + str(refused.value), world)


def test_config_show_when_settings_and_provider_secrets_in_env_then_none_printed(world: World) -> None:
    env = {"THUNES_VENUE__API_KEY": API_KEY, "THUNES_VENUE__API_SECRET": API_SECRET,
           "THUNES_BINANCE_API_KEY": API_KEY, "THUNES_BINANCE_API_SECRET": API_SECRET,
           KEY_ENV: world.fernet_key.reveal(), "VAULT_TOKEN": VAULT_TOKEN, "THUNES_CONFIG": ""}  # fmt: skip

    result = CliRunner().invoke(app, ["config", "show"], env=env)

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["venue"]["api_key"] == "**********"
    assert_clean(result.output, world)


def test_credentials_when_built_from_a_provider_then_usable_but_hidden(world: World) -> None:
    credentials: Credentials = live_credentials(world.providers["vault"])

    assert (credentials.api_key, credentials.api_secret) == (API_KEY, API_SECRET)
    assert_clean(repr(credentials), world)


def test_live_session_when_keys_from_an_encrypted_file_then_no_value_in_output_logs_or_data_dir(
    world: World, venue: LiveVenue, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "live"
    env = {KEY_ENV: world.fernet_key.reveal(), "THUNES_CONFIG": "", "THUNES_SECRETS": None,
           "THUNES_BINANCE_API_KEY": None, "THUNES_BINANCE_API_SECRET": None,
           "THUNES_LIVE__REST_URL": venue.base_url, "THUNES_LIVE__WS_URL": venue.ws_url,
           "THUNES_BACKTEST__TIMEFRAME": "1m", "THUNES_STRATEGY__SMA_FAST": "2", "THUNES_STRATEGY__SMA_SLOW": "5",
           "THUNES_RISK__COOL_DOWN_MINUTES": "0", "THUNES_LOGGING__LEVEL": "DEBUG",
           "THUNES_LOGGING__JSON": "true"}  # fmt: skip
    args = ["trade", "--live", "--confirm-live", "--secrets", f"fernet:{world.tmp / 'secrets.enc'}",
            "--duration", "5", "--data-dir", str(data_dir)]  # fmt: skip

    try:
        result = CliRunner().invoke(app, args, env=env)
    finally:
        structlog.reset_defaults()

    files = "\n".join(p.read_bytes().decode(errors="replace") for p in sorted(data_dir.rglob("*")) if p.is_file())
    libraries = "\n".join(r.getMessage() for r in caplog.records)
    assert result.exit_code == 0, result.output
    assert "Summary" in result.output
    assert '"event": "live_session_starting"' in result.output  # DEBUG logs were on, and captured
    assert (data_dir / "ledger.db").is_file()
    assert_clean(result.output, world)
    assert_clean(libraries, world)
    assert_clean(files, world)
