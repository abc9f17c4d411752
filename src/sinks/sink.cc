#include "sinks/sink.h"

namespace annals::sinks {

DeliveryOutcome OutcomeForHttpStatus(int status) {
  if (status >= 200 && status < 300) return DeliveryOutcome::kDelivered;
  if (status == 408 || status == 429 || status >= 500) return DeliveryOutcome::kRetry;
  if (status == 400 || status == 413 || status == 422) return DeliveryOutcome::kRejected;
  return DeliveryOutcome::kFailed;
}

}  // namespace annals::sinks
