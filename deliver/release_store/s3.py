"""A release store in S3 or an S3-compatible server (MinIO, SeaweedFS, Ceph, R2, ...), via boto3.

deliver lists, reads and writes manifests with the local machine's AWS credentials. Archives do
not pass through it: for each transfer it signs a URL for one object, valid for 15 minutes, and
the build host uploads with curl while each deploy host downloads with curl. No host ever holds
AWS credentials, and curl is all they need. An upload URL is signed together with the archive's
sha256 (`x-amz-checksum-sha256`), so the server refuses any other content. URLs reach a host in
a 0600 curl config file, never on a command line (`ps`) nor in --debug output.

What .deliver leaves unset (`s3.endpoint_url`, `s3.region`, `s3.profile`) comes from the usual
AWS environment variables and ~/.aws/config and ~/.aws/credentials. boto3 is imported only
here, and only when the store is S3.
"""

from __future__ import annotations

import base64
import posixpath
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from deliver.config import S3StoreSpec
from deliver.errors import ConnectionFailed, StoreError
from deliver.release import MAX_MANIFEST_BYTES, Release
from deliver.release_store.appups import (
    MAX_APPUP_BYTES,
    StoredAppup,
    appups_directory,
    check_names,
    read_appups,
)
from deliver.release_store.base import Listing, find_release, read_listing
from deliver.shell import quote
from deliver.transport.remote import CHUNK, OutputSink, Progress, Remote, Writable

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or s3.profile) naming "
    "a profile in ~/.aws/credentials"
)
_REFUSED_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
}
#: A presigned URL must be used (the transfer started) within this many seconds.
URL_LIFETIME = 15 * 60
#: Manifests are small: read them a few at a time rather than one after another.
_PARALLEL_READS = 8


class S3Store:
    is_local = False

    def __init__(
        self, spec: S3StoreSpec, connect_timeout: float = 10.0, sink: OutputSink | None = None
    ) -> None:
        self.spec, self.sink = spec, sink
        self.location = str(spec)
        with self._errors("opening"):
            self.client = _client(spec, connect_timeout)
        self.endpoint: str = self.client.meta.endpoint_url

    def check(self) -> None:
        """The bucket exists and the credentials may list it (fails early and clearly)."""
        with self._errors("listing"):
            self.client.list_objects_v2(Bucket=self.spec.bucket, Prefix=self._key(""), MaxKeys=1)

    def check_host(self, remote: Remote) -> None:
        result = remote.run("command -v curl >/dev/null", check=False)
        if not result.ok:
            raise StoreError(
                f"{remote.name} has no curl, which the S3 release store needs on build and "
                "deploy hosts",
                hint="install curl on that host (e.g. apt-get install curl)",
            )

    def releases(self, app: str, kind: str = "release") -> list[Release]:
        """Every complete release of `app` in the store, oldest version first; a manifest
        that fails the Release gate is reported to the sink and skipped."""
        return self._listing(app, kind).usable(self.sink)

    def find(self, app: str, version: str | None = None, kind: str = "release") -> Release:
        """The release with `version`, or the newest one; raises ReleaseNotFound, or
        ManifestInvalid when the manifest of `version` was refused."""
        return find_release(self._listing(app, kind), app, version, kind, self.sink)

    def _listing(self, app: str, kind: str) -> Listing:
        keys: set[str] = set()
        with self._errors("listing"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.spec.bucket, Prefix=self._key(f"{app}_")
            )
            for page in pages:
                keys.update(item["Key"] for item in page.get("Contents", []))
        manifests = sorted(
            key
            for key in keys
            if key.endswith(f".{kind}.json") and key.removesuffix(".json") + ".tar.gz" in keys
        )
        with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
            texts = list(pool.map(self._read_manifest, manifests))
        names = (posixpath.basename(key) for key in manifests)
        return read_listing(zip(names, texts, strict=True), self.location, app, kind)

    def where(self, release: Release) -> str:
        return f"{self.location}/{release.archive_name}"

    def put(self, release: Release, archive: Path, progress: Progress | None = None) -> None:
        """Upload a local archive; the server checks it against the manifest's sha256."""
        with self._errors("uploading to"), archive.open("rb") as data:
            self.client.put_object(
                Bucket=self.spec.bucket,
                Key=self._key(release.archive_name),
                Body=_ProgressReader(data, progress),
                ContentLength=release.size,
                ChecksumSHA256=_base64_sha256(release),
            )
        self._put_manifest(release)

    def get(self, release: Release, local: Writable, progress: Progress | None = None) -> None:
        with self._errors("downloading from"):
            body = self.client.get_object(
                Bucket=self.spec.bucket, Key=self._key(release.archive_name)
            )["Body"]
            for chunk in body.iter_chunks(CHUNK):
                local.write(chunk)
                if progress:
                    progress(len(chunk))

    def receive_from_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """The build host uploads the archive at `path` with curl and a presigned URL; the
        manifest is written once the server holds an archive of the right size."""
        checksum = _base64_sha256(release)
        url = self._presign(
            "put_object", release.archive_name, ChecksumSHA256=checksum, ContentLength=release.size
        )
        response = f"{path}.response"
        _curl(
            remote,
            {
                "url": url,
                "upload-file": path,
                "header": f"x-amz-checksum-sha256: {checksum}",
                "output": response,
            },
            response,
            f"uploading {release.archive_name} to {self.location}",
        )
        remote.run(f"rm -f {quote(response)}", check=False)
        with self._errors("checking the upload in"):
            head = self.client.head_object(
                Bucket=self.spec.bucket, Key=self._key(release.archive_name)
            )
        if head["ContentLength"] != release.size:
            raise StoreError(
                f"{self.where(release)} holds {head['ContentLength']} bytes, not {release.size}"
            )
        self._put_manifest(release)

    def send_to_host(
        self, release: Release, remote: Remote, path: str, progress: Progress | None = None
    ) -> None:
        """`remote` downloads the archive into `path` with curl and a presigned URL; the
        caller verifies its sha256 there."""
        url = self._presign("get_object", release.archive_name)
        _curl(
            remote,
            {"url": url, "output": path},
            path,
            f"fetching {release.archive_name} from {self.location}",
        )

    def put_appups(self, release: Release, files: Mapping[str, bytes]) -> None:
        """Replace the appups stored beside `release`'s archive with `files` (objects under
        the key prefix `<archive>.appups/`)."""
        check_names(files)
        prefix = appups_directory(release) + "/"
        stale = set(self._keys(prefix)) - {self._key(prefix + name) for name in files}
        with self._errors("writing appups to"):
            for name, data in files.items():
                self.client.put_object(
                    Bucket=self.spec.bucket, Key=self._key(prefix + name), Body=data
                )
            for key in sorted(stale):
                self.client.delete_object(Bucket=self.spec.bucket, Key=key)

    def appups(self, release: Release) -> list[StoredAppup]:
        """The appups stored beside `release`'s archive (none for an upgrade stored before
        deliver kept them), each checked; refused ones are reported to the sink."""
        prefix = self._key(appups_directory(release) + "/")
        keys = sorted(self._keys(appups_directory(release) + "/"))
        with ThreadPoolExecutor(max_workers=_PARALLEL_READS) as pool:
            texts = list(pool.map(lambda key: self._read_object(key, MAX_APPUP_BYTES), keys))
        names = (key.removeprefix(prefix) for key in keys)
        return read_appups(zip(names, texts, strict=True), release, self.location, self.sink)

    def remove(self, release: Release) -> None:
        """Manifest first: a release without its manifest is already invisible."""
        appups = self._keys(appups_directory(release) + "/")
        with self._errors("deleting from"):
            for name in (release.manifest_name, release.archive_name):
                self.client.delete_object(Bucket=self.spec.bucket, Key=self._key(name))
            for key in appups:
                self.client.delete_object(Bucket=self.spec.bucket, Key=key)

    def _keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (relative to the store's own prefix)."""
        keys: list[str] = []
        with self._errors("listing"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.spec.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def close(self) -> None:
        self.client.close()

    def _key(self, name: str) -> str:
        return f"{self.spec.prefix}/{name}" if self.spec.prefix else name

    def _read_manifest(self, key: str) -> bytes:
        """At most a little more than a manifest may be (the gate refuses it)."""
        return self._read_object(key, MAX_MANIFEST_BYTES)

    def _read_object(self, key: str, limit: int) -> bytes:
        """At most a little more than `limit` bytes of the object (its reader refuses that)."""
        with self._errors("reading"):
            body = self.client.get_object(Bucket=self.spec.bucket, Key=key)["Body"]
            try:
                return bytes(body.read(limit + 1))
            finally:
                body.close()

    def _put_manifest(self, release: Release) -> None:
        with self._errors("writing the manifest to"):
            self.client.put_object(
                Bucket=self.spec.bucket,
                Key=self._key(release.manifest_name),
                Body=release.to_json().encode(),
                ContentType="application/json",
            )

    def _presign(self, operation: str, name: str, **params: Any) -> str:
        with self._errors("signing a URL for"):
            return str(
                self.client.generate_presigned_url(
                    operation,
                    Params={"Bucket": self.spec.bucket, "Key": self._key(name), **params},
                    ExpiresIn=URL_LIFETIME,
                )
            )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """botocore's exceptions, said for the user: what, where, and what to do."""
        from botocore import exceptions as boto

        try:
            yield
        except boto.NoCredentialsError:
            raise StoreError(
                f"no AWS credentials found for {self.location}", hint=CREDENTIALS_HINT
            ) from None
        except boto.ProfileNotFound as error:
            raise StoreError(
                f"{error} (looked in ~/.aws/config and ~/.aws/credentials)",
                hint="fix s3.profile or AWS_PROFILE",
            ) from None
        except boto.ConnectTimeoutError:
            raise ConnectionFailed(self._endpoint_name(), "timed out") from None
        except boto.EndpointConnectionError:
            raise ConnectionFailed(
                self._endpoint_name(), "no answer (is the server up and the endpoint right?)"
            ) from None
        except boto.ClientError as error:
            raise self._client_error(error, doing) from None
        except boto.BotoCoreError as error:
            raise StoreError(f"{doing} {self.location} failed: {_first_line(error)}") from None

    def _endpoint_name(self) -> str:
        # the client (and so its endpoint) may be what failed to be made
        return getattr(self, "endpoint", None) or self.spec.endpoint_url or self.location

    def _client_error(self, error: Any, doing: str) -> Exception:
        details = error.response.get("Error", {})
        code = str(details.get("Code", "unknown"))
        message = details.get("Message") or code
        if code in ("NoSuchBucket", "404") and doing == "listing":
            return StoreError(
                f"the bucket {self.spec.bucket} does not exist (at {self.endpoint})",
                hint="create it, or correct release_store in .deliver",
            )
        if code in _REFUSED_CREDENTIALS:
            return ConnectionFailed(
                self.location, f"the S3 credentials were refused ({code})", hint=CREDENTIALS_HINT
            )
        if code in ("AccessDenied", "403"):
            return StoreError(
                f"access denied {doing} {self.location}",
                hint="the credentials need s3:ListBucket, s3:GetObject, s3:PutObject and "
                "s3:DeleteObject on the bucket and prefix",
            )
        return StoreError(f"{doing} {self.location} failed: {code}: {message}")


def _client(spec: S3StoreSpec, connect_timeout: float) -> Any:
    import boto3
    from botocore.config import Config

    # S3-compatible servers rarely have a DNS name per bucket: path-style URLs work everywhere
    style = spec.addressing_style or ("path" if spec.endpoint_url else None)
    config = Config(
        signature_version="s3v4",
        connect_timeout=connect_timeout,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": style} if style else None,
    )
    session = boto3.session.Session(profile_name=spec.profile)
    return session.client(
        "s3", endpoint_url=spec.endpoint_url, region_name=spec.region, config=config
    )


def _curl(remote: Remote, options: dict[str, str], body: str, step: str) -> None:
    """Run curl on `remote` with `options` in a 0600 config file (removed right after);
    anything but HTTP 200 fails with the server's answer, and `body` is removed."""
    config = posixpath.join(posixpath.dirname(body), f".deliver-curl-{uuid.uuid4().hex[:12]}")
    text = "".join(f"{name} = {_curl_string(value)}\n" for name, value in options.items())
    remote.upload(text.encode(), config, mode=0o600)
    script = f"""config={quote(config)} body={quote(body)}
if ! command -v curl >/dev/null; then
  rm -f "$config"; echo "curl is not installed on this host"; exit 127
fi
code=$(curl -sS --retry 2 -K "$config" -w '%{{http_code}}'); status=$?
rm -f "$config"
if [ "$status" -ne 0 ] || [ "$code" != 200 ]; then
  echo "the release store answered HTTP ${{code:-nothing}}"
  [ ! -s "$body" ] || {{ head -c 1000 "$body"; echo; }}
  rm -f "$body"; exit 1
fi"""
    remote.run(script, step=step)


def _curl_string(value: str) -> str:
    """A double-quoted curl config value (curl reads backslash escapes in it)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _base64_sha256(release: Release) -> str:
    return base64.b64encode(bytes.fromhex(release.sha256)).decode()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class _ProgressReader:
    """A file for botocore that reports each chunk read; seek lets botocore retry."""

    def __init__(self, raw: IO[bytes], progress: Progress | None) -> None:
        self.raw, self.progress = raw, progress

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if self.progress and data:
            self.progress(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()
