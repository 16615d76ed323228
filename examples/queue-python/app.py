"""An order processor for a queue trigger, written exactly as for AWS Lambda's SQS trigger.

Each record's body is a JSON order {"orderId": ..., "amount": ...}. An order that cannot be
processed is reported in batchItemFailures (ReportBatchItemFailures), so only it comes back:
after the trigger's maxReceiveCount deliveries it lands in the dead-letter stream <stream>-dlq.

  redis-cli XADD orders '*' body '{"orderId": "A-1", "amount": 42}' customer ada
"""
import json


def process(record):
    order = json.loads(record["body"])
    if not isinstance(order, dict) or "orderId" not in order:
        raise ValueError("not an order: " + record["body"])
    amount = float(order.get("amount", 0))
    if amount <= 0:
        raise ValueError(f"order {order['orderId']}: amount must be positive")
    customer = record["messageAttributes"].get("customer", {}).get("stringValue", "unknown")
    print(f"processed order {order['orderId']} amount={amount:.2f} customer={customer} "
          f"messageId={record['messageId']} receiveCount="
          f"{record['attributes']['ApproximateReceiveCount']}")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        if record.get("eventSource") != "aws:sqs":
            continue
        try:
            process(record)
        except Exception as e:  # report this message only; the others succeeded
            print(f"failed message {record['messageId']}: {e}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
