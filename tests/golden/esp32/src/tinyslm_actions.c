// Written by tinyslm 0.1.0 for board esp32 as a start; this file is yours.
// What the board does with an answer. generate wrote this file because it was
// missing, and never replaces it: --force keeps it, --prune leaves it. The
// firmware calls these two functions (src/tinyslm_actions.h), tinyslm_on_answer
// after the JSON line is out. The example's lines start with "//> ": delete that
// to use them.
#include <string.h>

#include "tinyslm_actions.h"
//> #include "driver/gpio.h"    // for gpio_set_level (esp_driver_gpio is in REQUIRES)

void tinyslm_actions_init(void) {
  // Set up what the actions drive, for example an output pin:
  // GPIO2, free on an ESP32-DevKitC (an LED with a resistor to GND).
  //> gpio_reset_pin(GPIO_NUM_2);
  //> gpio_set_direction(GPIO_NUM_2, GPIO_MODE_OUTPUT);
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
    //> gpio_set_level(GPIO_NUM_2, 1);
  }
}
