#include "gateway/metrics.h"

#include "absl/strings/str_cat.h"

namespace wisp::gateway {
namespace {

prometheus::Histogram::BucketBoundaries Buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
          1, 2.5, 5, 10, 30, 60, 300, 900};
}

}  // namespace

GatewayMetrics::GatewayMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  using namespace prometheus;
  requests_ = &BuildCounter().Name("wisp_gateway_requests_total")
                   .Help("HTTP requests answered, by function, route and status").Register(*registry_);
  duration_ = &BuildHistogram().Name("wisp_gateway_request_duration_seconds")
                   .Help("Whole request time").Register(*registry_);
  overhead_ = &BuildHistogram().Name("wisp_gateway_overhead_seconds")
                   .Help("Request time minus the function's own run time").Register(*registry_);
  function_duration_ = &BuildHistogram().Name("wisp_gateway_function_duration_seconds")
                            .Help("The function's run time as the worker reported it").Register(*registry_);
  in_flight_ = &BuildGauge().Name("wisp_gateway_in_flight")
                    .Help("Invocations running on workers").Register(*registry_);
  queued_ = &BuildGauge().Name("wisp_gateway_queued")
                 .Help("Requests waiting for capacity").Register(*registry_);
  throttles_ = &BuildCounter().Name("wisp_gateway_throttles_total")
                    .Help("Requests refused with 429, by reason").Register(*registry_);
  ejections_ = &BuildCounter().Name("wisp_gateway_ejections_total")
                    .Help("Worker endpoints ejected after failures").Register(*registry_);
  operator_connected_ = &BuildGauge().Name("wisp_gateway_operator_connected")
                             .Help("1 while the operator's routing stream is up")
                             .Register(*registry_).Add({});
  operator_stream_ends_ = &BuildCounter().Name("wisp_gateway_operator_stream_ends_total")
                               .Help("Operator routing streams that ended (any cause)")
                               .Register(*registry_).Add({});
}

void GatewayMetrics::Request(const std::string& function, const std::string& route, int status,
                             double seconds, double function_seconds) {
  requests_->Add({{"function", function}, {"route", route}, {"status", absl::StrCat(status)}})
      .Increment();
  if (function.empty()) return;
  duration_->Add({{"function", function}}, Buckets()).Observe(seconds);
  if (function_seconds > 0) {
    function_duration_->Add({{"function", function}}, Buckets()).Observe(function_seconds);
    overhead_->Add({{"function", function}}, Buckets()).Observe(std::max(0.0, seconds - function_seconds));
  }
}

void GatewayMetrics::Load(const std::string& function, int in_flight, int queued) {
  in_flight_->Add({{"function", function}}).Set(in_flight);
  queued_->Add({{"function", function}}).Set(queued);
}

void GatewayMetrics::Throttle(const std::string& function, const std::string& reason) {
  throttles_->Add({{"function", function}, {"reason", reason}}).Increment();
}

void GatewayMetrics::OperatorStream(bool connected) {
  operator_connected_->Set(connected ? 1 : 0);
  if (!connected) operator_stream_ends_->Increment();
}

void GatewayMetrics::Ejection(const std::string& function) {
  ejections_->Add({{"function", function}}).Increment();
}

}  // namespace wisp::gateway
