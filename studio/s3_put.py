"""A lean PutObject for the small files jobs and uploads write.

boto3's put_object runs its whole request pipeline on every call (parameter validation, a
dozen event handlers, endpoint rules, retry bookkeeping): about 1.2 ms of CPU for a
300-byte object on the 2-core machine of docs/PERFORMANCE.md, four times the signed request
itself. A job writes three objects, so that machinery was the largest single part of a
generation's platform time. This sends the same request PutObject sends — signed by
botocore's own S3 SigV4 signer with the storage's credentials, endpoint, region and
addressing style — over a pooled keep-alive connection (urllib3, which botocore uses too).

Failures come back as botocore's exception types (ClientError with the S3 error code and
HTTP status, HTTPClientError for transport errors), so studio.storage's retry rules apply
unchanged. Everything else (reads, lists, deletes, signed URLs) stays with boto3, and so do
puts for configurations this does not cover (addressing style "auto", no credentials).
"""

import re
from urllib.parse import quote, urlsplit

import boto3
import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, HTTPClientError
from botocore.httpsession import get_cert_path
from storages.backends.s3 import S3Storage

_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
_ERROR_MESSAGE = re.compile(rb"<Message>([^<]{0,500})</Message>")
_POOL_SIZE = 16  # connections kept per host: studio.storage writes with up to 8 threads


class LeanPut:
    """PUT objects into one S3Storage's bucket. Thread-safe."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        style: str,
        credentials,
        connect_timeout: float = 60,
        read_timeout: float = 60,
        verify: bool | str | None = None,
    ):
        self.region, self.credentials = region, credentials
        scheme, host = urlsplit(endpoint)[:2]
        if style == "virtual":
            self.base = f"{scheme}://{bucket}.{host}/"
        else:
            self.base = f"{scheme}://{host}/{quote(bucket)}/"
        # TLS as boto3 does it: botocore's CA bundle (certifi) unless the storage names one,
        # or turns verification off (verify=False).
        tls = {"cert_reqs": "CERT_NONE"} if verify is False else {
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": verify if isinstance(verify, str) else get_cert_path(True),
        }  # fmt: skip
        self.pool = urllib3.PoolManager(
            maxsize=_POOL_SIZE,
            **tls,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,  # studio.storage retries, with backoff, and counts the attempts
        )

    def url(self, key: str) -> str:
        return self.base + quote(key, safe="/~")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        request = AWSRequest(
            method="PUT",
            url=self.url(key),
            data=data,
            headers={"Content-Type": content_type, "Content-Length": str(len(data))},
        )
        frozen = self.credentials.get_frozen_credentials()  # refreshed when they expire
        S3SigV4Auth(frozen, "s3", self.region).add_auth(request)
        try:
            response = self.pool.request(
                "PUT",
                request.url,
                body=data,
                headers=dict(request.headers.items()),
                redirect=False,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise HTTPClientError(error=exc) from exc
        if response.status != 200:
            raise client_error(response.status, response.data)


def client_error(status: int, body: bytes) -> ClientError:
    """An S3 error response as the ClientError boto3 would raise for it."""
    code = _ERROR_CODE.search(body or b"")
    message = _ERROR_MESSAGE.search(body or b"")
    error = {
        "Code": code.group(1).decode(errors="replace") if code else str(status),
        "Message": message.group(1).decode(errors="replace") if message else "",
    }
    return ClientError(
        {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )


def lean_put_for(backend: S3Storage) -> LeanPut | None:
    """The lean writer for `backend` (made once, kept on it), or None when this backend's
    configuration is one it does not cover: boto3 writes then."""
    cached = backend.__dict__.get("_craftframe_lean_put", False)
    if cached is not False:
        return cached
    backend._craftframe_lean_put = writer = _make(backend)
    return writer


def _make(backend: S3Storage) -> LeanPut | None:
    config = backend.client_config
    s3_options = (getattr(config, "s3", None) or {}) if config else {}
    style = s3_options.get("addressing_style") or backend.addressing_style or "auto"
    if style not in ("path", "virtual") or not backend.endpoint_url:
        return None  # AWS's own endpoint rules (regional, dual-stack, auto style): boto3's job
    session = boto3.session.Session(
        aws_access_key_id=backend.access_key or None,
        aws_secret_access_key=backend.secret_key or None,
        aws_session_token=backend.security_token or None,
    )
    credentials = session.get_credentials()
    if credentials is None:
        return None
    return LeanPut(
        endpoint=backend.endpoint_url,
        bucket=backend.bucket_name,
        region=backend.region_name or "us-east-1",
        style=style,
        credentials=credentials,
        connect_timeout=getattr(config, "connect_timeout", 60),
        read_timeout=getattr(config, "read_timeout", 60),
        verify=backend.verify,
    )
