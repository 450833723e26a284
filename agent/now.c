/* now: the agent's two clocks, read one way everywhere. */
#include "now.h"

#include <time.h>

uint64_t now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_ms(void)
{
    return now_mono_ns() / 1000000u;
}

double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Whole microseconds: the double nearest that decimal, which the
     * exposition writes without a search for the shortest form. */
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return (double)us / 1e6;
}
