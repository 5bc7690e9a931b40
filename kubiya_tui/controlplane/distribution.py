"""The kubiya-tui wheel this control plane runs, served to the workers its install scripts start.

At start the control plane makes a wheel of the exact code it runs, in its data dir, once per
version and content:

- running from a source tree (an editable install, or a checkout on ``PYTHONPATH``), the wheel
  is built by the project's own build backend through ``build``, cached by version and the hash
  of the files that go into it;
- running an installed kubiya-tui (a wheel that pip installed), the installed files that its
  ``RECORD`` lists are packed back into a wheel, cached by version and the hash of that RECORD.

``GET /api/v1/distribution`` answers its version, file name and sha256;
``GET /api/v1/distribution/{filename}`` serves the file with its sha256 in ``Repr-Digest`` and
``ETag``. Both take an API key of any organization and change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import tomllib
import zipfile
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

import kubiya_tui
from kubiya_tui import __version__
from kubiya_tui.controlplane.deps import Auth, get_public_url

log = logging.getLogger("kubiya_tui.controlplane")

PROJECT = "kubiya-tui"
PATH = "/api/v1/distribution"
CACHE_DIR = "distribution"
# Installer-written files of a dist-info folder: not part of the wheel that was installed.
_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
# 1980-01-01, the earliest time a zip can hold: the same files always make the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class DistributionUnavailable(Exception):
    """No wheel can be served; the message says why and what fixes it."""


@dataclass(frozen=True)
class Distribution:
    """A wheel file of kubiya-tui and what a client needs to check it."""

    version: str
    path: Path
    sha256: str
    size: int
    origin: str
    """How it was made, for the operator: built from a source tree, or packed from an installation."""

    @property
    def filename(self) -> str:
        return self.path.name


class DistributionInfo(BaseModel):
    """``GET /api/v1/distribution``: the wheel this control plane serves."""

    name: str = PROJECT
    version: str
    filename: str
    sha256: str
    size: int
    url: str
    origin: str


# ---------------------------------------------------------------------------- making the wheel


def prepare(data_dir: Path) -> Distribution:
    """The wheel of the running kubiya-tui in ``data_dir/distribution``: found there, or made now."""
    installed = _installed()
    source = source_tree(installed)
    make: Callable[[Path], Path]
    if source is not None:
        key = f"{__version__}-{source_hash(source)[:16]}"
        origin = f"built from the source tree {source}"
        make = partial(build_wheel, source)
    else:
        assert installed is not None
        record = installed.read_text("RECORD") or ""
        key = f"{__version__}-{hashlib.sha256(record.encode()).hexdigest()[:16]}"
        origin = f"packed from the installation in {installed.locate_file('')}"
        make = partial(repack, installed)
    cache = data_dir / CACHE_DIR
    try:
        wheel = _cached(cache / key) or _make(cache, key, make)
        _prune(cache, keep=key)
    except OSError as exc:
        raise DistributionUnavailable(f"cannot keep the wheel in {cache}: {exc.strerror or exc}") from None
    version = wheel.name.split("-")[1]
    if version != __version__:
        raise DistributionUnavailable(
            f"the wheel {wheel.name} is version {version} but this control plane runs {__version__}: "
            f"reinstall kubiya-tui (pip install -e . in the source tree) and restart the control plane"
        )
    with wheel.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return Distribution(version=version, path=wheel, sha256=digest, size=wheel.stat().st_size, origin=origin)


def _installed() -> importlib.metadata.Distribution | None:
    try:
        return importlib.metadata.distribution(PROJECT)
    except importlib.metadata.PackageNotFoundError:
        return None


def source_tree(installed: importlib.metadata.Distribution | None) -> Path | None:
    """The project folder when the running code is not the installed files (editable or not installed)."""
    running = Path(kubiya_tui.__file__).resolve()
    if installed is not None:
        try:
            installed_init = Path(installed.locate_file("kubiya_tui/__init__.py")).resolve()
        except OSError:
            installed_init = None
        if installed_init == running and installed.files:
            return None
    root = running.parent.parent
    if (root / "pyproject.toml").is_file():
        return root
    raise DistributionUnavailable(
        f"kubiya-tui runs from {running.parent}, which is neither an installed package nor a source tree with a pyproject.toml"
    )


def source_hash(root: Path) -> str:
    """A hash of the files that go into the wheel, as pyproject.toml's hatch settings name them."""
    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DistributionUnavailable(f"cannot read {root / 'pyproject.toml'}: {exc}") from None
    wheel_config = config.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    readme = config.get("project", {}).get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    names = ["pyproject.toml", *([readme] if isinstance(readme, str) else [])]
    names += list(wheel_config.get("packages") or ["kubiya_tui"]) + list(wheel_config.get("force-include") or {})
    digest = hashlib.sha256()
    for name in names:
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_wheel(root: Path, out_dir: Path) -> Path:
    """Build the wheel of a source tree with its build backend (in this interpreter, no download)."""
    import build
    from pyproject_hooks import quiet_subprocess_runner

    try:
        builder = build.ProjectBuilder(root, python_executable=sys.executable, runner=quiet_subprocess_runner)
        missing = builder.check_dependencies("wheel")
        if missing:
            names = ", ".join(sorted(chain[0] for chain in missing))
            raise DistributionUnavailable(
                f"cannot build the wheel of {root}: {names} not installed here (pip install {names.split(',')[0]})"
            )
        return Path(builder.build("wheel", out_dir))
    except (build.BuildException, build.BuildBackendException) as exc:
        raise DistributionUnavailable(f"cannot build the wheel of {root}: {exc}") from None


def repack(installed: importlib.metadata.Distribution, out_dir: Path) -> Path:
    """Pack an installed distribution's files back into a wheel (the files its RECORD lists)."""
    base = Path(installed.locate_file(""))
    files = installed.files or []
    dist_info = next((f.parts[0] for f in files if len(f.parts) == 2 and f.name == "METADATA"), None)
    if dist_info is None or not dist_info.endswith(".dist-info"):
        raise DistributionUnavailable(f"the installation in {base} has no dist-info folder in its RECORD")
    members: list[str] = []
    for f in files:
        name = f.as_posix()
        if name.startswith("../") or "__pycache__" in f.parts or f.suffix == ".pyc" or f.suffix == ".pth":
            continue  # scripts and byte code are made by the installer, not shipped in the wheel
        if f.parts[0] == dist_info and f.name in _INSTALLER_FILES:
            continue
        members.append(name)
    tags = [line.split(":", 1)[1].strip() for line in (installed.read_text("WHEEL") or "").splitlines() if line.startswith("Tag:")]
    tag = tags[0] if len(tags) == 1 else "py3-none-any"
    name = re.sub(r"[-_.]+", "_", installed.metadata["Name"]).lower()
    path = out_dir / f"{name}-{installed.version}-{tag}.whl"
    record = io.StringIO()
    rows = csv.writer(record, lineterminator="\n")
    # Packages first, the dist-info folder last, as wheel builders write them.
    ordered = sorted(members, key=lambda m: (m.startswith(dist_info + "/"), m))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for member in ordered:
            try:
                data = (base / member).read_bytes()
            except OSError as exc:
                raise DistributionUnavailable(f"the installed file {base / member} cannot be read: {exc.strerror or exc}") from None
            wheel.writestr(_zip_info(member), data)
            rows.writerow([member, "sha256=" + _b64(hashlib.sha256(data).digest()), len(data)])
        rows.writerow([f"{dist_info}/RECORD", "", ""])
        wheel.writestr(_zip_info(f"{dist_info}/RECORD"), record.getvalue())
    return path


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _cached(folder: Path) -> Path | None:
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    return wheels[0] if len(wheels) == 1 else None


def _make(cache: Path, key: str, make: Callable[[Path], Path]) -> Path:
    """Make the wheel in a fresh folder and move the folder into place whole (no half-written wheel is ever found)."""
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".making-", dir=cache))
    try:
        made = Path(make(work))
        final = cache / key
        if final.exists() and _cached(final) is None:
            shutil.rmtree(final, ignore_errors=True)  # a folder without exactly one wheel is of no use
        try:
            os.replace(work, final)
        except OSError:
            found = _cached(final)  # another process put it there first
            if found is None:
                raise
            return found
        return final / made.name
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _prune(cache: Path, keep: str) -> None:
    """Drop the wheels of other versions and sources: only the current one is ever served."""
    for folder in cache.iterdir():
        if folder.is_dir() and folder.name != keep and not folder.name.startswith("."):
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------- the served wheel of an app


RETRY_AFTER_SECONDS = 60.0


class Provider:
    """Makes the wheel once, in a thread of its own, and hands it to every request that needs it.

    A failure is the answer until a minute has passed; the next request after that tries
    again (say, once the missing build backend is installed).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._future: Future[Distribution] | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def start(self) -> Future[Distribution]:
        """Start making the wheel unless it is made, being made, or failed less than a minute ago."""
        with self._lock:
            retry = self._failed_at is not None and time.monotonic() - self._failed_at >= RETRY_AFTER_SECONDS
            if self._future is None or retry:
                self._future, self._failed_at = Future(), None
                threading.Thread(target=self._make, args=(self._future,), name="kubiya-tui-wheel", daemon=True).start()
            return self._future

    def _make(self, future: Future[Distribution]) -> None:
        try:
            found = prepare(self.data_dir)
        except Exception as exc:  # any failure is a reason to answer, never a dead thread
            if isinstance(exc, DistributionUnavailable):
                reason = exc
            else:
                log.exception("making the kubiya-tui wheel failed")
                reason = DistributionUnavailable(f"making the wheel failed: {type(exc).__name__}: {exc}")
            log.error("no kubiya-tui wheel to serve to workers: %s", reason)
            with self._lock:
                self._failed_at = time.monotonic()
            future.set_exception(reason)
        else:
            log.info("serving %s (%s, sha256 %s) to workers", found.filename, found.origin, found.sha256)
            future.set_result(found)

    async def get(self) -> Distribution:
        """The wheel; raises DistributionUnavailable with the reason when there is none."""
        return await asyncio.wrap_future(self.start())


def provider(app: FastAPI) -> Provider:
    """The app's wheel provider (made on first use, for the data dir of its settings)."""
    found = getattr(app.state, "distribution", None)
    if found is None:
        found = app.state.distribution = Provider(app.state.settings.data_dir)
    return found


async def current(request: Request) -> tuple[Distribution | None, str | None]:
    """The served wheel, or None and why there is none (for install scripts and worker commands)."""
    try:
        return await provider(request.app).get(), None
    except DistributionUnavailable as exc:
        return None, str(exc)


async def _start_making(app: FastAPI) -> AsyncIterator[None]:
    provider(app).start()
    yield


router = APIRouter(lifespan=_start_making, tags=["distribution"])


async def _served(request: Request) -> Distribution:
    try:
        return await provider(request.app).get()
    except DistributionUnavailable as exc:
        raise HTTPException(503, f"this control plane serves no kubiya-tui wheel: {exc}") from None


@router.get(PATH, dependencies=[Auth])
async def distribution_info(request: Request) -> DistributionInfo:
    """The kubiya-tui wheel this control plane runs and serves to workers: version, file name, sha256."""
    found = await _served(request)
    return DistributionInfo(
        version=found.version,
        filename=found.filename,
        sha256=found.sha256,
        size=found.size,
        url=f"{get_public_url(request)}{PATH}/{found.filename}",
        origin=found.origin,
    )


@router.get(PATH + "/{filename}", dependencies=[Auth], response_class=FileResponse)
async def distribution_file(filename: str, request: Request) -> FileResponse:
    """The wheel file itself, with its sha256 in ``Repr-Digest`` (RFC 9530) and ``ETag``."""
    found = await _served(request)
    if filename != found.filename:
        raise HTTPException(404, f"this control plane serves {found.filename}, not {filename[:200]!r}")
    if not found.path.is_file():
        raise HTTPException(503, f"the wheel {found.path} was removed from the data dir; restart the control plane to make it again")
    digest = base64.b64encode(bytes.fromhex(found.sha256)).decode()
    return FileResponse(
        found.path,
        media_type="application/octet-stream",
        filename=found.filename,
        headers={"ETag": f'"{found.sha256}"', "Repr-Digest": f"sha-256=:{digest}:", "Cache-Control": "private, no-cache"},
    )
