"""Secrets from AWS Secrets Manager (``GetSecretValue``), through boto3.

The secret's ``SecretString`` is a JSON object of names to text (what the console's "key/value"
editor writes). AWS credentials come from boto3's usual chain (environment, ``~/.aws``, instance
role); ``endpoint_url`` points at a VPC endpoint, LocalStack or moto. Every boto3/botocore failure
becomes one of our secrets errors in :func:`map_aws_error`, and messages carry the secret id, the
operation and AWS's error code, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
from botocore import exceptions as aws  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from thunes.adapters.secrets.base import DocumentProvider
from thunes.adapters.secrets.document import secrets_from_mapping
from thunes.adapters.secrets.errors import (
    SecretNotFoundError,
    SecretsAccessDeniedError,
    SecretsConfigError,
    SecretsError,
    SecretsUnavailableError,
)
from thunes.adapters.secrets.secret import Secret

__all__ = ["AwsSecretsProvider", "map_aws_error"]

# GetSecretValue's documented errors (AWS Secrets Manager API reference), plus STS/signing ones.
_NOT_FOUND = frozenset({"ResourceNotFoundException"})
_DENIED = frozenset({"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                     "ExpiredTokenException", "SignatureDoesNotMatch", "DecryptionFailure",
                     "InvalidClientTokenId", "IncompleteSignature"})  # fmt: skip
_LATER = frozenset({"InternalServiceError", "InternalFailure", "ThrottlingException", "ServiceUnavailable",
                    "RequestTimeout", "TooManyRequestsException"})  # fmt: skip
_NO_CREDENTIALS = (aws.NoCredentialsError, aws.PartialCredentialsError, aws.CredentialRetrievalError,
                   aws.NoAuthTokenError, aws.TokenRetrievalError, aws.SSOError, aws.UnauthorizedSSOTokenError,
                   aws.RefreshWithMFAUnsupportedError, aws.MetadataRetrievalError)  # fmt: skip
_NETWORK = (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError, aws.ConnectionClosedError,
            aws.ProxyConnectionError, aws.SSLError, aws.HTTPClientError, aws.IncompleteReadError)  # fmt: skip


def _from_client_error(error: Any, where: str) -> SecretsError:
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    if code in _NOT_FOUND:
        return SecretNotFoundError(f"{where} not found ({code}): check the id and the region")
    if code in _DENIED:
        return SecretsAccessDeniedError(f"{where}: access refused ({code}): check the credentials and policy")
    if code in _LATER:
        return SecretsUnavailableError(f"{where}: AWS failed or throttled ({code}); retry later")
    return SecretsConfigError(f"{where}: AWS refused the request ({code})")


# botocore failures that are not an answer from AWS, most specific first: (kinds, our error, what to do).
_BY_TYPE: tuple[tuple[tuple[type[Exception], ...], type[SecretsError], str], ...] = (
    (_NO_CREDENTIALS, SecretsAccessDeniedError, "no usable AWS credentials"),
    (_NETWORK, SecretsUnavailableError, "cannot reach AWS Secrets Manager; retry later"),
    ((aws.NoRegionError,), SecretsConfigError, "no region: add region=<name> to the spec or set AWS_REGION"),
    ((aws.BotoCoreError,), SecretsConfigError, "the AWS client failed"),
)


def map_aws_error(error: Exception, secret_id: str) -> SecretsError:
    """The one place boto3/botocore errors become ours (retry later, fix access, fix config)."""
    where = f"AWS secret {secret_id!r}"
    if isinstance(error, aws.ClientError):
        return _from_client_error(error, where)
    for kinds, kind, what in _BY_TYPE:
        if isinstance(error, kinds):
            return kind(f"{where}: {what} ({type(error).__name__})")
    return SecretsUnavailableError(f"{where}: unexpected failure ({type(error).__name__})")


class AwsSecretsProvider(DocumentProvider):
    """The secret ``secret_id`` (name or ARN) at ``version_stage``, in ``region`` (boto3's default if None)."""

    def __init__(
        self,
        secret_id: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        version_stage: str = "AWSCURRENT",
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__()
        if not secret_id:
            raise SecretsConfigError("aws: the spec needs a secret id: aws:<name-or-arn>?region=<region>")
        self.secret_id, self.region, self.endpoint_url = secret_id, region, endpoint_url
        self.version_stage, self._timeout_s = version_stage, timeout_s

    @property
    def source(self) -> str:
        where = f" in {self.region}" if self.region else ""
        via = f" via {self.endpoint_url}" if self.endpoint_url else ""
        return f"aws secret {self.secret_id}{where}{via}"

    def _client(self) -> Any:
        config = Config(connect_timeout=self._timeout_s, read_timeout=self._timeout_s,
                        retries={"max_attempts": 3, "mode": "standard"})  # fmt: skip
        session = boto3.session.Session(region_name=self.region)
        return session.client("secretsmanager", endpoint_url=self.endpoint_url, config=config)

    def _fetch(self) -> Mapping[str, Secret]:
        try:
            answer = self._client().get_secret_value(SecretId=self.secret_id, VersionStage=self.version_stage)
        except Exception as e:  # every vendor failure is mapped, in one place; none carries a value
            raise map_aws_error(e, self.secret_id) from e
        text = answer.get("SecretString")
        if not isinstance(text, str):
            raise SecretsConfigError(f"{self.source}: binary secrets are not supported; store a JSON object")
        try:
            data = json.loads(text)
        except ValueError:
            raise SecretsConfigError(f"{self.source}: the secret is not a JSON object of names to text") from None
        if not isinstance(data, dict):
            raise SecretsConfigError(f"{self.source}: the secret is not a JSON object of names to text")
        return secrets_from_mapping(data, self.source)
