/* now: the agent's two clocks, read one way everywhere. */
#ifndef NOW_H
#define NOW_H

#include <stdint.h>

/* CLOCK_MONOTONIC: for deadlines, schedules and ages. */
uint64_t now_mono_ns(void);
uint64_t now_mono_ms(void);

/* CLOCK_REALTIME as unix time in seconds, to the microsecond: for what is
 * shown or exported (probe start times, the status page). */
double now_unix(void);

#endif
