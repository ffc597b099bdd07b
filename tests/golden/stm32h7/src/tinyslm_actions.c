// Written by tinyslm 0.1.0 for board stm32h7 as a start; this file is yours.
// What the board does with an answer. generate wrote this file because it was
// missing, and never replaces it: --force keeps it, --prune leaves it. The
// firmware calls these two functions (src/tinyslm_actions.h), tinyslm_on_answer
// after the JSON line is out. The example's lines start with "//> ": delete that
// to use them.
#include <string.h>

#include "tinyslm_actions.h"
//> #include "stm32h7xx_hal.h"  // for HAL_GPIO_WritePin

void tinyslm_actions_init(void) {
  // Set up what the actions drive, for example an output pin:
  // LD3 (PB14, red) on a Nucleo-H743ZI; the firmware toggles LD1 per inference.
  //> __HAL_RCC_GPIOB_CLK_ENABLE();
  //> GPIO_InitTypeDef pin = {0};
  //> pin.Pin = GPIO_PIN_14;
  //> pin.Mode = GPIO_MODE_OUTPUT_PP;
  //> HAL_GPIO_Init(GPIOB, &pin);
}

void tinyslm_on_answer(const tinyslm_answer_t *answer, void *ctx) {
  (void)ctx;
  if (!answer->local) {
    return;  // escalated: if the host is sure, its ":do <intent>" comes back here
  }
  // Intents of this model:
  //   "alarm_set"
  //   "door_lock"
  //   "door_unlock"
  //   "lights_dim"
  //   "lights_off"
  //   "lights_on"
  //   "media_next"
  //   "media_pause"
  //   "media_play"
  //   "reminder_set"
  //   "shopping_add"
  //   "thermostat_query"
  //   "thermostat_set"
  //   "time_query"
  //   "timer_cancel"
  //   "timer_set"
  //   "vacuum_start"
  //   "volume_down"
  //   "volume_up"
  //   "weather_query"
  if (strcmp(answer->intent, "alarm_set") == 0) {
    //> HAL_GPIO_WritePin(GPIOB, GPIO_PIN_14, GPIO_PIN_SET);
  }
}
