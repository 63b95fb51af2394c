"""The peer of `benchmarks.layouts`: nvtui's Identify Controller decoder as it was before structures became
YAML layouts (Python tables of `Spec` rows walked by `decode_layout`), copied unchanged from main at
455966b (nvtui/nvme/decode/base.py and identify.py), so the engine is measured against it side by side.
Not part of nvtui; nothing imports it but the benchmark."""
