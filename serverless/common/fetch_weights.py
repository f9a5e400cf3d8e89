"""Download published weights at image build time, verified: ``python -m common.fetch_weights URL DEST``.

Usage (from a folder where ``common`` is importable: ``serverless/`` in a checkout, ``/opt/nuclio``
in an image)::

    python -m common.fetch_weights URL DEST [--sha256 HEX | --sha384 HEX] [--retries N]

- With ``--sha256`` / ``--sha384`` the file is verified; a mismatch exits 1 and leaves nothing at
  DEST. ``--sha256`` also takes a prefix of 8 to 63 hex digits, the form torchvision publishes in
  its weight file names (``...-dd69338a.pth``); the full digest is then recorded as below.
- Without a full checksum the file is downloaded, the sha256 it got is printed and written to
  ``DEST.sha256``, so an administrator can pin it.
- ``CVAT_FN_REQUIRE_CHECKSUM=1`` (strict mode) refuses weights without a full ``--sha256`` or
  ``--sha384`` pin (exit 2) before downloading anything.
- Network errors, 5xx answers and short reads are retried; the file is written to a temporary file
  in DEST's folder, verified, then renamed, so an interrupted download never leaves a partial DEST.
- ``file://`` URLs work (handy for mirrors and tests). Only the standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

STRICT_VARIABLE = "CVAT_FN_REQUIRE_CHECKSUM"
CHUNK = 1 << 20
USER_AGENT = "cvat-serverless-fetch-weights/1"
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96}
MIN_PREFIX = 8
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class FetchError(Exception):
    """The download failed for good (after the retries, or a checksum mismatch)."""


class _Transient(Exception):
    """A failure worth another try (network error, short read, 5xx)."""


def _strict(environ: Mapping[str, str]) -> bool:
    return environ.get(STRICT_VARIABLE, "").strip().lower() not in {"", "0", "false", "no", "off"}


def _expected(args: argparse.Namespace) -> tuple[str, str] | None:
    """The (algorithm, lower-case hex) pin given on the command line, or None."""
    for algorithm in DIGEST_LENGTHS:
        value = getattr(args, algorithm)
        if value is not None:
            return algorithm, value.lower()
    return None


def _hex_argument(algorithm: str, allow_prefix: bool) -> object:
    length = DIGEST_LENGTHS[algorithm]

    def parse(text: str) -> str:
        low = MIN_PREFIX if allow_prefix else length
        if not re.fullmatch(rf"[0-9a-fA-F]{{{low},{length}}}", text):
            wanted = f"{low} to {length}" if allow_prefix else str(length)
            raise argparse.ArgumentTypeError(f"--{algorithm} wants {wanted} hex digits, got {text!r}")
        return text

    return parse


def _download_once(url: str, part: Path, algorithms: Sequence[str], timeout: float) -> dict[str, str]:
    """Stream ``url`` into ``part``; return the hex digests. Raises _Transient or FetchError."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    hashes = {name: hashlib.new(name) for name in algorithms}
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, part.open("wb") as out:
            length = response.headers.get("Content-Length")
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                for digest in hashes.values():
                    digest.update(chunk)
            out.flush()
            os.fsync(out.fileno())
    except urllib.error.HTTPError as error:
        if error.code in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {error.code} {error.reason}") from error
        raise FetchError(f"HTTP {error.code} {error.reason} for {url}") from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise _Transient(f"{type(error).__name__}: {error}") from error
    if length is not None and length.isdigit() and received != int(length):
        raise _Transient(f"short read: got {received} of {length} bytes")
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def fetch(
    url: str,
    dest: Path,
    expected: tuple[str, str] | None,
    *,
    retries: int = 3,
    retry_delay: float = 2.0,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` verified against ``expected``; return the sha256 hex digest.

    - On any failure ``dest`` does not exist afterwards and :class:`FetchError` is raised.
    - ``expected`` is ``(algorithm, hex)``; a sha256 shorter than 64 digits is a prefix check.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    algorithms = ["sha256"] + ([expected[0]] if expected and expected[0] != "sha256" else [])
    attempts = max(1, retries + 1)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    part = Path(name)
    try:
        for attempt in range(1, attempts + 1):
            try:
                digests = _download_once(url, part, algorithms, timeout)
                break
            except _Transient as error:
                print(f"fetch_weights: attempt {attempt}/{attempts} failed: {error}", file=sys.stderr)
                if attempt == attempts:
                    raise FetchError(f"could not download {url}: {error}") from error
                time.sleep(retry_delay * 2 ** (attempt - 1))
        if expected is not None:
            algorithm, want = expected
            if not digests[algorithm].startswith(want):
                got = digests[algorithm]
                raise FetchError(f"{algorithm} mismatch for {url}: expected {want}, got {got} (nothing kept at {dest})")
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
        raise
    return digests["sha256"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.fetch_weights",
        description="Download weights to DEST, verified against a pinned checksum (or record the sha256 it got).",
    )
    parser.add_argument("url", metavar="URL", help="http(s):// or file:// URL of the weights")
    parser.add_argument("dest", metavar="DEST", type=Path, help="where the verified file goes")
    pins = parser.add_mutually_exclusive_group()
    pins.add_argument("--sha256", type=_hex_argument("sha256", allow_prefix=True), help="expected sha256 (or prefix)")
    pins.add_argument("--sha384", type=_hex_argument("sha384", allow_prefix=False), help="expected sha384")
    parser.add_argument("--retries", type=int, default=3, help="extra attempts after a network failure (default 3)")
    parser.add_argument("--retry-delay", type=float, default=2.0, help="seconds before the first retry, doubling")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 download/checksum failure, 2 usage/refused)."""
    parser = _parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    expected = _expected(args)
    pinned = expected is not None and len(expected[1]) == DIGEST_LENGTHS[expected[0]]
    if _strict(env) and not pinned:
        what = "only a sha256 prefix" if expected else "no --sha256/--sha384"
        print(
            f"fetch_weights: error: {STRICT_VARIABLE} is set and {args.url} has {what}; pin its full checksum "
            f"in the yaml (a build without {STRICT_VARIABLE} records it in {args.dest}.sha256)",
            file=sys.stderr,
        )
        return 2
    try:
        sha256 = fetch(
            args.url, args.dest, expected, retries=args.retries, retry_delay=args.retry_delay, timeout=args.timeout
        )
    except FetchError as error:
        print(f"fetch_weights: error: {error}", file=sys.stderr)
        return 1
    print(f"{sha256}  {args.dest}")
    if not pinned:
        args.dest.with_name(args.dest.name + ".sha256").write_text(f"{sha256}  {args.dest.name}\n")
        print(
            f"fetch_weights: {args.url} is not pinned; recorded sha256 {sha256} in {args.dest}.sha256 "
            f"(pin it with --sha256 {sha256})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
