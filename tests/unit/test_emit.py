"""tinyslm.emit: C literals, op list, arena size, budgets, banner, rendering and atomic writing.

The host-compile test builds the generated settings and model array with the C
core and checks what the firmware would see against the manifest (emlearn style).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from shared_paths import missing, require_path, sdk_path

from tinyslm.boards import load_board
from tinyslm.emit import arena_size_for, check_budget, render_project
from tinyslm.emit.actions import starter_paths
from tinyslm.emit.carrays import c_array_body, c_float, c_string
from tinyslm.emit.ops import (
    REGISTRATIONS,
    RESOLVER_METHODS,
    op_entries,
    resolver_includes,
    resolver_method,
    template_ops,
)
from tinyslm.emit.render import banner, render, template_outputs
from tinyslm.errors import BoardError, BudgetError, ModelError
from tinyslm.manifest import Manifest, QuantParams, sha256_hex
from tinyslm.resources import firmware_dir, firmware_files
from tinyslm.text.features import FeatureSpec

# ---------------------------------------------------------------- C literals


def _parse_c_bytes(body: str) -> bytes:
    return bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-f]{2})", body))


@pytest.mark.parametrize("n", [0, 1, 11, 12, 13, 100])
def test_c_array_body_round_trips(n: int) -> None:
    data = bytes((i * 37 + 5) % 256 for i in range(n))
    body = c_array_body(data)
    assert _parse_c_bytes(body) == data
    lines = body.splitlines()
    assert len(lines) == -(-n // 12)
    assert all(line.startswith("  0x") and line.endswith(",") for line in lines)
    assert all(line.count("0x") <= 12 for line in lines)


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("lights_on", '"lights_on"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("what??=", '"what\\?\\?="'),  # no trigraphs
        ("tab\there\n", '"tab\\011here\\012"'),
        ("café", '"caf\\303\\251"'),
        ("\x7f", '"\\177"'),
        ("", '""'),
    ],
)
def test_c_string(text: str, literal: str) -> None:
    assert c_string(text) == literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [(0.00390625, "0.00390625f"), (1.0, "1.0f"), (1e-10, "1.00000001e-10f"), (-2.5, "-2.5f")],
)
def test_c_float(value: float, literal: str) -> None:
    assert c_float(value) == literal


@pytest.mark.parametrize("value", [0.1, 1 / 3, 0.0123456789, 255.0 / 256.0, 3.0e-5])
def test_c_float_reads_back_as_the_same_float32(value: float) -> None:
    f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    text = c_float(value)
    assert text.endswith("f")
    assert struct.unpack("<f", struct.pack("<f", float(text[:-1])))[0] == f32


def test_c_float_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        c_float(float("nan"))


# ---------------------------------------------------------------- ops


@pytest.mark.parametrize(
    ("op", "method"),
    [
        ("FULLY_CONNECTED", "AddFullyConnected"),
        ("L2_NORMALIZATION", "AddL2Normalization"),
        ("SOFTMAX", "AddSoftmax"),
        ("MEAN", "AddMean"),
        ("GATHER", "AddGather"),
        ("CONV_2D", "AddConv2D"),
        ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
        ("MAX_POOL_2D", "AddMaxPool2D"),
        ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
        ("BATCH_MATMUL", "AddBatchMatMul"),
        ("ADD_N", "AddAddN"),
        ("PAD_V2", "AddPadV2"),
        ("EMBEDDING_LOOKUP", "AddEmbeddingLookup"),
        ("RELU6", "AddRelu6"),
    ],
)
def test_resolver_method(op: str, method: str) -> None:
    assert resolver_method(op) == method


@pytest.mark.parametrize("op", ["FROBNICATE", "fully_connected", "", "CUSTOM", "REDUCE_PROD"])
def test_unknown_op_is_a_model_error(op: str) -> None:
    with pytest.raises(ModelError, match="not a builtin op"):
        resolver_method(op)


def test_op_entries_are_sorted_and_unique() -> None:
    entries = op_entries(["SOFTMAX", "FULLY_CONNECTED", "GATHER", "SOFTMAX"])
    assert [e.name for e in entries] == ["FULLY_CONNECTED", "GATHER", "SOFTMAX"]
    assert [e.method for e in entries] == ["AddFullyConnected", "AddGather", "AddSoftmax"]
    with pytest.raises(ModelError, match="no ops"):
        op_entries([])


# The upstream tree at the pinned commit and Espressif's copy (what the esp32 builds).
RESOLVER_TREES = (("tflm", "host"), ("tflm", "cortex-m7"), ("esp-tflite-micro",))


@pytest.mark.parametrize("tree", RESOLVER_TREES, ids=lambda parts: "/".join(parts))
def test_resolver_methods_match_tflm(tree: tuple[str, ...]) -> None:
    root = require_path(sdk_path(*tree), "TFLM tree")
    header = (root / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    methods = set(re.findall(r"TfLiteStatus (Add[A-Za-z0-9]+)\(", header))
    # Not builtin ops: custom registration and the signal library's ops.
    methods -= {"AddCustom", "AddBuiltin", "AddDecode", "AddDelay", "AddEnergy"}
    methods -= {m for m in methods if m.startswith(("AddFft", "AddFilterBank", "AddIrfft"))}
    methods -= {"AddFramer", "AddOverlapAdd", "AddPCAN", "AddRfft", "AddStacker", "AddWindow"}
    methods -= {"AddCircularBuffer"}
    assert methods == set(RESOLVER_METHODS)


@pytest.mark.parametrize("tree", RESOLVER_TREES, ids=lambda parts: "/".join(parts))
def test_registrations_exist_in_tflm(tree: tuple[str, ...]) -> None:
    root = require_path(sdk_path(*tree), "TFLM tree")
    for op, (registration, header) in REGISTRATIONS.items():
        method = resolver_method(op)
        resolver = (root / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
        # The Add method takes a registration argument (with TFLM's default).
        assert re.search(rf"TfLiteStatus {method}\(\s*const TFLMRegistration&", resolver), op
        if registration.startswith("tflite::"):
            name = registration.removeprefix("tflite::").removesuffix("()")
            text = (root / header).read_text()
            # Declared for CMSIS-NN and defined inline (the default kernel) elsewhere.
            assert re.search(rf"TFLMRegistration {name}\(\)", text), f"{name} in {header}"
        else:
            firmware = firmware_files("text")[header].read_text()
            assert f"TFLMRegistration {registration.removesuffix('()')}();" in firmware


def test_ops_template_uses_the_registrations() -> None:
    entries = op_entries(["SOFTMAX", "MEAN", "GATHER", "FULLY_CONNECTED"])
    fields = {e["name"]: e["registration"] for e in template_ops(entries)}
    assert fields == {
        "FULLY_CONNECTED": "tflite::Register_FULLY_CONNECTED_INT8()",
        "GATHER": "",
        "MEAN": "tinyslm_Register_MEAN()",
        "SOFTMAX": "tflite::Register_SOFTMAX_INT8()",
    }
    assert resolver_includes(entries) == [
        "tensorflow/lite/micro/kernels/fully_connected.h",
        "tensorflow/lite/micro/kernels/softmax.h",
        "tinyslm_mean.h",
    ]


# ---------------------------------------------------------------- arena and budget


@pytest.mark.parametrize(
    ("measured", "size"),
    [(3072, 4096), (100, 1136), (4096, 5120), (40000, 50000), (40001, 50016)],
)
def test_arena_size_for(measured: int, size: int) -> None:
    got = arena_size_for(measured)
    assert got == size
    assert got % 16 == 0 and got >= measured * 1.25 and got >= measured + 1024


def test_arena_size_for_rejects_non_positive() -> None:
    with pytest.raises(ModelError, match="arena_bytes must be positive"):
        arena_size_for(0)


def test_check_budget() -> None:
    board = load_board("esp32")  # model 1024 KB, arena 96 KB
    check_budget(board, 1024 * 1024, 96 * 1024)  # exactly at the limits fits
    with pytest.raises(BudgetError) as err:
        check_budget(board, 1024 * 1024 + 1, 1000)
    assert str(err.value) == (
        "does not fit board esp32: model 1048577 bytes > flash budget 1048576 bytes "
        "(model_flash_kb 1024)"
    )
    with pytest.raises(BudgetError, match=r"arena 98320 bytes > RAM budget 98304 bytes"):
        check_budget(board, 10, 96 * 1024 + 16)
    with pytest.raises(BudgetError, match=r"model .*; arena "):
        check_budget(board, 2 * 1024 * 1024, 200 * 1024)


# ---------------------------------------------------------------- banner and templates


@pytest.mark.parametrize(
    ("path", "first"),
    [
        ("src/main.cc", "// Generated by tinyslm 9.9. Do not edit."),
        ("src/tinyslm_settings.c", "// Generated by tinyslm 9.9. Do not edit."),
        ("platformio.ini", "; Generated by tinyslm 9.9. Do not edit."),
        ("CMakeLists.txt", "# Generated by tinyslm 9.9. Do not edit."),
        ("src/idf_component.yml", "# Generated by tinyslm 9.9. Do not edit."),
        ("sdkconfig.defaults", "# Generated by tinyslm 9.9. Do not edit."),
        ("tinyslm_hardfloat.py", "# Generated by tinyslm 9.9. Do not edit."),
        ("README.md", "<!--"),
    ],
)
def test_banner_comment_syntax(path: str, first: str) -> None:
    text = banner(path, "9.9", "ab" * 32, "esp32")
    lines = text.splitlines()
    assert lines[0] == first
    assert any(line.endswith(f"model sha256: {'ab' * 32}") for line in lines)
    assert any(line.endswith("board: esp32") for line in lines)
    assert text.endswith("\n")


def test_banner_refuses_unknown_file_types() -> None:
    with pytest.raises(ValueError, match="no comment syntax"):
        banner("library.json", "9.9", "0" * 64, "esp32")


def test_template_outputs_merge_common_modality_and_family() -> None:
    esp = template_outputs("esp32")
    assert esp["src/main.cc"] == "esp32-text/src/main.cc.j2"
    assert esp["src/tinyslm_settings.h"] == "text/src/tinyslm_settings.h.j2"
    assert esp["src/tinyslm_model_data.h"] == "common/src/tinyslm_model_data.h.j2"
    assert "CMakeLists.txt" in esp and "src/idf_component.yml" in esp
    stm = template_outputs("stm32")
    assert stm["src/main.cc"] == "stm32-text/src/main.cc.j2"
    assert "CMakeLists.txt" not in stm
    assert template_outputs("stm32", modality="audio")["src/main.cc"] == (
        "stm32-audio/src/main.cc.j2"
    )


def test_the_text_starter_names_the_intents_a_device_acts_on(model: bytes, firmware: Path) -> None:
    """Out-of-scope is never an action: the starter's list and example skip it; labels are
    C string literals, so a quote or a non-ASCII byte cannot break the comment or the code."""
    manifest = _manifest(model, labels=("oos", *LABELS))
    plan = render_project(load_board("stm32h7"), manifest, model, firmware=firmware)
    (starter,) = plan.starters
    text = starter.data.decode()
    assert starter.path == "src/tinyslm_actions.c"
    listed = [ln.strip()[2:].strip() for ln in text.splitlines() if ln.startswith("  //   ")]
    assert listed == ['"lights_on"', '"say \\"hi\\""', '"caf\\303\\251"']
    assert 'strcmp(answer->intent, "lights_on") == 0' in text
    assert text.startswith("// Written by tinyslm 0.1.0 for board stm32h7 as a start;")
    assert "src/tinyslm_actions.c" not in plan.as_mapping()  # the user's, not tinyslm's


def test_every_modality_has_its_actions_starter_and_a_missing_one_is_an_error(
    tmp_path: Path,
) -> None:
    """main.cc calls tinyslm_actions_init and the hook, so a project must get the starter."""
    for name in ("text", "audio"):
        assert starter_paths(name) == ("src/tinyslm_actions.c",)
    with pytest.raises(FileNotFoundError, match="starters"):
        starter_paths("text", tmp_path)


def test_each_starter_defines_its_modalitys_hook(tmp_path: Path) -> None:
    # HOOKS names what generate looks for in a kept starter (missing_hooks); each
    # starter must define its own, and not the other modality's.
    from tinyslm.emit.actions import HOOKS, missing_hooks
    from tinyslm.resources import templates_dir

    for name, hook in HOOKS.items():
        source = templates_dir() / "starters" / name / "src" / "tinyslm_actions.c.j2"
        project = tmp_path / name
        (project / "src").mkdir(parents=True)
        (project / "src" / "tinyslm_actions.c").write_bytes(source.read_bytes())
        assert f"void {hook}(" in source.read_text()
        assert missing_hooks(project, name) == []
        other = next(n for n in HOOKS if n != name)
        assert missing_hooks(project, other) == ["src/tinyslm_actions.c"]
    assert missing_hooks(tmp_path / "nothing", "text") == []


def test_partials_produce_nothing(tmp_path: Path) -> None:
    for folder in ("common", "fam"):
        (tmp_path / folder).mkdir()
    (tmp_path / "common" / "_part.txt.j2").write_text("from the partial\n")
    (tmp_path / "common" / "a.txt.j2").write_text('{% include "common/_part.txt.j2" %}')
    assert template_outputs("fam", tmp_path) == {"a.txt": "common/a.txt.j2"}
    assert render("common/a.txt.j2", {}, tmp_path) == "from the partial\n"


def test_strict_undefined(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "x.txt.j2").write_text("{{ missing_value }}\n")
    with pytest.raises(Exception, match="missing_value"):
        render("common/x.txt.j2", {}, tmp_path)


# ---------------------------------------------------------------- render_project

LABELS = ("lights_on", 'say "hi"', "café")


def _manifest(model: bytes, **changes: object) -> Manifest:
    m = Manifest(
        tinyslm_version="0.1.0",
        model_sha256=sha256_hex(model),
        model_bytes=len(model),
        features=FeatureSpec(buckets=257, seq_len=9, bigrams=False),
        labels=LABELS,
        threshold=0.55,
        threshold_q=13,
        output_quant=QuantParams(0.00390625, -128),
        arena_bytes=2000,
        ops=("SOFTMAX", "FULLY_CONNECTED", "GATHER", "MEAN"),
        seed=7,
    )
    return dataclasses.replace(m, **changes)  # type: ignore[arg-type]


@pytest.fixture()
def model() -> bytes:
    return bytes(range(256)) * 3 + b"\x00tail"


@pytest.fixture()
def firmware(tmp_path: Path) -> Path:
    folder = tmp_path / "fw"
    for name in ("text/tinyslm_core.c", "text/tinyslm_core.h", "common/tinyslm_tflm.cc",
                 "common/tinyslm_tflm.h", "audio/tinyslm_listen.c"):  # fmt: skip
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"/* {name} */\n")
    (folder / "text" / "notes.txt").write_text("not a source\n")
    return folder


@pytest.mark.parametrize("board_id", ["esp32", "stm32h7"])
def test_every_file_has_the_banner_and_no_absolute_paths(
    board_id: str, model: bytes, firmware: Path
) -> None:
    manifest = _manifest(model)
    plan = render_project(load_board(board_id), manifest, model, firmware=firmware)
    files = plan.as_mapping()
    assert "src/notes.txt" not in files
    assert "src/tinyslm_listen.c" not in files  # another modality's firmware
    for path, data in files.items():
        text = data.decode("utf-8")
        assert str(firmware.parent) not in text and "/work/" not in text, path
        if path == "tinyslm.json":
            continue
        head = "\n".join(text.splitlines()[:5])
        assert "Generated by tinyslm 0.1.0. Do not edit." in head, path
        assert f"model sha256: {manifest.model_sha256}" in head, path
        assert f"board: {board_id}" in head, path
    doc = json.loads(files["tinyslm.json"])
    assert doc["board"] == board_id and doc["model_sha256"] == manifest.model_sha256
    assert doc["generated_by"] == "Generated by tinyslm 0.1.0. Do not edit."
    assert doc["manifest"] == json.loads(json.dumps(manifest.to_dict()))
    assert doc["arena_size"] == plan.arena_size == arena_size_for(2000)
    # the copied sources keep their bytes after the banner
    assert files["src/tinyslm_core.c"].endswith(b"/* text/tinyslm_core.c */\n")
    assert files["src/tinyslm_tflm.cc"].endswith(b"/* common/tinyslm_tflm.cc */\n")


def test_generated_values_come_from_the_manifest(model: bytes, firmware: Path) -> None:
    manifest = _manifest(model)
    plan = render_project(load_board("esp32"), manifest, model, firmware=firmware)
    files = plan.as_mapping()
    settings_h = files["src/tinyslm_settings.h"].decode()
    defines = dict(re.findall(r"#define (TINYSLM_\w+) (\S+)", settings_h))
    assert defines == {
        "TINYSLM_BUCKETS": "257",
        "TINYSLM_SEQ_LEN": "9",
        "TINYSLM_NUM_LABELS": "3",
        "TINYSLM_MAX_LINE": "256",
        "TINYSLM_ARENA_SIZE": str(arena_size_for(2000)),
        "TINYSLM_THRESHOLD_Q": "(13)",
        "TINYSLM_OP_COUNT": "4",
        "TINYSLM_BAUD_RATE": "115200",
    }
    settings_c = files["src/tinyslm_settings.c"].decode()
    assert '"say \\"hi\\""' in settings_c and '"caf\\303\\251"' in settings_c
    assert ".bigrams = 0," in settings_c and ".threshold_milli = 550," in settings_c
    assert '.ops = "FULLY_CONNECTED,GATHER,MEAN,SOFTMAX",' in settings_c
    ops_h = files["src/tinyslm_ops.h"].decode()
    assert re.findall(r"r\.(Add\w+)\(([\w:]*(?:\(\))?)\)", ops_h) == [
        ("AddFullyConnected", "tflite::Register_FULLY_CONNECTED_INT8()"),
        ("AddGather", ""),
        ("AddMean", "tinyslm_Register_MEAN()"),
        ("AddSoftmax", "tflite::Register_SOFTMAX_INT8()"),
    ]
    assert '#include "tinyslm_mean.h"' in ops_h
    data_cc = files["src/tinyslm_model_data.cc"].decode()
    assert "alignas(16) const unsigned char tinyslm_model_data[] = {" in data_cc
    assert _parse_c_bytes(data_cc.split("= {", 1)[1]) == model
    assert f"tinyslm_model_data_len = {len(model)};" in data_cc
    cmake = files["src/CMakeLists.txt"].decode()
    listed = re.findall(r'"([^"]+\.(?:c|cc))"', cmake)
    # ESP-IDF builds what SRCS lists: every source, the user's actions starter included.
    every = [*files, *plan.starter_mapping()]
    in_src = sorted(p[4:] for p in every if p.startswith("src/") and p.endswith((".c", ".cc")))
    assert listed == in_src and "tinyslm_actions.c" in listed


def test_render_rejects_a_model_that_does_not_match(model: bytes, firmware: Path) -> None:
    with pytest.raises(ModelError, match="do not match"):
        render_project(load_board("esp32"), _manifest(model), model + b"x", firmware=firmware)


def test_render_rejects_unknown_ops(model: bytes, firmware: Path) -> None:
    manifest = _manifest(model, ops=("FULLY_CONNECTED", "MY_CUSTOM_OP"))
    with pytest.raises(ModelError, match="MY_CUSTOM_OP"):
        render_project(load_board("esp32"), manifest, model, firmware=firmware)


def test_render_needs_the_firmware_sources(model: bytes, firmware: Path) -> None:
    (firmware / "common" / "tinyslm_tflm.cc").unlink()
    with pytest.raises(ModelError, match=r"missing from fw/: tinyslm_tflm.cc"):
        render_project(load_board("esp32"), _manifest(model), model, firmware=firmware)


def test_render_refuses_a_firmware_name_clash(model: bytes, firmware: Path) -> None:
    # src/ is flat: a text file may not shadow a common one
    (firmware / "text" / "tinyslm_tflm.h").write_text("/* clash */\n")
    with pytest.raises(ModelError, match=r"would both be src/tinyslm_tflm\.h"):
        render_project(load_board("esp32"), _manifest(model), model, firmware=firmware)


def test_render_checks_the_budget(model: bytes, firmware: Path) -> None:
    manifest = _manifest(model, arena_bytes=400 * 1024)
    with pytest.raises(BudgetError, match="does not fit board stm32h7: arena"):
        render_project(load_board("stm32h7"), manifest, model, firmware=firmware)


def test_render_is_deterministic(model: bytes, firmware: Path) -> None:
    board = load_board("stm32h7")
    a = render_project(board, _manifest(model), model, firmware=firmware)
    b = render_project(board, _manifest(model), model, firmware=firmware)
    assert a.as_mapping() == b.as_mapping()
    assert list(a.paths) == sorted(a.paths)


# ---------------------------------------------------------------- host compile


def _host_cc() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _host_cxx() -> str | None:
    for name in (os.environ.get("CXX", ""), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


DRIVER = r"""
#include <stdio.h>
#include "tinyslm_settings.h"
#include "tinyslm_model_data.h"

int main(void) {
  const tinyslm_model_info_t *m = &tinyslm_model_info;
  unsigned long sum = 0;
  for (unsigned int i = 0; i < tinyslm_model_data_len; ++i) sum = sum * 31u + tinyslm_model_data[i];
  printf("{\"buckets\":%u,\"seq_len\":%u,\"uni\":%u,\"bi\":%u,\"tri\":%u,",
         (unsigned)m->features.buckets, (unsigned)m->features.seq_len,
         (unsigned)m->features.unigrams, (unsigned)m->features.bigrams,
         (unsigned)m->features.char_trigrams);
  printf("\"num_labels\":%u,\"scale\":%.9g,\"zp\":%d,\"tq\":%d,\"tmilli\":%u,",
         (unsigned)m->num_labels, (double)m->score_scale, (int)m->score_zero_point,
         (int)m->threshold_q, (unsigned)m->threshold_milli);
  printf("\"sha\":\"%s\",\"model_bytes\":%u,\"len\":%u,\"arena\":%u,\"arena_size\":%u,",
         m->model_sha256, (unsigned)m->model_bytes, tinyslm_model_data_len,
         (unsigned)m->arena_bytes, (unsigned)tinyslm_arena_size);
  printf("\"aligned\":%d,\"sum\":%lu,\"ops\":\"%s\",\"board\":\"%s\",\"version\":\"%s\",",
         (int)(((unsigned long)(const void *)tinyslm_model_data) % 16u == 0), sum, m->ops,
         m->board, m->version);
  printf("\"labels_hex\":[");
  for (unsigned int i = 0; i < m->num_labels; ++i) {
    printf(i ? ",\"" : "\"");
    for (const unsigned char *p = (const unsigned char *)m->labels[i]; *p; ++p) printf("%02x", *p);
    printf("\"");
  }
  printf("]}\n");
  return 0;
}
"""


def test_generated_settings_and_model_compile_and_match(tmp_path: Path, model: bytes) -> None:
    cc, cxx = _host_cc(), _host_cxx()
    if cc is None or cxx is None:
        missing("no host C/C++ compiler (cc/c++ or $CC/$CXX) on PATH")
    manifest = _manifest(model)
    plan = render_project(load_board("esp32"), manifest, model, firmware=firmware_dir())
    src = tmp_path / "src"
    src.mkdir()
    files = plan.as_mapping()
    for name in ("tinyslm_settings.c", "tinyslm_settings.h", "tinyslm_model_data.cc",
                 "tinyslm_model_data.h", "tinyslm_core.h", "tinyslm_gate.h", "tinyslm_json.h",
                 "tinyslm_tokenizer.h"):  # fmt: skip
        (src / name).write_bytes(files[f"src/{name}"])
    (src / "driver.c").write_text(DRIVER)
    warn = ["-Wall", "-Wextra", "-Werror"]
    objs = []
    for name, tool, std in (
        ("tinyslm_settings.c", cc, "-std=c99"),
        ("driver.c", cc, "-std=c99"),
        ("tinyslm_model_data.cc", cxx, "-std=c++17"),
    ):
        obj = tmp_path / (name + ".o")
        subprocess.run([tool, std, *warn, "-I", str(src), "-c", str(src / name), "-o", str(obj)],
                       check=True, capture_output=True)  # fmt: skip
        objs.append(str(obj))
    exe = tmp_path / "driver"
    subprocess.run([cxx, *objs, "-o", str(exe)], check=True, capture_output=True)
    out = json.loads(subprocess.run([str(exe)], check=True, capture_output=True).stdout)
    expected_sum = 0
    for b in model:
        expected_sum = (expected_sum * 31 + b) % (1 << (8 * struct.calcsize("L")))
    assert out == {
        "buckets": 257,
        "seq_len": 9,
        "uni": 1,
        "bi": 0,
        "tri": 1,
        "num_labels": 3,
        "scale": 0.00390625,
        "zp": -128,
        "tq": 13,
        "tmilli": 550,
        "sha": manifest.model_sha256,
        "model_bytes": len(model),
        "len": len(model),
        "arena": plan.arena_size,
        "arena_size": plan.arena_size,
        "aligned": 1,
        "sum": expected_sum,
        "ops": "FULLY_CONNECTED,GATHER,MEAN,SOFTMAX",
        "board": "esp32",
        "version": "0.1.0",
        "labels_hex": [label.encode().hex() for label in LABELS],
    }


def test_stm32_glue_is_for_the_h7_only(model: bytes, firmware: Path) -> None:
    board = dataclasses.replace(load_board("stm32h7"), soc="STM32F446RE")
    with pytest.raises(BoardError, match="supports STM32H7 parts only, not 'STM32F446RE'"):
        render_project(board, _manifest(model), model, firmware=firmware)


def test_extra_scripts_must_be_generated(model: bytes, firmware: Path) -> None:
    board = load_board("stm32h7")
    options = tuple(
        (k, ("other.py",) if k == "extra_scripts" else v) for k, v in board.platformio.options
    )
    board = dataclasses.replace(
        board, platformio=dataclasses.replace(board.platformio, options=options)
    )
    with pytest.raises(BoardError, match=r"extra_scripts 'other\.py' is not generated"):
        render_project(board, _manifest(model), model, firmware=firmware)


REPORT_DRIVER = r"""
#include <stdio.h>

#include "tinyslm_core.h"

namespace {
void serial_write(const char *data, size_t len, void *) { fwrite(data, 1, len, stdout); }
}  // namespace

int main(int argc, char **argv) {
  tinyslm_write_error(serial_write, nullptr, "tflm_init_failed", argc > 1 ? argv[1] : nullptr);
  return 0;
}
"""


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("arena too small", "arena too small"),
        ('say "x" \\ y', 'say "x" \\ y'),
        ("tab\there", "tab\there"),
        ("café", "café"),
        ("x" * 300, "x" * 300),  # longer than the core's output chunk
        (None, "unknown"),
    ],
)
def test_board_glue_error_line_is_valid_json(
    tmp_path: Path, reason: str | None, expected: str
) -> None:
    """The board glue's error line, written from C++ as main.cc does, through the common
    JSON writer (firmware/common/tinyslm_json.c)."""
    cc, cxx = _host_cc(), _host_cxx()
    if cc is None or cxx is None:
        missing("no host C and C++ compilers (cc/c++ or $CC/$CXX) on PATH")
    fw = firmware_files("text")
    includes = sorted({f"-I{p.parent}" for p in fw.values()})
    (tmp_path / "t.cc").write_text(REPORT_DRIVER)
    json_o, exe = tmp_path / "json.o", tmp_path / "t"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(fw["tinyslm_json.c"]),
                    "-o", str(json_o)], check=True, capture_output=True)  # fmt: skip
    subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", *includes,
                    str(tmp_path / "t.cc"), str(json_o), "-o", str(exe)],
                   check=True, capture_output=True)  # fmt: skip
    args = [str(exe)] if reason is None else [str(exe), reason]
    out = subprocess.run(args, check=True, capture_output=True).stdout
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    assert json.loads(out) == {"error": "tflm_init_failed", "reason": expected}


def test_a_demo_trained_models_readme_says_how_to_regenerate_it(
    model: bytes, firmware: Path
) -> None:
    """Round 36: 'generate' without --model trains the demo in a temporary folder, so the
    README's regenerate command named a MODEL_DIR that never existed."""
    board = load_board("stm32h7")
    for dataset, said in (("demo", True), ("commands.csv", False)):
        manifest = _manifest(model, metrics={"dataset": dataset})
        readme = render_project(board, manifest, model, firmware=firmware).as_mapping()
        text = readme["README.md"].decode()
        assert ("leave --model MODEL_DIR out" in text) is said, dataset
        assert "tinyslm generate --model MODEL_DIR --board stm32h7" in text
