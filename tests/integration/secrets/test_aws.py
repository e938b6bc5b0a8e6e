"""The AWS Secrets Manager provider against moto in server mode: real HTTP, real boto3 signing."""

from __future__ import annotations

import inspect
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import exceptions as aws
from moto.server import ThreadedMotoServer

from thunes.adapters.secrets import (
    SecretNotFoundError,
    SecretsAccessDeniedError,
    SecretsConfigError,
    SecretsError,
    SecretsUnavailableError,
    open_provider,
)
from thunes.adapters.secrets.aws import AwsSecretsProvider, map_aws_error

REGION = "eu-west-1"
KEY, SECRET = "AKaws-key-3333", "aws-secret-4444"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test credentials only; the machine's own AWS configuration and instance metadata never read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def create(moto_url: str, **value: Any) -> tuple[str, str]:
    """A new secret in moto (unique name); its name and ARN."""
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_url)
    answer = client.create_secret(Name=f"thunes/{uuid.uuid4().hex[:8]}", **value)
    return answer["Name"], answer["ARN"]


def test_aws_when_secret_is_a_json_object_then_read_by_name_and_by_arn(moto_url: str) -> None:
    name, arn = create(moto_url, SecretString=json.dumps({"binance_api_key": KEY, "binance_api_secret": SECRET}))

    by_name = open_provider(f"aws:{name}?region={REGION}&endpoint_url={moto_url}")
    by_arn = AwsSecretsProvider(arn, region=REGION, endpoint_url=moto_url)

    assert by_name.get("binance_api_key").reveal() == KEY
    assert by_arn.get("binance_api_secret").reveal() == SECRET
    assert by_name.names() == ("binance_api_key", "binance_api_secret")


def test_aws_when_secret_absent_or_in_another_region_then_not_found(moto_url: str) -> None:
    name, _ = create(moto_url, SecretString=json.dumps({"binance_api_key": KEY}))

    with pytest.raises(SecretNotFoundError, match="ResourceNotFoundException"):
        AwsSecretsProvider("thunes/absent", region=REGION, endpoint_url=moto_url).names()
    with pytest.raises(SecretNotFoundError):
        AwsSecretsProvider(name, region="us-east-1", endpoint_url=moto_url).names()


def test_aws_when_secret_is_plain_text_or_binary_then_refused_without_the_value(moto_url: str) -> None:
    text_name, _ = create(moto_url, SecretString=SECRET)
    binary_name, _ = create(moto_url, SecretBinary=SECRET.encode())

    errors = []
    for name in (text_name, binary_name):
        with pytest.raises(SecretsConfigError) as caught:
            AwsSecretsProvider(name, region=REGION, endpoint_url=moto_url).names()
        errors.append(str(caught.value))

    assert "not a JSON object" in errors[0]
    assert "binary secrets are not supported" in errors[1]
    assert all(SECRET not in e for e in errors)


def test_aws_when_no_credentials_then_access_denied(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(SecretsAccessDeniedError, match="NoCredentialsError"):
        AwsSecretsProvider("thunes/any", region=REGION, endpoint_url=moto_url).names()


def test_aws_when_endpoint_unreachable_then_unavailable() -> None:
    with socket.socket() as probe:  # bound, never listening, held meanwhile: refused, and no other test can take it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(SecretsUnavailableError, match="EndpointConnectionError"):
            AwsSecretsProvider(
                "thunes/any", region=REGION, endpoint_url=f"http://127.0.0.1:{port}", timeout_s=2
            ).names()


def test_aws_when_no_region_anywhere_then_config_error() -> None:
    with pytest.raises(SecretsConfigError, match="no region"):
        AwsSecretsProvider("thunes/any").names()


def _botocore_errors() -> list[type[Exception]]:
    return [c for _, c in inspect.getmembers(aws, inspect.isclass) if issubclass(c, aws.BotoCoreError)]


@pytest.mark.parametrize("kind", _botocore_errors(), ids=lambda c: c.__name__)
def test_map_aws_error_when_any_botocore_error_then_one_of_ours_never_the_unexpected_fallback(kind: type) -> None:
    error = kind.__new__(kind)  # their constructors want message fields; only the type matters here

    mapped = map_aws_error(error, "thunes/x")

    assert isinstance(mapped, SecretsError)
    assert "unexpected failure" not in str(mapped)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceNotFoundException", SecretNotFoundError),
        ("AccessDeniedException", SecretsAccessDeniedError),
        ("UnrecognizedClientException", SecretsAccessDeniedError),
        ("DecryptionFailure", SecretsAccessDeniedError),
        ("InternalServiceError", SecretsUnavailableError),
        ("ThrottlingException", SecretsUnavailableError),
        ("InvalidRequestException", SecretsConfigError),
        ("InvalidParameterException", SecretsConfigError),
    ],
)
def test_map_aws_error_when_client_error_then_by_code(code: str, expected: type[SecretsError]) -> None:
    error = aws.ClientError({"Error": {"Code": code, "Message": "m"}}, "GetSecretValue")

    mapped = map_aws_error(error, "thunes/x")

    assert type(mapped) is expected
    assert code in str(mapped)
