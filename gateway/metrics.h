// The gateway's Prometheus metrics (prefix wisp_gateway_). Thread-safe.
//   wisp_gateway_requests_total{function,route,status}       every HTTP request answered
//   wisp_gateway_request_duration_seconds{function}          whole request, histogram
//   wisp_gateway_overhead_seconds{function}                  request minus the function's run
//   wisp_gateway_function_duration_seconds{function}         the worker-reported run time
//   wisp_gateway_in_flight{function}                         invocations running on workers
//   wisp_gateway_queued{function}                            requests waiting for capacity
//   wisp_gateway_throttles_total{function,reason}            429s (reserved, queue_full)
//   wisp_gateway_ejections_total{function}                   endpoints ejected after failures
//   wisp_gateway_operator_connected                          1 while the operator's stream is up
//   wisp_gateway_operator_stream_ends_total                  operator streams that ended
// The in-flight and queued gauges are what the autoscaler consumes.
#ifndef WISP_GATEWAY_METRICS_H_
#define WISP_GATEWAY_METRICS_H_

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace wisp::gateway {

class GatewayMetrics {
 public:
  explicit GatewayMetrics(std::shared_ptr<prometheus::Registry> registry);
  void Request(const std::string& function, const std::string& route, int status,
               double seconds, double function_seconds);
  void Load(const std::string& function, int in_flight, int queued);
  void Throttle(const std::string& function, const std::string& reason);
  void Ejection(const std::string& function);
  // The operator's routing stream delivered a snapshot (true) or ended (false).
  void OperatorStream(bool connected);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Histogram>* overhead_;
  prometheus::Family<prometheus::Histogram>* function_duration_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Gauge>* queued_;
  prometheus::Family<prometheus::Counter>* throttles_;
  prometheus::Family<prometheus::Counter>* ejections_;
  prometheus::Gauge* operator_connected_;
  prometheus::Counter* operator_stream_ends_;
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_METRICS_H_
