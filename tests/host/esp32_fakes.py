"""Stand-in ESP-IDF 5.3.1 headers for compiling a generated ESP32 ``src/main.cc`` on the host.

The host tests that run the ESP32 firmware's loops (``test_esp32_rx_events.py``: the text
project's UART receive path; ``test_r43_esp32_text_idle.py``: the text project's loop;
``test_esp32_kws_loop.py``: the keyword project's microphone loop) compile the generated
``main.cc`` whole, unchanged, against these headers and link it with a C++ harness of
their own (built from ``esp32_sim.py``'s shared pieces) that gives the functions
behaviour. The headers declare only what the templates use, with 5.3.1's names, field
order (the templates use designated initializers, which C++ requires in declaration
order) and enum order; the real headers are checked against the same sources by
``test_esp32_idf.py`` and ``test_kws_glue_esp32.py``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from shared_paths import missing

from tinyslm.errors import ToolchainError
from tinyslm.pipeline import run_generate
from tinyslm.toolchain import ccompile

FAKE_HEADERS = {
    "esp_err.h": r"""
#pragma once
typedef int esp_err_t;
#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_TIMEOUT 0x107
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_NOT_FOUND 0x105
const char *esp_err_to_name(esp_err_t code);
""",
    "freertos/FreeRTOS.h": r"""
#pragma once
#include <stdint.h>
typedef uint32_t TickType_t;
typedef int BaseType_t;
typedef unsigned UBaseType_t;
#define pdTRUE 1
#define pdFALSE 0
#define configTICK_RATE_HZ 100 /* CONFIG_FREERTOS_HZ's default */
#define pdMS_TO_TICKS(ms) ((TickType_t)(((TickType_t)(ms) * configTICK_RATE_HZ) / 1000))
""",
    "freertos/queue.h": r"""
#pragma once
#include "freertos/FreeRTOS.h"
typedef struct FakeQueue *QueueHandle_t;
BaseType_t xQueueReceive(QueueHandle_t q, void *item, TickType_t ticks);
UBaseType_t uxQueueSpacesAvailable(QueueHandle_t q);
UBaseType_t uxQueueMessagesWaiting(QueueHandle_t q);
""",
    "freertos/task.h": r"""
#pragma once
#include "freertos/FreeRTOS.h"
void vTaskDelay(TickType_t ticks);
""",
    # Section attributes: the host has no IRAM (test_kws_glue_esp32 checks the real ones).
    "esp_attr.h": r"""
#pragma once
#define IRAM_ATTR
#define DRAM_ATTR
""",
    # The CPU clock the glue reads for :info: the sdkconfig's 240 MHz, defined here (the
    # simulations link no clock tree of their own).
    "esp_clk_tree.h": r"""
#pragma once
#include <stdint.h>
#include "esp_err.h"
typedef enum { SOC_MOD_CLK_CPU = 1 } soc_module_clk_t;
typedef enum {
  ESP_CLK_TREE_SRC_FREQ_PRECISION_CACHED,
  ESP_CLK_TREE_SRC_FREQ_PRECISION_APPROX,
  ESP_CLK_TREE_SRC_FREQ_PRECISION_EXACT,
  ESP_CLK_TREE_SRC_FREQ_PRECISION_INVALID,
} esp_clk_tree_src_freq_precision_t;
static inline esp_err_t esp_clk_tree_src_get_freq_hz(soc_module_clk_t clk_src,
                                                     esp_clk_tree_src_freq_precision_t precision,
                                                     uint32_t *freq_value) {
  (void)precision;
  if (clk_src != SOC_MOD_CLK_CPU || freq_value == 0) return ESP_FAIL;
  *freq_value = 240000000u;
  return ESP_OK;
}
""",
    "esp_timer.h": r"""
#pragma once
#include <stdint.h>
int64_t esp_timer_get_time(void);
""",
    "driver/uart.h": r"""
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
typedef int uart_port_t;
#define UART_NUM_0 0
#define UART_NUM_1 1
#define UART_NUM_2 2
typedef enum { UART_DATA_5_BITS, UART_DATA_6_BITS, UART_DATA_7_BITS,
               UART_DATA_8_BITS } uart_word_length_t;
typedef enum { UART_PARITY_DISABLE = 0, UART_PARITY_EVEN = 2, UART_PARITY_ODD = 3 } uart_parity_t;
typedef enum { UART_STOP_BITS_1 = 1, UART_STOP_BITS_1_5 = 2,
               UART_STOP_BITS_2 = 3 } uart_stop_bits_t;
typedef enum { UART_HW_FLOWCTRL_DISABLE = 0, UART_HW_FLOWCTRL_RTS, UART_HW_FLOWCTRL_CTS,
               UART_HW_FLOWCTRL_CTS_RTS } uart_hw_flowcontrol_t;
typedef enum { UART_SCLK_APB = 4, UART_SCLK_DEFAULT = 4 } uart_sclk_t;
typedef struct {
  int baud_rate;
  uart_word_length_t data_bits;
  uart_parity_t parity;
  uart_stop_bits_t stop_bits;
  uart_hw_flowcontrol_t flow_ctrl;
  uint8_t rx_flow_ctrl_thresh;
  uart_sclk_t source_clk;
} uart_config_t;
typedef enum {
  UART_DATA, UART_BREAK, UART_BUFFER_FULL, UART_FIFO_OVF, UART_FRAME_ERR, UART_PARITY_ERR,
  UART_DATA_BREAK, UART_PATTERN_DET, UART_EVENT_MAX,
} uart_event_type_t;
typedef struct {
  uart_event_type_t type;
  size_t size;
  bool timeout_flag;
} uart_event_t;
esp_err_t uart_driver_install(uart_port_t uart_num, int rx_buffer_size, int tx_buffer_size,
                              int event_queue_size, QueueHandle_t *uart_queue,
                              int intr_alloc_flags);
esp_err_t uart_param_config(uart_port_t uart_num, const uart_config_t *uart_config);
int uart_read_bytes(uart_port_t uart_num, void *buf, uint32_t length, TickType_t ticks_to_wait);
int uart_write_bytes(uart_port_t uart_num, const void *src, size_t size);
esp_err_t uart_flush_input(uart_port_t uart_num);
esp_err_t uart_get_buffered_data_len(uart_port_t uart_num, size_t *size);
esp_err_t uart_enable_intr_mask(uart_port_t uart_num, uint32_t enable_mask);
#define UART_HW_FIFO_LEN(uart_num) 128 /* SOC_UART_FIFO_LEN on the esp32 */
""",
    # The esp32's UART interrupt enable bits (soc/esp32/include/soc/uart_reg.h).
    "soc/uart_reg.h": r"""
#pragma once
#define UART_FRM_ERR_INT_ENA (1u << 3)
""",
    "driver/gpio.h": r"""
#pragma once
#include <stdint.h>
#include "esp_err.h"
typedef enum {
  GPIO_NUM_NC = -1,
  GPIO_NUM_0, GPIO_NUM_1, GPIO_NUM_2, GPIO_NUM_3, GPIO_NUM_4, GPIO_NUM_5, GPIO_NUM_6,
  GPIO_NUM_7, GPIO_NUM_8, GPIO_NUM_9, GPIO_NUM_10, GPIO_NUM_11, GPIO_NUM_12, GPIO_NUM_13,
  GPIO_NUM_14, GPIO_NUM_15, GPIO_NUM_16, GPIO_NUM_17, GPIO_NUM_18, GPIO_NUM_19, GPIO_NUM_20,
  GPIO_NUM_21, GPIO_NUM_22, GPIO_NUM_23, GPIO_NUM_24, GPIO_NUM_25, GPIO_NUM_26, GPIO_NUM_27,
  GPIO_NUM_28, GPIO_NUM_29, GPIO_NUM_30, GPIO_NUM_31, GPIO_NUM_32, GPIO_NUM_33, GPIO_NUM_34,
  GPIO_NUM_35, GPIO_NUM_36, GPIO_NUM_37, GPIO_NUM_38, GPIO_NUM_39, GPIO_NUM_MAX,
} gpio_num_t;
typedef enum { GPIO_MODE_DISABLE = 0, GPIO_MODE_INPUT = 1, GPIO_MODE_OUTPUT = 2 } gpio_mode_t;
#ifdef __cplusplus
extern "C" {
#endif
esp_err_t gpio_reset_pin(gpio_num_t gpio_num);
esp_err_t gpio_set_direction(gpio_num_t gpio_num, gpio_mode_t mode);
esp_err_t gpio_set_level(gpio_num_t gpio_num, uint32_t level);
#ifdef __cplusplus
}
#endif
""",
    # driver/i2s_std.h with what it includes (i2s_common.h, i2s_types.h), as on the esp32
    # (SOC_I2S_HW_VERSION_1: the slot config's msb_right).
    "driver/i2s_std.h": r"""
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "driver/gpio.h"
#include "esp_err.h"
typedef enum { I2S_NUM_0 = 0, I2S_NUM_1 = 1, I2S_NUM_AUTO } i2s_port_t;
typedef enum { I2S_ROLE_MASTER, I2S_ROLE_SLAVE } i2s_role_t;
typedef enum { I2S_DATA_BIT_WIDTH_8BIT = 8, I2S_DATA_BIT_WIDTH_16BIT = 16,
               I2S_DATA_BIT_WIDTH_24BIT = 24, I2S_DATA_BIT_WIDTH_32BIT = 32 } i2s_data_bit_width_t;
typedef enum { I2S_SLOT_BIT_WIDTH_AUTO = 0, I2S_SLOT_BIT_WIDTH_32BIT = 32 } i2s_slot_bit_width_t;
typedef enum { I2S_SLOT_MODE_MONO = 1, I2S_SLOT_MODE_STEREO = 2 } i2s_slot_mode_t;
typedef enum { I2S_STD_SLOT_LEFT = 1, I2S_STD_SLOT_RIGHT = 2,
               I2S_STD_SLOT_BOTH = 3 } i2s_std_slot_mask_t;
typedef enum { I2S_CLK_SRC_DEFAULT = 4 } i2s_clock_src_t;
typedef enum { I2S_MCLK_MULTIPLE_128 = 128, I2S_MCLK_MULTIPLE_256 = 256 } i2s_mclk_multiple_t;
#define I2S_GPIO_UNUSED GPIO_NUM_NC
typedef struct i2s_channel_obj_t *i2s_chan_handle_t;
typedef struct {
  void *data;
  void *dma_buf;
  size_t size;
} i2s_event_data_t;
typedef bool (*i2s_isr_callback_t)(i2s_chan_handle_t handle, i2s_event_data_t *event,
                                   void *user_ctx);
typedef struct {
  i2s_isr_callback_t on_recv;
  i2s_isr_callback_t on_recv_q_ovf;
  i2s_isr_callback_t on_sent;
  i2s_isr_callback_t on_send_q_ovf;
} i2s_event_callbacks_t;
typedef struct {
  i2s_port_t id;
  i2s_role_t role;
  uint32_t dma_desc_num;
  uint32_t dma_frame_num;
  bool auto_clear;
  bool auto_clear_before_cb;
  int intr_priority;
} i2s_chan_config_t;
#define I2S_CHANNEL_DEFAULT_CONFIG(i2s_num, i2s_role) { \
    .id = i2s_num, .role = i2s_role, .dma_desc_num = 6, .dma_frame_num = 240, \
    .auto_clear = false, .auto_clear_before_cb = false, .intr_priority = 0, }
typedef struct {
  i2s_data_bit_width_t data_bit_width;
  i2s_slot_bit_width_t slot_bit_width;
  i2s_slot_mode_t slot_mode;
  i2s_std_slot_mask_t slot_mask;
  uint32_t ws_width;
  bool ws_pol;
  bool bit_shift;
  bool msb_right;
} i2s_std_slot_config_t;
#define I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(bits_per_sample, mono_or_stereo) { \
    .data_bit_width = bits_per_sample, .slot_bit_width = I2S_SLOT_BIT_WIDTH_AUTO, \
    .slot_mode = mono_or_stereo, \
    .slot_mask = (mono_or_stereo == I2S_SLOT_MODE_MONO) ? I2S_STD_SLOT_LEFT : I2S_STD_SLOT_BOTH, \
    .ws_width = bits_per_sample, .ws_pol = false, .bit_shift = true, \
    .msb_right = (bits_per_sample <= I2S_DATA_BIT_WIDTH_16BIT) ? true : false, }
typedef struct {
  uint32_t sample_rate_hz;
  i2s_clock_src_t clk_src;
  i2s_mclk_multiple_t mclk_multiple;
} i2s_std_clk_config_t;
#define I2S_STD_CLK_DEFAULT_CONFIG(rate) { \
    .sample_rate_hz = rate, .clk_src = I2S_CLK_SRC_DEFAULT, \
    .mclk_multiple = I2S_MCLK_MULTIPLE_256, }
typedef struct {
  gpio_num_t mclk;
  gpio_num_t bclk;
  gpio_num_t ws;
  gpio_num_t dout;
  gpio_num_t din;
  struct {
    uint32_t mclk_inv : 1;
    uint32_t bclk_inv : 1;
    uint32_t ws_inv : 1;
  } invert_flags;
} i2s_std_gpio_config_t;
typedef struct {
  i2s_std_clk_config_t clk_cfg;
  i2s_std_slot_config_t slot_cfg;
  i2s_std_gpio_config_t gpio_cfg;
} i2s_std_config_t;
esp_err_t i2s_new_channel(const i2s_chan_config_t *chan_cfg, i2s_chan_handle_t *ret_tx_handle,
                          i2s_chan_handle_t *ret_rx_handle);
esp_err_t i2s_channel_init_std_mode(i2s_chan_handle_t handle, const i2s_std_config_t *std_cfg);
esp_err_t i2s_channel_register_event_callback(i2s_chan_handle_t handle,
                                              const i2s_event_callbacks_t *callbacks,
                                              void *user_data);
esp_err_t i2s_channel_enable(i2s_chan_handle_t handle);
esp_err_t i2s_channel_read(i2s_chan_handle_t handle, void *dest, size_t size, size_t *bytes_read,
                           uint32_t timeout_ms);
""",
}


def require_host_compilers() -> None:
    """Skip (with the reason) when the host has no C or C++ compiler."""
    for language in ("c", "c++"):
        try:
            ccompile.compiler_command(language)
        except ToolchainError as exc:
            missing(f"no host {language} compiler: {exc}")


def write_fake_headers(root: Path) -> Path:
    """Write the stand-in headers under ``root`` (created); return it, an include folder."""
    for name, text in FAKE_HEADERS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def build_firmware(
    root: Path, src: Path, sources: list[str], harness: str, name: str, needles: tuple[str, ...]
) -> Path:
    """The generated ``src/main.cc``, whole, with ``sources`` of ``src`` and the harness,
    against the stand-in headers. The path under test must be in main.cc (``needles``): a
    template that stops using it fails here rather than passing for a different reason."""
    main = (src / "main.cc").read_text(encoding="utf-8")
    for needle in needles:
        assert needle in main, f"the esp32 template's main.cc no longer has {needle}"
    fakes = write_fake_headers(root / "fakes")
    (root / "harness.cc").write_text(harness, encoding="utf-8")
    return ccompile.compile_executable(
        [*(src / s for s in sources), src / "main.cc", root / "harness.cc"],
        root / name,
        include_dirs=[fakes, src],
        cflags=["-std=c99", "-O1"],
        cxxflags=["-std=c++17", "-O1", "-Wall", "-Werror"],
    )


def build_generated(
    root: Path,
    model_dir: Path,
    sources: Sequence[str],
    harness: str,
    name: str,
    needles: tuple[str, ...],
    edit: Callable[[Path], None] | None = None,
) -> Path:
    """``generate``'s ESP32 project for ``model_dir`` (in ``root / "p"``), ``edit`` done to
    its ``src`` folder as a user would, built by ``build_firmware``."""
    project = root / "p"
    run_generate("esp32", project, model_dir=model_dir)
    src = project / "src"
    if edit is not None:
        edit(src)
    return build_firmware(root, src, list(sources), harness, name, needles)


def run_firmware(args: list[str]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Run a harness: its output lines by their one-letter kind (``W`` written, ...) and
    its closing ``S`` statistics line; it must end cleanly (``code 0``)."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    lines: dict[str, list[str]] = {}
    stats: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "S":
            words = rest.split()
            stats = {k: int(v) for k, v in zip(words[::2], words[1::2], strict=True)}
        else:
            lines.setdefault(kind, []).append(rest)
    assert proc.returncode == 0 and stats.get("code") == 0, proc.stdout[-3000:] + proc.stderr
    return lines, stats
