// Lambda-style request ids: random UUID v4 strings. Thread-safe.
#ifndef WISP_CONTROLLER_BASE_REQUEST_ID_H_
#define WISP_CONTROLLER_BASE_REQUEST_ID_H_

#include <string>

namespace wisp {

std::string NewRequestId();

}  // namespace wisp

#endif  // WISP_CONTROLLER_BASE_REQUEST_ID_H_
