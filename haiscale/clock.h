// File: haiscale/clock.h
//
// NowSeconds(): monotonic seconds, the one clock for step timings, the
// gradient-communication timeline and pipeline idle time.
#ifndef HAISCALE_CLOCK_H_
#define HAISCALE_CLOCK_H_

#include <chrono>

namespace hs {

inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace hs

#endif  // HAISCALE_CLOCK_H_
