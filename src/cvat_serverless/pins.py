"""Pin rules for ``cvat-serverless lint``: one exact pin set for the images and the tests.

- Lock files (``serverless/requirements/*.txt``, a function folder's ``requirements.lock`` /
  ``requirements*.txt``, and any file a build step installs with ``-r`` / ``-c``) hold exact pins only.
- The runtime locks (``serverless/requirements/*.txt``) agree with each other on every version.
- A yaml build step's ``pip install`` names exact pins equal to the lock's version (the folder's own
  lock first, then the runtime locks) and installs lock files that exist in the build context.
- Weights come through ``python -m common.fetch_weights``; curl/wget only look up metadata.
"""

from __future__ import annotations

import itertools
import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_LOCKS = Path(__file__).resolve().parents[2] / "serverless" / "requirements"
CONTEXT = "/opt/nuclio/"
FETCHER = "python -m common.fetch_weights URL DEST --sha256 HEX"
EXACT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([A-Za-z0-9.+!_-]+)(\s*;.*)?$")
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
# A VCS requirement pinned to a full commit: ``[name @ ]git+https://host/repo@<40 hex>[#egg=...]``.
VCS = re.compile(r"^(?:([A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*)?git\+https://[^@\s]+@([0-9a-f]{40})(?:#\S*)?$")
LOCK_OPTIONS = {"--index-url", "-i", "--extra-index-url", "--find-links", "-f"}
VALUE_OPTIONS = LOCK_OPTIONS | {
    "-r", "--requirement", "-c", "--constraint", "-t", "--target", "--prefix", "--root", "--platform",
    "--python-version", "--implementation", "--abi", "--progress-bar", "--src", "--upgrade-strategy",
    "--no-binary", "--only-binary", "--config-settings", "-C", "--report", "--cache-dir", "--timeout",
    "--retries", "--proxy", "--log", "-e", "--editable",
}  # fmt: skip
SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&", "$"}
DOWNLOAD = re.compile(r"(?:^|[;&|(`])\s*(curl|wget)\b([^|;&)]*)", re.MULTILINE)  # at a command position


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def public(version: str) -> str:
    """The version without its local label (``2.14.1+cpu`` -> ``2.14.1``)."""
    return version.split("+", 1)[0]


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of a lock file."""

    name: str
    version: str
    source: Path


def read_lock(path: Path, seen: set[Path] | None = None) -> tuple[dict[str, Pin], list[tuple[Path, str]]]:
    """The pins of a lock file (following ``-r``) and the problems of its lines."""
    seen = set() if seen is None else seen
    pins: dict[str, Pin] = {}
    problems: list[tuple[Path, str]] = []
    if path in seen:
        return pins, problems
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        return pins, [(path, f"cannot read lock file: {error.strerror}")]
    for number, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        option, value = [*re.split(r"[\s=]+", line, maxsplit=1), ""][:2] if line.startswith("-") else [line, ""]
        if option in {"-r", "--requirement", "-c", "--constraint"}:
            nested = path.parent / value.strip()
            if not nested.is_file():
                problems.append((path, f"line {number}: {line!r} names a file that does not exist"))
                continue
            nested_pins, nested_problems = read_lock(nested, seen)
            pins.update({k: v for k, v in nested_pins.items() if k not in pins})
            problems += nested_problems
        elif option in LOCK_OPTIONS or line.startswith("--hash="):
            continue
        elif match := EXACT.match(line):
            pins[normalize(match.group(1))] = Pin(normalize(match.group(1)), match.group(3), path)
        elif vcs := VCS.match(line):
            if vcs.group(1):
                pins[normalize(vcs.group(1))] = Pin(normalize(vcs.group(1)), vcs.group(2), path)
        else:
            problems.append(
                (path, f"line {number}: {line!r} is not an exact pin; write name==version (one pin set, no ranges)")
            )
    return pins, problems


def runtime_pins(locks: Path) -> tuple[dict[str, Pin], list[tuple[Path, str]]]:
    """The union of the runtime locks (``locks/*.txt``), and disagreements between them."""
    union: dict[str, Pin] = {}
    problems: list[tuple[Path, str]] = []
    for path in sorted(locks.glob("*.txt")):
        pins, line_problems = read_lock(path)
        problems += [p for p in line_problems if p not in problems]
        for name, pin in pins.items():
            if name in union and "+" in union[name].version and "+" not in pin.version:
                union[name] = pin  # torch==2.14.1 over torch-cpu.txt's 2.14.1+cpu: the version, not the build
            known = union.setdefault(name, pin)
            if public(known.version) != public(pin.version):
                problems.append(
                    (pin.source, f"pins {name}=={pin.version} but {known.source.name} pins {known.version}")
                )
    for path in sorted(locks.rglob("*.txt")):
        if path.parent != locks:
            problems += [p for p in read_lock(path)[1] if p not in problems]
    return union, problems


def folder_locks(folder: Path) -> list[Path]:
    """A function folder's own lock files (for upstream code that needs other versions)."""
    names = {*folder.rglob("requirements*.txt"), *folder.rglob("*.lock")}
    return sorted(p for p in names if p.is_file())


def _strip_substitutions(script: str) -> str:
    """Replace each ``$(...)`` with a word: its quoting nests, which shlex cannot follow."""
    out, index = [], 0
    while (start := script.find("$(", index)) >= 0:
        depth, end = 0, start + 1
        while end < len(script):
            depth += {"(": 1, ")": -1}.get(script[end], 0)
            if depth == 0:
                break
            end += 1
        out += [script[index:start], "SUBSTITUTION"]
        index = end + 1
    return "".join(out) + script[index:]


def _commands(script: str) -> Iterator[list[str]]:
    lexer = shlex.shlex(_strip_substitutions(script), posix=True, punctuation_chars="();<>|&")
    lexer.whitespace_split = True
    command: list[str] = []
    for token in lexer:
        if token in SEPARATORS or set(token) <= set("();<>|&"):
            if command:
                yield command
            command = []
        else:
            command.append(token)
    if command:
        yield command


def _lock_targets(value: str) -> Iterator[str]:
    """The in-image paths one directive installs with ``-r`` / ``-c``, relative ones resolved after its `cd`."""
    try:
        commands = list(_commands(value))
    except ValueError:
        return
    cwd = "/"
    for command in commands:
        if command[:1] == ["cd"] and len(command) > 1:
            cwd = posixpath.normpath(posixpath.join(cwd, command[1]))
        args = _pip_install_args(command) or []
        for option, target in itertools.pairwise(args):
            if option in {"-r", "--requirement", "-c", "--constraint"}:
                yield posixpath.normpath(posixpath.join(cwd, target))


def _strip_env(command: list[str]) -> list[str]:
    while command and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", command[0]):
        command = command[1:]
    return command


def _pip_install_args(command: list[str]) -> list[str] | None:
    words = _strip_env(command)
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if re.fullmatch(r"pip[0-9.]*", program) and words[1:2] == ["install"]:
        return words[2:]
    if re.fullmatch(r"python[0-9.]*", program) and words[1:4] == ["-m", "pip", "install"]:
        return words[4:]
    return None


def download_problems(value: str) -> Iterator[str]:
    """curl/wget that fetch files (anything but a HEAD request or a GitHub API lookup), and ADD of URLs.

    A regex over the raw text, so downloads inside quoted command substitutions are seen too.
    """
    for match in DOWNLOAD.finditer(value):
        tool, args = match.group(1), match.group(2).split()
        head = any(a == "--head" or (re.fullmatch(r"-[A-Za-z]+", a) is not None and "I" in a) for a in args)
        if tool == "wget" or not (head or any(a.startswith("https://api.github.com/") for a in args)):
            yield f"build step downloads with {tool}: fetch weights with `{FETCHER}` (verified, retried)"
    if re.search(r"^\s*ADD\s+https?://", value, re.MULTILINE):
        yield f"build step ADDs a URL: fetch weights with `{FETCHER}`"


def unpinned_fetches(value: str) -> Iterator[str]:
    """common.fetch_weights calls that give no checksum (allowed: the build records the sha256)."""
    try:
        commands = list(_commands(value))
    except ValueError:
        return  # reported by StepChecker.problems
    for command in commands:
        words = _strip_env(command)
        if words[1:3] == ["-m", "common.fetch_weights"] and not any("--sha256" in w or "--sha384" in w for w in words):
            url = words[3] if len(words) > 3 else "?"
            yield f"{url} is fetched without a pinned checksum (the build records its sha256; strict builds refuse it)"


@dataclass
class StepChecker:
    """Checks the build directives of one yaml against the pin set."""

    folder: Path
    locks: Path
    pins: dict[str, Pin]

    def resolve(self, target: str) -> Path | None:
        """The repository file an in-image path (``/opt/nuclio/...``) comes from."""
        if not target.startswith(CONTEXT):
            return None
        relative = target[len(CONTEXT) :]
        local = self.folder / relative
        if local.is_file():
            return local
        if relative.startswith("requirements/") and (self.locks / relative[len("requirements/") :]).is_file():
            return self.locks / relative[len("requirements/") :]
        return None

    def problems(self, stage: str, value: str) -> Iterator[str]:
        """Every pin or download problem of one directive's shell text."""
        if stage == "preCopy" and ("common.fetch_weights" in value or CONTEXT + "requirements" in value):
            yield "build step uses common/ or requirements/ in preCopy: they reach /opt/nuclio only in postCopy"
        try:
            commands = list(_commands(value))
        except ValueError as error:
            yield f"cannot parse build step ({error}): {value[:60]!r}"
            return
        yield from download_problems(value)
        cwd = "/"  # Nuclio's Dockerfile sets no WORKDIR; a step's `cd` moves it
        for command in commands:
            if command[:1] == ["cd"] and len(command) > 1:
                cwd = posixpath.normpath(posixpath.join(cwd, command[1]))
            args = _pip_install_args(command)
            if args is not None:
                yield from self._install_problems(args, cwd)

    def with_locks_of(self, values: list[str]) -> StepChecker:
        """A checker whose pins also hold the folder locks these directives install (``-r`` / ``-c``)."""
        pins = dict(self.pins)
        for value in values:
            for target in _lock_targets(value):
                path = self.resolve(target)
                if path is not None and self.locks not in path.parents:
                    pins.update(read_lock(path)[0])
        return StepChecker(self.folder, self.locks, pins)

    def _install_problems(self, args: list[str], cwd: str = "/") -> Iterator[str]:
        index = 0
        while index < len(args):
            arg = args[index]
            option, has_value, inline = arg.partition("=")
            if arg.startswith("-"):
                value = inline if has_value else (args[index + 1] if index + 1 < len(args) else "")
                index += 1 if has_value or option not in VALUE_OPTIONS else 2
                if option in {"-r", "--requirement", "-c", "--constraint"}:
                    yield from self._lock_reference(posixpath.normpath(posixpath.join(cwd, value)))
                continue
            index += 1
            if VCS.match(arg):
                continue  # code at a pinned commit (e.g. detectron2, which has no release on PyPI)
            if arg.startswith(("/", "./", "../")):
                if "--no-deps" not in args:
                    yield f"build step installs local code {arg!r} with its dependencies: add --no-deps (use a lock)"
                continue
            yield from self._spec_problems(arg)

    def _lock_reference(self, target: str) -> Iterator[str]:
        path = self.resolve(target)
        if path is None:
            yield f"build step installs {target!r}: no such lock in the build context (requirements/ or the folder)"
            return
        if path.parent == self.locks or self.locks in path.parents:
            return  # the runtime and build locks are checked once, for the whole tree
        for source, message in read_lock(path)[1]:
            yield f"{source.name}: {message}"

    def _spec_problems(self, spec: str) -> Iterator[str]:
        name_match = NAME.match(spec)
        name = normalize(name_match.group(1)) if name_match else spec
        pin = self.pins.get(name)
        where = (
            f"{pin.source.name} pins {name}=={pin.version}" if pin else "add it to serverless/requirements/addons.txt"
        )
        match = EXACT.match(spec)
        if not match:
            yield f"build step installs {spec!r}, not an exact pin: write name==version ({where})"
        elif pin is None:
            yield f"build step pins {spec!r}, which is in no lock file: {where} (or the folder's requirements.lock)"
        elif public(match.group(3)) != public(pin.version):
            yield f"build step pins {spec!r} but {where}: images install what the tests run; use {pin.version}"
