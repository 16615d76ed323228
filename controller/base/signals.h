// How Wisp's binaries stop: SIGTERM and SIGINT are taken synchronously by main's thread
// (every other thread inherits the blocked mask), and SIGPIPE is ignored so that a peer that
// goes away is an error value, not a crash. Call BlockTerminationSignals() first thing in main,
// before any thread starts.
#ifndef WISP_CONTROLLER_BASE_SIGNALS_H_
#define WISP_CONTROLLER_BASE_SIGNALS_H_

namespace wisp {

void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace wisp

#endif  // WISP_CONTROLLER_BASE_SIGNALS_H_
